// Presets: the built-in ones (read-only) and the user ones (create, edit, delete; admin scope).
import { get, put, del, enc } from './api.js';
import { h, clear, timeEl } from './util.js';

export async function presets(ctx) {
  const { main, signal } = ctx;
  const listError = h('p#presets-error.error', { role: 'alert' });
  const body = h('tbody#presets-body');
  const table = h('table#presets-table',
    h('caption.sr-only', 'Presets'),
    h('thead', h('tr', ['Name', 'Kind', 'What it does', 'Updated', ''].map((t) => h('th', { scope: 'col' }, t)))),
    body);

  // --- the form
  const name = h('input#preset-name', { type: 'text', name: 'name', required: true, spellcheck: 'false', pattern: '[A-Za-z0-9._-]+', 'aria-describedby': 'preset-name-help' });
  const description = h('input#preset-description', { type: 'text', name: 'description', maxlength: 500 });
  const kindFragment = h('input#preset-kind-fragment', { type: 'radio', name: 'preset-kind', value: 'fragment', checked: true });
  const kindBase = h('input#preset-kind-base', { type: 'radio', name: 'preset-kind', value: 'base' });
  const fragment = h('textarea#preset-fragment', { name: 'transcode_options', rows: 3, spellcheck: 'false', placeholder: 'videoscale ! video/x-raw,width=640,height=360 ! x264enc' });
  const base = h('select#preset-base', { name: 'preset' });
  const overrides = h('textarea#preset-overrides', { name: 'overrides', rows: 2, spellcheck: 'false', placeholder: '{"crf": 26, "speed": "fast"}', 'aria-describedby': 'preset-overrides-help' });
  const fragmentPart = h('div.field', h('label', { for: 'preset-fragment' }, 'Pipeline fragment'), fragment);
  const basePart = h('div', { hidden: true },
    h('div.field', h('label', { for: 'preset-base' }, 'Built-in preset'), base),
    h('div.field', h('label', { for: 'preset-overrides' }, 'Overrides (JSON)'), overrides,
      h('p#preset-overrides-help.muted', 'width, height, bitrate, crf, speed.')));
  const formError = h('p#preset-error.error', { role: 'alert' });
  const save = h('button#preset-save', { type: 'submit' }, 'Save preset');
  const reset = h('button#preset-reset.secondary', { type: 'button' }, 'Clear');
  const kindChanged = () => { fragmentPart.hidden = !kindFragment.checked; basePart.hidden = kindFragment.checked; };
  kindFragment.addEventListener('change', kindChanged);
  kindBase.addEventListener('change', kindChanged);
  const title = h('h2#preset-form-title', 'Create a preset');

  const form = h('form#preset-form.card.stack', {
    'aria-labelledby': 'preset-form-title',
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      formError.textContent = '';
      const n = name.value.trim();
      if (!n) { formError.textContent = 'Give the preset a name.'; name.focus(); return; }
      const definition = {};
      if (description.value.trim()) definition.description = description.value.trim();
      if (kindFragment.checked) {
        if (!fragment.value.trim()) { formError.textContent = 'Type a pipeline fragment.'; fragment.focus(); return; }
        definition.transcode_options = fragment.value.trim();
      } else {
        definition.preset = base.value;
        if (overrides.value.trim()) {
          try {
            definition.overrides = JSON.parse(overrides.value);
          } catch {
            formError.textContent = 'The overrides are not JSON, e.g. {"crf": 26}.'; overrides.focus(); return;
          }
        }
      }
      save.disabled = true;
      try {
        await put(`v1/presets/${enc(n)}`, definition, { signal });
        ctx.say(`Preset ${n} saved.`);
        clearForm();
        await load();
      } catch (err) {
        if (err.name === 'AbortError') return;
        formError.textContent = err.message;
      } finally { save.disabled = false; }
    },
  },
  title,
  h('div.field', h('label', { for: 'preset-name' }, 'Name'), name, h('p#preset-name-help.muted', 'Letters, digits, dot, dash and underscore; jobs name it in preset.')),
  h('div.field', h('label', { for: 'preset-description' }, 'Description (optional)'), description),
  h('fieldset.radios', h('legend', 'Made of'),
    h('span.check', kindFragment, h('label', { for: 'preset-kind-fragment' }, 'A pipeline fragment')),
    h('span.check', kindBase, h('label', { for: 'preset-kind-base' }, 'A built-in preset with overrides'))),
  fragmentPart, basePart,
  h('div.actions', save, reset),
  formError);

  function clearForm() {
    form.reset();
    name.readOnly = false;
    title.textContent = 'Create a preset';
    kindChanged();
  }
  reset.addEventListener('click', clearForm);

  function edit(p) {
    name.value = p.name;
    name.readOnly = true;
    description.value = p.description || '';
    if (p.transcode_options) {
      kindFragment.checked = true;
      fragment.value = p.transcode_options;
    } else {
      kindBase.checked = true;
      base.value = p.preset || '';
      overrides.value = p.overrides ? JSON.stringify(p.overrides) : '';
    }
    kindChanged();
    title.textContent = `Edit preset ${p.name}`;
    formError.textContent = '';
    (kindFragment.checked ? fragment : overrides).focus();
  }

  async function remove(p, button) {
    if (button.dataset.confirm !== 'yes') {
      button.dataset.confirm = 'yes';
      button.textContent = `Really delete ${p.name}?`;
      return;
    }
    button.disabled = true;
    listError.textContent = '';
    try {
      await del(`v1/presets/${enc(p.name)}`, { signal });
      ctx.say(`Preset ${p.name} deleted.`);
      await load();
    } catch (err) {
      if (err.name === 'AbortError') return;
      listError.textContent = err.message;
      button.disabled = false;
    }
  }

  async function load() {
    let list;
    try {
      list = (await get('v1/presets', { signal })).presets || [];
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      listError.textContent = e.message;
      return;
    }
    clear(body);
    const builtins = list.filter((p) => p.builtin);
    const current = base.value;
    clear(base).append(...builtins.filter((p) => p.kind !== 'ladder').map((p) => h('option', { value: p.name }, p.name)));
    if (current) base.value = current;
    for (const p of list) {
      const what = p.builtin ? p.summary
        : p.transcode_options ? h('code', p.transcode_options)
          : [h('code', p.preset || ''), p.overrides ? ` with ${JSON.stringify(p.overrides)}` : ''];
      const actions = p.builtin ? h('span.muted', 'built-in')
        : h('span.row-actions',
          h('button.secondary', { type: 'button', dataset: { action: 'edit', preset: p.name }, 'aria-label': `Edit ${p.name}`, onclick: () => edit(p) }, 'Edit'),
          h('button.danger', { type: 'button', dataset: { action: 'delete', preset: p.name }, 'aria-label': `Delete ${p.name}`, onclick: (e) => remove(p, e.currentTarget) }, 'Delete'));
      body.append(h('tr', { dataset: { preset: p.name, builtin: String(!!p.builtin) } },
        h('td', { dataset: { label: 'Name' } }, h('strong', p.name), p.description ? h('div.muted', p.description) : null),
        h('td', { dataset: { label: 'Kind' } }, p.builtin ? p.kind || '' : 'user'),
        h('td', { dataset: { label: 'What' } }, what),
        h('td', { dataset: { label: 'Updated' } }, p.builtin ? '—' : timeEl(p.updated_at)),
        h('td', { dataset: { label: '' } }, actions)));
    }
  }

  main.append(h('h1', 'Presets'), listError, h('div.table-wrap', table), form);
  await load();
}
