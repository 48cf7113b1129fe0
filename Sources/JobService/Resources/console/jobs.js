// The job list (one page at a time, updated in place from the live stream) and the job page.
import { get, post, enc, readEvents } from './api.js';
import {
  h, append, clear, badge, progressBar, setProgress, fps, duration, timeEl, mb, reason, short,
  STATES, ACTIVE, FINAL, debounce,
} from './util.js';

const PAGE = 50;
const RUNNING = new Set(['queued', 'downloading', 'transcoding', 'uploading']);
const VIDEO = /\.(mp4|m4v|webm|mkv|mov)$/i;

/** Paging survives leaving the list for a job and coming back. */
let paging = { key: '', stack: [] };

function stateOf(event) {
  if (STATES.includes(event.kind)) return event.kind;
  if (event.kind === 'created') return 'pending';
  return event.data && STATES.includes(event.data.state) ? event.data.state : '';
}

/** Keeps a live stream open: reconnects after `?after=` the last seq seen. */
function follow(path, ctx, startAfter, onEvent, { untilEnd = false, onEnd } = {}) {
  let last = startAfter;
  const loop = async () => {
    let failures = 0;
    while (!ctx.signal.aborted) {
      try {
        await readEvents(path, {
          after: last, signal: ctx.signal,
          onEvent: (event) => { if (last === 'latest' || event.seq > last) { last = event.seq; onEvent(event); } failures = 0; },
        });
        if (untilEnd) { if (onEnd) onEnd(); return; }
      } catch (error) {
        if (error.name === 'AbortError' || ctx.signal.aborted) return;
        if (error.status === 401 || error.status === 403 || error.status === 404) return;
        failures += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(30000, 1000 * 2 ** Math.min(failures, 5))));
    }
  };
  loop();
}

function maxSeq(events) {
  return (events || []).reduce((m, e) => Math.max(m, e.seq || 0), 0);
}

// ---------------------------------------------------------------- list

function cell(label, ...content) { return h('td', { dataset: { label } }, ...content); }

function jobRow(job) {
  const tr = h('tr', { dataset: { jobId: job.id, state: job.state } });
  fillRow(tr, job);
  return tr;
}

function fillRow(tr, job) {
  clear(tr);
  tr.dataset.state = job.state;
  tr.append(
    cell('Job', h('a', { href: `#/jobs/${enc(job.id)}`, title: job.id }, short(job.id))),
    cell('State', badge(job.state)),
    cell('Progress', progressBar(job.progress)),
    cell('fps', h('span.fps', job.state === 'transcoding' ? fps(job.fps) : '—')),
    cell('ETA', h('span.eta', job.state === 'transcoding' ? duration(job.eta_seconds) : '—')),
    cell('Worker', h('span.worker', job.worker_id || '—')),
    cell('Input', h('span.key', job.input_key || '—')),
    cell('Output', h('span.key', job.output_key || '—')),
    cell('Created', timeEl(job.created_at)),
  );
  tr._job = { ...job };
}

function applyEvent(tr, event) {
  const job = tr._job;
  const data = event.data || {};
  const state = stateOf(event);
  // A late `submitted` of a job already fetched further along must not move it back.
  const early = state === 'pending' || state === 'submitted';
  if (state && !(early && RUNNING.has(job.state))) job.state = state;
  if (typeof data.progress === 'number') job.progress = data.progress;
  if (data.fps !== undefined) job.fps = data.fps;
  if (data.eta_seconds !== undefined) job.eta_seconds = data.eta_seconds;
  if (data.worker_id) job.worker_id = data.worker_id;
  tr.dataset.state = job.state;
  const badgeCell = tr.querySelector('.badge');
  if (badgeCell) badgeCell.replaceWith(badge(job.state));
  setProgress(tr.querySelector('.progress'), job.progress);
  tr.querySelector('.fps').textContent = job.state === 'transcoding' ? fps(job.fps) : '—';
  tr.querySelector('.eta').textContent = job.state === 'transcoding' ? duration(job.eta_seconds) : '—';
  tr.querySelector('.worker').textContent = job.worker_id || '—';
}

