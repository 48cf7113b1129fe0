// The console's only door to the API: every URL is relative, so the console works behind a path prefix.

const TOKEN_KEY = 'transcoder.token';

export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage off: the token lives until the page is left */ }
}

/** An answer of the API that is not a 2xx, with the API's own sentence. */
export class ApiError extends Error {
  constructor(status, code, message, requestID) {
    super(message || `The API answered ${status}.`);
    this.status = status;
    this.code = code || '';
    this.requestID = requestID || '';
  }
}

/** Called with every 401, so that the app can ask for a token. */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

async function errorFrom(response) {
  let code = '', message = '', requestID = response.headers.get('X-Request-Id') || '';
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code; message = body.error.message; requestID = body.error.request_id || requestID;
    }
  } catch { /* not JSON */ }
  if (!message) {
    message = response.status === 404 ? 'Not found.' : `The API answered ${response.status} ${response.statusText}.`;
  }
  return new ApiError(response.status, code, message, requestID);
}

/** A JSON request; resolves to the parsed body, rejects with ApiError. */
export async function api(method, path, body, { signal, quiet401 = false } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The API cannot be reached: check the connection and try again.');
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !quiet401) onUnauthorized(error);
    throw error;
  }
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body, options);
export const put = (path, body, options) => api('PUT', path, body, options);
export const del = (path, options) => api('DELETE', path, undefined, options);

export const enc = encodeURIComponent;

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send Authorization).
 * onEvent(JobEvent, kind) for each event; resolves when the server ends the stream,
 * rejects on errors (AbortError when `signal` aborts it).
 */
export async function readEvents(path, { after = 0, signal, onEvent }) {
  const url = after === 'latest' || after > 0 ? `${path}${path.includes('?') ? '&' : '?'}after=${after}` : path;
  let response;
  try {
    response = await fetch(url, { headers: headers({ Accept: 'text/event-stream' }), signal, cache: 'no-store' });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The live stream was cut.');
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { id: '', kind: '', data: [] };
  const dispatch = () => {
    if (event.data.length) {
      let parsed = null;
      try { parsed = JSON.parse(event.data.join('\n')); } catch { parsed = null; }
      if (parsed) onEvent(parsed, event.kind || parsed.kind || 'message');
    }
    event = { id: '', kind: '', data: [] };
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer[newline] === '\r' && buffer[newline + 1] === '\n' ? 2 : 1));
      if (line === '') { dispatch(); continue; }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') event.data.push(value);
      else if (field === 'event') event.kind = value;
      else if (field === 'id') event.id = value;
    }
  }
  dispatch();
}

/** PUTs `blob` to a presigned URL with XMLHttpRequest (for upload progress); resolves to the ETag (or ''). */
export function putWithProgress(url, blob, contentType, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    if (contentType) xhr.setRequestHeader('Content-Type', contentType);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader('ETag') || '');
      else {
        const code = /<Code>([^<]*)<\/Code>/.exec(xhr.responseText || '');
        reject(new ApiError(xhr.status, 'storage', `The storage refused the upload (${xhr.status}${code ? ' ' + code[1] : ''}).`));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'storage_cors',
      'The upload to the storage failed before it answered: the storage may not allow uploads from this page '
      + '(its CORS rules: `transcoder api allow-uploads --origin ' + location.origin + '`), or it cannot be reached.'));
    xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(blob);
  });
}

const MULTIPART_ABOVE = 64 * 1024 * 1024;
const SINGLE_LIMIT = 5 * 1024 * 1024 * 1024;

/**
 * Uploads a File into the bucket with presigned URLs; resolves to its key.
 * onProgress(fraction 0–1). Files above 64 MiB go in parts; when the storage hides the
 * parts' ETags (CORS without ExposeHeader ETag), a file of up to 5 GiB is sent whole instead.
 */
export async function uploadFile(file, onProgress, signal) {
  const contentType = file.type || 'application/octet-stream';
  const single = async () => {
    const up = await post('v1/uploads', { filename: file.name, size: file.size, content_type: file.type || undefined }, { signal });
    await putWithProgress(up.url, file, file.type ? contentType : '', (loaded, total) => onProgress(loaded / total), signal);
    onProgress(1);
    return up.key;
  };
  if (file.size <= MULTIPART_ABOVE) return single();
  const up = await post('v1/uploads', { filename: file.name, size: file.size, multipart: true }, { signal });
  if (!up.upload_id) { // the API chose a single upload
    await putWithProgress(up.url, file, '', (loaded, total) => onProgress(loaded / total), signal);
    onProgress(1);
    return up.key;
  }
  const partSize = up.part_size;
  const done = new Array(up.parts.length).fill(0);
  const report = () => onProgress(done.reduce((a, b) => a + b, 0) / file.size);
  const etags = [];
  for (const part of up.parts) {
    const start = (part.part_number - 1) * partSize;
    const slice = file.slice(start, Math.min(file.size, start + partSize));
    const etag = await putWithProgress(part.url, slice, '', (loaded) => { done[part.part_number - 1] = loaded; report(); }, signal);
    if (!etag) {
      // The ETag header is not readable cross-origin: abandon the parts, send the file whole.
      try { await del(`v1/uploads/${enc(up.upload_id)}?key=${enc(up.key)}`); } catch { /* it expires */ }
      if (file.size > SINGLE_LIMIT) {
        throw new ApiError(0, 'storage_cors', 'The storage hides the parts\' ETags from this page, and the file is over 5 GiB: it cannot be uploaded from the browser.');
      }
      done.fill(0);
      return single();
    }
    done[part.part_number - 1] = slice.size;
    report();
    etags.push(etag);
  }
  await post(`v1/uploads/${enc(up.upload_id)}/complete`, { key: up.key, etags }, { signal });
  onProgress(1);
  return up.key;
}
