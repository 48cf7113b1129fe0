// New job: upload a file (or name a key), pick presets or type a fragment (checked as you type), submit.
import { get, post, enc, uploadFile } from './api.js';
import { h, debounce } from './util.js';

const SPEEDS = ['', 'ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'];

function extension(preset) {
  if (!preset) return 'mp4';
  if (preset.container) {
    const c = preset.container.toLowerCase();
    if (/webm/.test(c)) return 'webm';
    if (/ogg|opus/.test(c)) return preset.name === 'opus-audio' ? 'opus' : 'ogg';
    if (/m4a/.test(c) || preset.kind === 'audio') return 'm4a';
    if (/mkv|matroska/.test(c)) return 'mkv';
    if (/mov|quicktime/.test(c)) return 'mov';
    if (/mp4/.test(c)) return 'mp4';
  }
  if (preset.kind === 'audio') return /opus/.test(preset.name) ? 'opus' : 'm4a';
  if (/vp9|webm/.test(preset.name)) return 'webm';
  return 'mp4';
}

function baseName(key) {
  const name = (key || '').split('/').filter(Boolean).pop() || 'output';
  return name.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '-') || 'output';
}

export async function newJob(ctx, params) {
  const { main, signal } = ctx;
  main.append(h('h1', 'New job'));
  let presetList = [];
  try {
    presetList = (await get('v1/presets', { signal })).presets || [];
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    main.append(h('p.error', { role: 'alert' }, `The presets could not be read: ${e.message}`));
  }
  const byName = new Map(presetList.map((p) => [p.name, p]));

  // --- input
  const fileInput = h('input#file', { type: 'file', accept: 'video/*,audio/*,.mkv,.mov,.mp4,.webm,.ts', 'aria-describedby': 'upload-status' });
  const uploadBar = h('progress#upload-progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const uploadStatus = h('p#upload-status.muted', { 'aria-live': 'polite' });
  const keyInput = h('input#input-key', { type: 'text', name: 'input_key', required: true, spellcheck: 'false', value: params.get('input') || '', placeholder: 'uploads/…/clip.mp4', 'aria-describedby': 'input-key-help' });

  // --- what to make
  const modePresets = h('input#mode-presets', { type: 'radio', name: 'mode', value: 'presets', checked: true });
  const modeFragment = h('input#mode-fragment', { type: 'radio', name: 'mode', value: 'fragment' });
  const presetBoxes = presetList.map((p) => {
    const id = `preset-${p.name}`;
    return h('div.check',
      h('input', { type: 'checkbox', id, name: 'preset', value: p.name, dataset: { preset: p.name } }),
      h('label', { for: id }, h('strong', p.name), ' ', h('span.muted', p.builtin ? p.summary || '' : p.description || (p.transcode_options ? `fragment: ${p.transcode_options}` : `${p.preset} with overrides`))));
  });
  const presetSet = h('fieldset#presets.presets', h('legend', 'Presets (one output each)'), presetBoxes.length ? presetBoxes : h('p.muted', 'No presets.'));
  const speed = h('select#speed', { name: 'speed' }, SPEEDS.map((s) => h('option', { value: s }, s || 'preset default')));
  const fragment = h('textarea#fragment', { name: 'transcode_options', rows: 3, spellcheck: 'false', placeholder: 'videoscale ! video/x-raw,width=640,height=360 ! x264enc', 'aria-describedby': 'validation' });
  const presetPart = h('div#preset-part', presetSet, h('div.field', h('label', { for: 'speed' }, 'Encoder speed (override)'), speed));
  const fragmentPart = h('div#fragment-part.field', { hidden: true }, h('label', { for: 'fragment' }, 'Pipeline fragment (video branch)'), fragment);

  const priority = h('select#priority', { name: 'priority' }, ['normal', 'high', 'low'].map((p) => h('option', { value: p }, p)));
  const outputKey = h('input#output-key', { type: 'text', name: 'output_key', required: true, spellcheck: 'false', 'aria-describedby': 'output-key-help' });
  const outputHelp = h('p#output-key-help.muted');
  const validation = h('p#validation.validation', { 'aria-live': 'polite' });
  const submitError = h('p#submit-error.error', { role: 'alert' });
  const submit = h('button#submit', { type: 'submit' }, 'Submit job');

  let outputEdited = false;
  let uploading = false;
  let uploadController = null;

  const mode = () => (modeFragment.checked ? 'fragment' : 'presets');
  const chosen = () => presetBoxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);

  /** Output keys derived from the input's name and the chosen presets. */
  function plan() {
    const base = baseName(keyInput.value);
    if (mode() === 'fragment') return { outputKey: `out/${base}-custom.mp4`, outputs: null };
    const names = chosen();
    const single = names.length === 1 && (byName.get(names[0]) || {}).kind !== 'ladder';
    if (names.length === 0) return { outputKey: `out/${base}.mp4`, outputs: null };
    if (single) return { outputKey: `out/${base}-${names[0]}.${extension(byName.get(names[0]))}`, outputs: null };
    const dir = `out/${base}`;
    return {
      outputKey: `${dir}/manifest.json`,
      outputs: names.map((n) => {
        const p = byName.get(n) || {};
        if (p.kind === 'ladder') return { key: `${dir}/${base}-hls/`, preset: n, hls: {} };
        return { key: `${dir}/${base}-${n}.${extension(p)}`, preset: n };
      }),
    };
  }

  function refreshOutput() {
    const p = plan();
    if (!outputEdited) outputKey.value = p.outputKey;
    outputHelp.textContent = p.outputs
      ? `Several outputs: ${p.outputs.map((o) => o.key).join(', ')}. The output key above names the job's manifest.`
      : 'Where the output is stored in the bucket (its extension picks the container).';
  }

  function body() {
    const job = { input_key: keyInput.value.trim(), output_key: outputKey.value.trim(), priority: priority.value };
    if (mode() === 'fragment') {
      job.transcode_options = fragment.value.trim();
      return job;
    }
    const p = plan();
    const overrides = speed.value ? { speed: speed.value } : null;
    if (p.outputs) {
      job.outputs = p.outputs.map((o) => {
        const preset = byName.get(o.preset) || {};
        return overrides && preset.kind === 'video' ? { ...o, overrides } : o;
      });
    } else {
      const names = chosen();
      if (names.length) job.preset = names[0];
      if (overrides) job.overrides = overrides;
    }
    return job;
  }

  function complete(job) {
    if (mode() === 'fragment' && !job.transcode_options) return 'Type a pipeline fragment.';
    if (mode() === 'presets' && !job.preset && !job.outputs) return 'Choose at least one preset.';
    return '';
  }

  let validationRun = 0;
  const validate = debounce(async () => {
    const run = ++validationRun;
    const job = body();
    const missing = complete(job);
    if (missing) { validation.textContent = ''; validation.dataset.valid = ''; return; }
    // The check does not need the input to exist: a placeholder key lets a fragment be checked before the upload.
    if (!job.input_key) job.input_key = 'uploads/example.mp4';
    if (!job.output_key) job.output_key = 'out/example.mp4';
    validation.textContent = 'Checking…';
    validation.dataset.valid = '';
    try {
      await post('v1/jobs?dry_run=true', job, { signal });
      if (run !== validationRun) return;
      validation.textContent = 'Valid: a worker would accept this job.';
      validation.dataset.valid = 'true';
    } catch (e) {
      if (e.name === 'AbortError' || run !== validationRun) return;
      validation.textContent = e.message;
      validation.dataset.valid = 'false';
      validation.dataset.code = e.code;
    }
  }, 400);
  ctx.cleanup.push(() => { validate.cancel(); if (uploadController) uploadController.abort(); });

  function modeChanged() {
    presetPart.hidden = mode() !== 'presets';
    fragmentPart.hidden = mode() !== 'fragment';
    refreshOutput();
    validate();
  }

  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    if (uploadController) uploadController.abort();
    uploadController = new AbortController();
    const controller = uploadController;
    uploading = true;
    submit.disabled = true;
    uploadBar.hidden = false;
    uploadBar.value = 0;
    uploadStatus.className = 'muted';
    uploadStatus.textContent = `Uploading ${file.name} (${(file.size / 1e6).toFixed(1)} MB)…`;
    submitError.textContent = '';
    try {
      const key = await uploadFile(file, (fraction) => {
        uploadBar.value = Math.round(fraction * 1000) / 10;
        uploadStatus.textContent = `Uploading ${file.name}: ${Math.floor(fraction * 100)}%`;
      }, controller.signal);
      if (controller !== uploadController) return;
      keyInput.value = key;
      uploadBar.value = 100;
      uploadStatus.textContent = `Uploaded ${file.name} as ${key}.`;
      uploadStatus.dataset.done = 'true';
      refreshOutput();
      validate();
    } catch (e) {
      if (e.name === 'AbortError') return;
      uploadStatus.className = 'error';
      uploadStatus.textContent = e.message;
      uploadStatus.dataset.done = 'false';
    } finally {
      if (controller === uploadController) { uploading = false; submit.disabled = false; }
    }
  });

  keyInput.addEventListener('input', () => { refreshOutput(); validate(); });
  outputKey.addEventListener('input', () => { outputEdited = outputKey.value.trim() !== ''; validate(); });
  for (const input of [modePresets, modeFragment]) input.addEventListener('change', modeChanged);
  presetSet.addEventListener('change', () => { refreshOutput(); validate(); });
  speed.addEventListener('change', validate);
  priority.addEventListener('change', validate);
  fragment.addEventListener('input', () => { refreshOutput(); validate(); });

  const form = h('form#new-job.stack', {
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      submitError.textContent = '';
      if (uploading) { submitError.textContent = 'Wait for the upload to finish.'; return; }
      const job = body();
      const problem = !job.input_key ? 'Upload a file or type the key of an input in the bucket.'
        : !job.output_key ? 'Type an output key.' : complete(job);
      if (problem) { submitError.textContent = problem; return; }
      submit.disabled = true;
      try {
        const created = await post('v1/jobs', job, { signal });
        ctx.say(`Job ${created.id} submitted.`);
        location.hash = `#/jobs/${enc(created.id)}`;
      } catch (err) {
        if (err.name === 'AbortError') return;
        submitError.textContent = err.message;
        submit.disabled = false;
      }
    },
  },
  h('fieldset.card',
    h('legend', 'Input'),
    h('div.field', h('label', { for: 'file' }, 'Upload a file'), fileInput, uploadBar, uploadStatus),
    h('div.field', h('label', { for: 'input-key' }, 'Input key'), keyInput,
      h('p#input-key-help.muted', 'Filled in by the upload, or the key of an object already in the bucket.'))),
  h('fieldset.card',
    h('legend', 'What to make'),
    h('div.radios', h('span.check', modePresets, h('label', { for: 'mode-presets' }, 'Presets')),
      h('span.check', modeFragment, h('label', { for: 'mode-fragment' }, 'Pipeline fragment'))),
    presetPart, fragmentPart, validation),
  h('fieldset.card',
    h('legend', 'Output'),
    h('div.field', h('label', { for: 'output-key' }, 'Output key'), outputKey, outputHelp),
    h('div.field', h('label', { for: 'priority' }, 'Priority'), priority)),
  h('div.actions', submit),
  submitError);
  main.append(form);

  const wanted = params.get('preset');
  if (wanted) {
    const box = presetBoxes.map((b) => b.querySelector('input')).find((i) => i.value === wanted);
    if (box) box.checked = true;
  }
  refreshOutput();
}