export async function jobList(ctx, params) {
  const { main, signal } = ctx;
  const state = params.get('state') || '';
  const prefix = params.get('prefix') || '';
  const key = `${state}|${prefix}`;
  if (paging.key !== key) paging = { key, stack: [] };

  const stateSelect = h('select#filter-state', { name: 'state' },
    h('option', { value: '' }, 'All states'),
    h('option', { value: ACTIVE.join(',') }, 'Not finished'),
    STATES.map((s) => h('option', { value: s }, s)));
  stateSelect.value = state;
  if (stateSelect.value !== state) stateSelect.value = '';
  const prefixInput = h('input#filter-prefix', { type: 'search', name: 'prefix', value: prefix, placeholder: 'uploads/', spellcheck: 'false' });
  const apply = () => {
    const q = new URLSearchParams();
    if (stateSelect.value) q.set('state', stateSelect.value);
    if (prefixInput.value.trim()) q.set('prefix', prefixInput.value.trim());
    const target = `#/jobs${q.toString() ? '?' + q : ''}`;
    if (location.hash !== target) location.hash = target;
  };
  const filter = h('form#job-filter.filters', { role: 'search', onsubmit: (e) => { e.preventDefault(); apply(); } },
    h('div.field', h('label', { for: 'filter-state' }, 'State'), stateSelect),
    h('div.field', h('label', { for: 'filter-prefix' }, 'Key starts with'), prefixInput),
    h('div.field.actions', h('button', { type: 'submit' }, 'Filter')));
  stateSelect.addEventListener('change', apply);

  const error = h('p#list-error.error', { role: 'alert' });
  const body = h('tbody#jobs-body');
  const table = h('table#jobs-table.jobs',
    h('caption.sr-only', 'Jobs, newest first'),
    h('thead', h('tr', ['Job', 'State', 'Progress', 'fps', 'ETA', 'Worker', 'Input', 'Output', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
  const newer = h('button#newer', { type: 'button' }, '← Newer');
  const older = h('button#older', { type: 'button' }, 'Older →');
  const info = h('span#page-info.muted', { 'aria-live': 'polite' });
  main.append(
    h('div.title', h('h1', 'Jobs'), h('a.button', { href: '#/new' }, 'New job')),
    filter, error, h('div.table-wrap', table), h('nav.pager', { 'aria-label': 'Pages' }, newer, info, older));

  const rows = new Map();
  let nextCursor = null;
  const firstPage = () => paging.stack.length === 0;

  async function load() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (state) q.set('state', state);
    if (prefix) q.set('prefix', prefix);
    const cursor = paging.stack[paging.stack.length - 1];
    if (cursor) q.set('cursor', cursor);
    error.textContent = '';
    let list;
    try {
      list = await get(`v1/jobs?${q}`, { signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      error.textContent = e.message;
      return null;
    }
    rows.clear();
    clear(body);
    for (const job of list.jobs) {
      const tr = jobRow(job);
      rows.set(job.id, tr);
      body.append(tr);
    }
    if (!list.jobs.length) body.append(h('tr.empty', h('td', { colspan: 9 }, state || prefix ? 'No job matches.' : 'No jobs yet.')));
    nextCursor = list.next_cursor || null;
    newer.disabled = firstPage();
    older.disabled = !nextCursor;
    info.textContent = `Page ${paging.stack.length + 1} · ${list.jobs.length} job${list.jobs.length === 1 ? '' : 's'}`;
    return list;
  }

  newer.addEventListener('click', async () => { paging.stack.pop(); await load(); newer.disabled || newer.focus(); });
  older.addEventListener('click', async () => { if (!nextCursor) return; paging.stack.push(nextCursor); await load(); older.disabled || older.focus(); });

  const list = await load();
  if (!list) return;

  // Live updates from now on: the stream never replays history.
  const start = 'latest';
  const fetching = new Set();
  const prepend = async (id) => {
    if (fetching.has(id) || rows.has(id)) return;
    fetching.add(id);
    try {
      const job = await get(`v1/jobs/${enc(id)}`, { signal });
      if (rows.has(id) || !firstPage() || state || prefix) return;
      const empty = body.querySelector('tr.empty');
      if (empty) empty.remove();
      const tr = jobRow(job);
      rows.set(id, tr);
      body.prepend(tr);
      while (rows.size > PAGE) {
        const last = body.lastElementChild;
        rows.delete(last.dataset.jobId);
        last.remove();
        older.disabled = false;
        if (!nextCursor) nextCursor = null; // the server's cursor for the next page stays valid enough
      }
    } catch { /* the row appears on the next load */ } finally { fetching.delete(id); }
  };
  const refreshRow = debounce(async (id) => {
    const tr = rows.get(id);
    if (!tr) return;
    try { fillRow(tr, await get(`v1/jobs/${enc(id)}`, { signal })); } catch { /* keep the row */ }
  }, 300);
  follow('v1/events', ctx, start, (event) => {
    const tr = rows.get(event.job_id);
    if (tr) {
      applyEvent(tr, event);
      if (FINAL.has(stateOf(event)) || event.kind === 'submitted') refreshRow(event.job_id);
    } else if ((event.kind === 'created' || event.kind === 'queued') && firstPage() && !state && !prefix) {
      prepend(event.job_id);
    }
  });
}

// ---------------------------------------------------------------- job page

function fact(term, ...value) { return [h('dt', term), h('dd', ...value)]; }

function timelineRow(event) {
  const d = event.data || {};
  const message = d.error_message || d.error_code
    ? [d.error_code ? h('code', d.error_code) : null, d.error_code && d.error_message ? ' ' : null, d.error_message || '']
    : event.kind === 'completed' && d.output_size !== undefined ? `${mb(d.output_size)}, ${duration(d.duration_seconds)}` : '';
  return h('tr', { dataset: { seq: event.seq, kind: event.kind } },
    h('td', { dataset: { label: 'Event' } }, STATES.includes(event.kind) ? badge(event.kind) : event.kind),
    h('td', { dataset: { label: 'At' } }, timeEl(event.at)),
    h('td', { dataset: { label: 'Progress' } }, typeof d.progress === 'number' ? `${d.progress}%` : ''),
    h('td', { dataset: { label: 'Worker' } }, d.worker_id || ''),
    h('td', { dataset: { label: 'Attempt' } }, d.attempt !== undefined ? String(d.attempt) : ''),
    h('td', { dataset: { label: 'Message' } }, message));
}

export async function jobPage(ctx, id) {
  const { main, signal } = ctx;
  let job;
  try {
    job = await get(`v1/jobs/${enc(id)}`, { signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    main.append(h('p', h('a', { href: '#/jobs' }, '← Jobs')), h('h1', 'Job ', h('code', id)), h('p#job-error.error', { role: 'alert' }, e.message));
    return;
  }
  render(ctx, job, true);
}

function render(ctx, job, first) {
  const { main, signal } = ctx;
  const focusID = document.activeElement && document.activeElement.id;
  clear(main);
  const stateBadge = h('span#job-state.badge', { class: `state-${job.state}`, dataset: { state: job.state } }, job.state);
  const bar = h('progress#job-progress', { max: 100, value: Number(job.progress) || 0, 'aria-label': 'Progress' });
  const barText = h('span#job-progress-text.pct', `${(Number(job.progress) || 0).toFixed(1)}%`);
  const fpsEl = h('span#job-fps', fps(job.fps));
  const etaEl = h('span#job-eta', job.state === 'transcoding' ? duration(job.eta_seconds) : '—');
  const actionError = h('p#action-error.error', { role: 'alert' });
  const cancel = h('button#cancel.danger', { type: 'button', hidden: FINAL.has(job.state) }, 'Cancel job');
  const retry = h('button#retry', { type: 'button', hidden: !(job.state === 'failed' || job.state === 'cancelled') }, 'Retry job');
  const timelineBody = h('tbody#timeline-body', (job.events || []).map(timelineRow));

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    actionError.textContent = '';
    try {
      await post(`v1/jobs/${enc(job.id)}/cancel`, {});
      ctx.say('Cancel requested: the job stops within seconds.');
      const fresh = await get(`v1/jobs/${enc(job.id)}`, { signal });
      if (FINAL.has(fresh.state)) render(ctx, fresh, false);
    } catch (e) {
      if (e.name === 'AbortError') return;
      actionError.textContent = e.message;
      cancel.disabled = false;
    }
  });
  retry.addEventListener('click', async () => {
    retry.disabled = true;
    actionError.textContent = '';
    try {
      await post(`v1/jobs/${enc(job.id)}/retry`, {});
      ctx.say('The job was sent again.');
      render(ctx, await get(`v1/jobs/${enc(job.id)}`, { signal }), true);
    } catch (e) {
      if (e.name === 'AbortError') return;
      actionError.textContent = e.message;
      retry.disabled = false;
    }
  });

  const failure = job.error_code || job.error_message
    ? h('section#failure.card.failure', { 'aria-labelledby': 'failure-title' },
      h('h2#failure-title', job.state === 'failed' ? 'Why it failed' : job.state === 'retrying' ? 'Why this attempt failed' : 'Last error'),
      h('p#job-reason', reason(job.error_code)),
      job.error_message ? h('p#job-error-message', job.error_message) : null,
      job.error_code ? h('p.muted', 'Code: ', h('code#job-error-code', job.error_code)) : null)
    : null;

  const output = job.state === 'completed' ? h('section#output.card', { 'aria-labelledby': 'output-title' }, h('h2#output-title', 'Output'), h('p#output-status.muted', 'Getting a link…')) : null;

  const request = job.request || {};
  append(main, [
    h('p', h('a', { href: '#/jobs' }, '← Jobs')),
    h('h1', 'Job ', h('code#job-id', job.id)),
    h('div.job-head.card',
      stateBadge,
      h('span.progress.big', bar, barText),
      h('span.stat', h('span.muted', 'fps '), fpsEl),
      h('span.stat', h('span.muted', 'ETA '), etaEl)),
    h('div.actions', cancel, retry),
    actionError,
    failure,
    output,
    h('h2', 'Facts'),
    h('dl#job-facts.facts',
      fact('Input', h('code', job.input_key || '—')),
      fact('Output', h('code', job.output_key || '—')),
      fact('Preset', job.preset || (request.transcode_options ? h('code', request.transcode_options) : request.outputs ? `${request.outputs.length} outputs` : '—')),
      fact('Priority', job.priority || '—'),
      fact('Worker', job.worker_id || '—'),
      fact('Attempt', job.attempt !== undefined ? String(job.attempt) : '—'),
      fact('Size', mb(job.output_size)),
      fact('Duration', job.duration_seconds !== undefined ? duration(job.duration_seconds) : '—'),
      fact('Codec', job.output_codec || '—'),
      fact('Resolution', job.output_width && job.output_height ? `${job.output_width}×${job.output_height}` : '—'),
      ...(job.segments_total ? [fact('Parts', `${job.segments_done || 0} of ${job.segments_total} encoded, ${job.workers || 0} worker${job.workers === 1 ? '' : 's'} on it`)] : []),
      fact('Source', job.source || '—'),
      fact('Created', timeEl(job.created_at)),
      fact('Started', timeEl(job.started_at)),
      fact('Finished', timeEl(job.finished_at))),
    h('h2', 'Timeline'),
    h('div.table-wrap', h('table#timeline.timeline',
      h('thead', h('tr', ['Event', 'At', 'Progress', 'Worker', 'Attempt', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
      timelineBody))]);
  if (focusID && document.getElementById(focusID) && !first) document.getElementById(focusID).focus();

  if (output) showOutput(job, output, signal);

  if (!FINAL.has(job.state)) {
    const live = { ...job };
    follow(`v1/jobs/${enc(job.id)}/events`, ctx, maxSeq(job.events), (event) => {
      timelineBody.append(timelineRow(event));
      const d = event.data || {};
      const state = stateOf(event);
      if (state) live.state = state;
      if (typeof d.progress === 'number') live.progress = d.progress;
      if (d.fps !== undefined) live.fps = d.fps;
      if (d.eta_seconds !== undefined) live.eta_seconds = d.eta_seconds;
      stateBadge.textContent = live.state;
      stateBadge.className = `badge state-${live.state}`;
      stateBadge.dataset.state = live.state;
      bar.value = Number(live.progress) || 0;
      barText.textContent = `${(Number(live.progress) || 0).toFixed(1)}%`;
      fpsEl.textContent = fps(live.fps);
      etaEl.textContent = live.state === 'transcoding' ? duration(live.eta_seconds) : '—';
      cancel.hidden = FINAL.has(live.state);
    }, {
      untilEnd: true,
      onEnd: async () => {
        if (signal.aborted) return;
        try {
          const fresh = await get(`v1/jobs/${enc(job.id)}`, { signal });
          render(ctx, fresh, false);
          ctx.say(`Job ${fresh.state}.`);
        } catch { /* the page stays as it is */ }
      },
    });
  }
}

async function showOutput(job, section, signal) {
  const status = section.querySelector('#output-status');
  try {
    const out = await get(`v1/jobs/${enc(job.id)}/output`, { signal });
    status.remove();
    if (VIDEO.test(job.output_key || '')) {
      section.append(h('video#output-video', { controls: true, preload: 'auto', playsinline: true, src: out.url, 'aria-label': `Output of job ${job.id}` }));
    }
    const name = (job.output_key || 'output').split('/').filter(Boolean).pop();
    section.append(h('p',
      h('a#output-download.button', { href: out.url, download: name, rel: 'noopener' }, job.request && job.request.outputs ? 'Download the manifest' : `Download ${name}`),
      h('span.muted', ` Link valid until ${new Date(out.expires_at).toLocaleTimeString()}.`)));
  } catch (e) {
    if (e.name === 'AbortError') return;
    status.className = 'error';
    status.setAttribute('role', 'alert');
    status.textContent = e.message;
  }
}
