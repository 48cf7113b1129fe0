// DOM and formatting helpers. Text always goes in as text (never HTML).

/** h('tag#id.class', {attrs / on* handlers / props}, ...children) */
export function h(spec, attrs, ...children) {
  const match = /^([a-z0-9]+)?(?:#([\w-]+))?((?:\.[\w-]+)*)$/i.exec(spec);
  const el = document.createElement(match && match[1] ? match[1] : 'div');
  if (match && match[2]) el.id = match[2];
  if (match && match[3]) el.className = match[3].slice(1).replace(/\./g, ' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = [el.className, value].filter(Boolean).join(' ');
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled' || key === 'hidden') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export const FINAL = new Set(['completed', 'failed', 'cancelled']);
export const STATES = ['pending', 'submitted', 'queued', 'downloading', 'transcoding', 'uploading', 'retrying', 'completed', 'failed', 'cancelled'];
export const ACTIVE = STATES.filter((s) => !FINAL.has(s));

export function badge(state) {
  return h('span.badge', { class: `state-${state || 'unknown'}`, dataset: { state: state || '' } }, state || '—');
}

export function pct(p) {
  const n = Number(p) || 0;
  return `${n.toFixed(n >= 100 || n === 0 ? 0 : 1)}%`;
}

/** A <progress> bar with its percentage next to it. */
export function progressBar(value, id) {
  const bar = h('progress', { max: 100, value: Number(value) || 0, id: id || undefined, 'aria-label': 'Progress' });
  const text = h('span.pct', pct(value));
  return h('span.progress', bar, text);
}

export function setProgress(wrapper, value) {
  const bar = wrapper.querySelector('progress');
  const text = wrapper.querySelector('.pct');
  if (bar) bar.value = Number(value) || 0;
  if (text) text.textContent = pct(value);
}

export function fps(v) { return v === undefined || v === null ? '—' : Number(v).toFixed(1); }

export function duration(seconds) {
  if (seconds === undefined || seconds === null || isNaN(seconds)) return '—';
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return `${m} min ${r} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function timeEl(iso) {
  return iso ? h('time', { datetime: iso, title: iso }, when(iso)) : '—';
}

export function mb(bytes) {
  if (bytes === undefined || bytes === null) return '—';
  return `${(Number(bytes) / 1e6).toFixed(2)} MB`;
}

const REASONS = {
  invalid_job: 'The job message was malformed, so no worker could run it.',
  invalid_options: 'The preset, its overrides or the pipeline fragment are not valid.',
  forbidden_options: 'The pipeline fragment asks for something that is not allowed.',
  input_not_found: 'The input file does not exist in the bucket.',
  storage_denied: 'The storage refused access to the input or the output.',
  input_unreadable: 'The input file could not be opened.',
  input_corrupt: 'The input file is empty, damaged or truncated.',
  input_unsupported: 'The input is not media this job can use.',
  encoder_failed: 'Encoding or packaging the output failed.',
  timed_out: 'The transcode stalled or took too long.',
  storage_unavailable: 'The storage kept failing or could not be reached.',
  insufficient_disk: 'The worker did not have enough free disk space.',
  delivery_limit: 'Workers kept stopping while holding this job (crashed, killed or disconnected).',
  resource_limit: 'The job used more memory or CPU than allowed, or its frames are too large.',
  engine_crashed: 'The media process crashed.',
  internal_error: 'Something went wrong inside the worker.',
  cancelled: 'The job was cancelled.',
};

export function reason(code) {
  if (!code) return '';
  if (REASONS[code]) return REASONS[code];
  if (code.startsWith('broker:')) return `The broker dead-lettered the job (${code.slice(7).replace(/_/g, ' ')}).`;
  return `Failed (${code}).`;
}

export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function short(id) { return id && id.length > 13 ? `${id.slice(0, 8)}…` : id || '—'; }
