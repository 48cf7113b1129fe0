// Workers (refreshed every 5 s) and dead letters (replay one, replay all).
import { get, post, enc } from './api.js';
import { h, clear, timeEl, badge, progressBar, fps, reason, short } from './util.js';

export async function workers(ctx) {
  const { main, signal } = ctx;
  const error = h('p#workers-error.error', { role: 'alert' });
  const body = h('tbody#workers-body');
  const updated = h('p#workers-updated.muted');
  main.append(h('h1', 'Workers'), updated, error, h('div.table-wrap', h('table#workers-table',
    h('caption.sr-only', 'Workers'),
    h('thead', h('tr', ['Worker', 'Status', 'Host', 'Version', 'Slots', 'Jobs', 'Load', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)))),
    body)));

  async function load() {
    let list;
    try {
      list = (await get('v1/workers', { signal })).workers || [];
      error.textContent = '';
    } catch (e) {
      if (e.name === 'AbortError') return;
      error.textContent = e.message;
      return;
    }
    clear(body);
    if (!list.length) body.append(h('tr.empty', h('td', { colspan: 8 }, 'No worker was seen in the last week.')));
    for (const w of list) {
      const jobs = (w.jobs || []).length
        ? h('ul.plain', w.jobs.map((j) => h('li', h('a', { href: `#/jobs/${enc(j.job_id)}`, title: j.job_id }, short(j.job_id)), ' ',
          j.state ? badge(j.state) : null, ' ', progressBar(j.progress), j.fps !== undefined ? ` ${fps(j.fps)} fps` : '')))
        : h('span.muted', 'idle');
      body.append(h('tr', { dataset: { workerId: w.id, status: w.status } },
        h('td', { dataset: { label: 'Worker' } }, h('code', w.id)),
        h('td', { dataset: { label: 'Status' } }, h('span.badge', { class: `status-${w.status}` }, w.status)),
        h('td', { dataset: { label: 'Host' } }, w.host || '—'),
        h('td', { dataset: { label: 'Version' } }, w.version || '—'),
        h('td', { dataset: { label: 'Slots' } }, `${(w.jobs || []).length}/${w.concurrency ?? '—'}`),
        h('td', { dataset: { label: 'Jobs' } }, jobs),
        h('td', { dataset: { label: 'Load' } }, (w.load || []).map((l) => Number(l).toFixed(2)).join(' ') || '—'),
        h('td', { dataset: { label: 'Last seen' } }, timeEl(w.last_seen))));
    }
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshed every 5 seconds.`;
  }
  await load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 5000);
  ctx.cleanup.push(() => clearInterval(timer));
}

export async function deadLetters(ctx) {
  const { main, signal } = ctx;
  const error = h('p#dead-letters-error.error', { role: 'alert' });
  const result = h('p#replay-result', { 'aria-live': 'polite' });
  const body = h('tbody#dead-letters-body');
  const total = h('p#dead-letters-total.muted');
  const replayAll = h('button#replay-all', { type: 'button' }, 'Replay all');
  const refresh = h('button#dead-letters-refresh.secondary', { type: 'button' }, 'Refresh');
  main.append(h('div.title', h('h1', 'Dead letters'), h('span.actions', refresh, replayAll)),
    h('p.muted', 'Jobs that failed for good. A replay sends a job back to its queue with a fresh retry budget; fix its cause first.'),
    total, error, result, h('div.table-wrap', h('table#dead-letters-table',
      h('caption.sr-only', 'Dead-lettered jobs'),
      h('thead', h('tr', ['Job', 'Reason', 'Failed', 'By', 'Attempts', 'Priority', ''].map((t) => h('th', { scope: 'col' }, t)))),
      body)));

  async function replay(body, button) {
    button.disabled = true;
    error.textContent = '';
    try {
      const r = await post('v1/dead-letters/replay', body, { signal });
      const parts = [];
      parts.push(r.replayed.length ? `Replayed ${r.replayed.length} job${r.replayed.length === 1 ? '' : 's'}: ${r.replayed.join(', ')}.` : 'Nothing was replayed.');
      if (r.not_found && r.not_found.length) parts.push(`Not in the queue any more: ${r.not_found.join(', ')}.`);
      result.textContent = parts.join(' ');
      result.dataset.replayed = r.replayed.join(',');
      await load();
    } catch (e) {
      if (e.name === 'AbortError') return;
      error.textContent = e.message;
    } finally { button.disabled = false; }
  }

  async function load() {
    let list;
    try {
      list = await get('v1/dead-letters?limit=100', { signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      error.textContent = e.message;
      return;
    }
    clear(body);
    const letters = list.dead_letters || [];
    total.textContent = `${list.total} in the dead-letter queue${list.total > letters.length ? `; the first ${letters.length} are shown` : ''}.`;
    replayAll.disabled = list.total === 0;
    if (!letters.length) body.append(h('tr.empty', h('td', { colspan: 7 }, 'The dead-letter queue is empty.')));
    for (const d of letters) {
      const id = d.job_id;
      body.append(h('tr', { dataset: { jobId: id || '' } },
        h('td', { dataset: { label: 'Job' } }, id ? h('a', { href: `#/jobs/${enc(id)}`, title: id }, short(id)) : h('span.muted', 'unreadable')),
        h('td', { dataset: { label: 'Reason' } }, h('div', reason(d.error_code)), h('div.muted', h('code', d.error_code), ' ', d.error_message || '')),
        h('td', { dataset: { label: 'Failed' } }, d.failed_at ? timeEl(d.failed_at) : '—'),
        h('td', { dataset: { label: 'By' } }, d.failed_by || '—'),
        h('td', { dataset: { label: 'Attempts' } }, d.attempts !== undefined ? String(d.attempts) : '—'),
        h('td', { dataset: { label: 'Priority' } }, d.priority || '—'),
        h('td', { dataset: { label: '' } }, id
          ? h('button.replay', { type: 'button', dataset: { jobId: id }, 'aria-label': `Replay job ${id}`, onclick: (e) => replay({ job_ids: [id] }, e.currentTarget) }, 'Replay')
          : null)));
    }
  }
  replayAll.addEventListener('click', () => {
    if (replayAll.dataset.confirm !== 'yes') {
      replayAll.dataset.confirm = 'yes';
      replayAll.textContent = 'Really replay all?';
      return;
    }
    replayAll.dataset.confirm = '';
    replayAll.textContent = 'Replay all';
    replay({ all: true }, replayAll);
  });
  refresh.addEventListener('click', load);
  await load();
}
