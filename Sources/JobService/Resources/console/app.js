// The console: sign-in, hash routing, and the status line. Views live in their own modules.
import { get, setToken, token, setUnauthorizedHandler } from './api.js';
import { h, clear } from './util.js';
import { jobList, jobPage } from './jobs.js';
import { newJob } from './newjob.js';
import { presets } from './presets.js';
import { workers, deadLetters } from './ops.js';

const main = document.getElementById('main');
const signOut = document.getElementById('sign-out');
const status = document.getElementById('status');

let current = null; // {controller, cleanup}
let signedIn = false;
let renders = 0;

/** Puts a sentence in the shared live region (read out by screen readers). */
export function say(text, kind = 'info') {
  if (!status) return;
  status.textContent = text || '';
  status.dataset.kind = kind;
  status.hidden = !text;
}

function stopView() {
  if (!current) return;
  current.controller.abort();
  try { current.cleanup && current.cleanup(); } catch { /* ignore */ }
  current = null;
}

const routes = [
  [/^#\/jobs\/([^/?]+)$/, (m, ctx) => jobPage(ctx, decodeURIComponent(m[1]))],
  [/^#\/jobs(?:\?(.*))?$/, (m, ctx) => jobList(ctx, new URLSearchParams(m[1] || ''))],
  [/^#\/new(?:\?(.*))?$/, (m, ctx) => newJob(ctx, new URLSearchParams(m[1] || ''))],
  [/^#\/presets$/, (m, ctx) => presets(ctx)],
  [/^#\/workers$/, (m, ctx) => workers(ctx)],
  [/^#\/dead-letters$/, (m, ctx) => deadLetters(ctx)],
];

function markNav(hash) {
  for (const a of document.querySelectorAll('header nav a')) {
    const target = a.getAttribute('href');
    const here = hash === target || hash.startsWith(target + '/') || hash.startsWith(target + '?');
    if (here && !(target === '#/jobs' && hash.startsWith('#/new'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (!signedIn) return;
  let hash = location.hash || '#/jobs';
  if (hash === '#' || hash === '#/') hash = '#/jobs';
  stopView();
  say('');
  markNav(hash);
  const controller = new AbortController();
  const ctx = { main: clear(main), signal: controller.signal, say, cleanup: [] };
  // For tests and tools: which route is shown, and whether its first render is done.
  main.dataset.route = hash;
  main.dataset.render = String(++renders);
  main.dataset.ready = 'false';
  current = { controller, cleanup: () => ctx.cleanup.forEach((f) => f()) };
  for (const [pattern, view] of routes) {
    const m = pattern.exec(hash);
    if (m) {
      try {
        await view(m, ctx);
      } catch (error) {
        if (error.name === 'AbortError' || controller.signal.aborted) return;
        if (error.status === 401) return;
        main.append(h('p.error', { role: 'alert' }, error.message));
      }
      if (!controller.signal.aborted) main.dataset.ready = 'true';
      return;
    }
  }
  main.append(h('h1', 'Not found'), h('p', 'No such page. ', h('a', { href: '#/jobs' }, 'Back to the jobs')));
  main.dataset.ready = 'true';
}

function showSignIn(message) {
  signedIn = false;
  stopView();
  say('');
  signOut.hidden = !token();
  const error = h('p#sign-in-error.error', { role: 'alert' }, message || '');
  const field = h('input#token', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false', 'aria-describedby': 'token-help sign-in-error' });
  const form = h('form#sign-in.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      const value = field.value.trim();
      if (!value) { error.textContent = 'Enter a token.'; field.focus(); return; }
      setToken(value);
      error.textContent = 'Checking the token…';
      await start(true);
    },
  },
  h('h1', 'Sign in'),
  h('label', { for: 'token' }, 'API token'),
  field,
  h('p#token-help.muted', 'A token from ', h('code', 'transcoder api token create'), '. It is kept only while this tab is open.'),
  h('div.actions', h('button#sign-in-submit', { type: 'submit' }, 'Sign in')),
  error);
  clear(main).append(form);
  field.focus();
}

/** Probes the API; shows the sign-in form on 401, the page otherwise. */
async function start(afterSignIn = false) {
  try {
    await get('v1/jobs?limit=1', { quiet401: true });
  } catch (error) {
    if (error.status === 401) {
      if (afterSignIn) setToken('');
      showSignIn(afterSignIn ? `That token was not accepted: ${error.message}` : (token() ? 'Your token is no longer accepted: sign in again.' : ''));
      return;
    }
    signedIn = false;
    clear(main).append(h('h1', 'The API is not answering'), h('p.error', { role: 'alert' }, error.message),
      h('button', { type: 'button', onclick: () => start() }, 'Try again'));
    return;
  }
  signedIn = true;
  signOut.hidden = !token();
  route();
}

setUnauthorizedHandler((error) => {
  if (signedIn) showSignIn(`Sign in again: ${error.message}`);
});

signOut.addEventListener('click', () => {
  setToken('');
  signOut.hidden = true;
  showSignIn('Signed out.');
});

window.addEventListener('hashchange', route);
start();
