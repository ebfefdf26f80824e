// Compare & export: a transfer-vs-scratch comparison (the data-efficiency curve over a few shot counts) followed live
// and shown when done; downloads of a trained run's bundle and its verified ONNX export.
import { api, el, clear, errorBox, datasets, jobs, selection, fillSelect, trainedJobOptions, field, pct, duration, ACTIVE } from './api.js';
import { JobMonitor } from './monitor.js';

export function createComparePage(root) {
  const dataset = el('select', { id: 'compare-dataset', testid: 'compare-dataset' });
  const shots = el('input', { id: 'compare-shots', type: 'text', value: '5,10,20', testid: 'compare-shots', pattern: '\\s*\\d+(\\s*,\\s*\\d+)*\\s*', inputmode: 'numeric' });
  const seeds = el('input', { id: 'compare-seeds', type: 'number', min: 1, max: 10, step: 1, value: '1', testid: 'compare-seeds' });
  const epochs = el('input', { id: 'compare-epochs', type: 'number', min: 1, max: 500, step: 1, placeholder: 'default', testid: 'compare-epochs' });
  const status = el('div', { class: 'status', testid: 'compare-status', 'aria-live': 'polite' });
  const runButton = el('button', { type: 'submit', testid: 'compare-button' }, 'Run comparison');
  const monitor = new JobMonitor({ prefix: 'compare', chart: false, onEnd: ended });
  const findings = el('ul', { class: 'findings', testid: 'compare-findings' });
  const findingsCard = el('section', { class: 'card', hidden: true }, el('h2', {}, 'Findings'), findings);
  const frame = el('iframe', { class: 'report', title: 'Comparison report', testid: 'compare-frame', hidden: true });
  const exportPick = el('select', { id: 'export-job', testid: 'export-job' });
  const links = el('div', { class: 'downloads', testid: 'downloads' });
  let preferred = null;

  const form = el('form', { class: 'card' },
    el('h2', {}, 'Transfer vs. from scratch'),
    el('p', { class: 'hint' }, 'Trains the pretrained model and a randomly initialised one on a few labelled images per class and draws the data-efficiency curve.'),
    field('Dataset', dataset),
    field('Images per class', shots, 'comma-separated, e.g. 5,10,20'),
    el('div', { class: 'row' }, field('Seeds per point', seeds, '1 to 10'), field('Epochs', epochs, 'empty: the default')),
    el('div', { class: 'actions' }, runButton),
    status);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });

  root.append(el('div', { class: 'columns' },
    el('aside', { class: 'sidebar' }, form,
      el('section', { class: 'card' },
        el('h2', {}, 'Export'),
        field('Trained run', exportPick),
        links)),
    el('div', { class: 'main' }, monitor.node, findingsCard, frame,
      el('p', { class: 'empty', testid: 'compare-empty' }, 'No comparison yet.'))));

  datasets.onChange((items) => fillSelect(dataset, items.map((d) => ({ value: d.name, label: d.name })), selection.dataset));
  selection.listeners.add((name) => { if ([...dataset.options].some((o) => o.value === name)) dataset.value = name; });
  jobs.onChange((items) => {
    fillSelect(exportPick, trainedJobOptions(items), preferred ?? exportPick.value);
    preferred = null;
    renderLinks();
  });
  exportPick.addEventListener('change', renderLinks);

  function renderLinks() {
    const id = exportPick.value;
    if (!id) {
      clear(links, el('p', { class: 'empty' }, 'No trained run yet.'));
      return;
    }
    const base = `/api/jobs/${encodeURIComponent(id)}`;
    clear(links,
      el('a', { class: 'button', href: `${base}/bundle.zip`, download: `headstart-${id}.zip`, testid: 'bundle-link' }, 'Download the bundle (.zip)'),
      el('p', { class: 'hint' }, 'The model folder: weights, labels, manifest, report. Load it with Headstart\'s Classifier or the CLI.'),
      el('a', { class: 'button secondary', href: `${base}/model.onnx`, download: `headstart-${id}.onnx`, testid: 'onnx-link' }, 'Download ONNX (.onnx)'),
      el('p', { class: 'hint' }, 'Exported and checked against the bundle on the first download, which may take several seconds.'));
  }

  function parseShots() {
    const parts = shots.value.split(',').map((s) => s.trim()).filter(Boolean);
    const values = parts.map(Number);
    if (!values.length || values.some((v) => !Number.isInteger(v) || v < 1)) return null;
    return values;
  }

  async function run() {
    const k = parseShots();
    if (!dataset.value) { clear(status, errorBox('pick a dataset first (Data tab)')); return; }
    if (!k) { clear(status, errorBox('images per class: positive whole numbers separated by commas, e.g. 5,10,20')); shots.focus(); return; }
    if (!seeds.checkValidity() || !epochs.checkValidity()) { clear(status, errorBox('seeds must be 1 to 10 and epochs 1 to 500')); return; }
    const body = { kind: 'compare', dataset: dataset.value, shots: k, seeds: Number(seeds.value) || 1 };
    if (epochs.value) body.epochs = Number(epochs.value);
    runButton.disabled = true;
    clear(status, 'Starting…');
    try {
      const job = await api('/api/jobs', { method: 'POST', json: body });
      clear(status);
      start(job);
      jobs.refresh();
    } catch (e) {
      clear(status, errorBox(e));
    } finally {
      runButton.disabled = false;
    }
  }

  function start(job) {
    root.querySelector('[data-testid=compare-empty]').hidden = true;
    frame.hidden = true;
    findingsCard.hidden = true;
    clear(findings);
    monitor.attach(job);
  }

  function ended(summary) {
    if (summary.state !== 'succeeded') return;
    const r = summary.result ?? {};
    clear(findings,
      (r.findings ?? []).map((f) => el('li', {}, f)),
      (r.runs ?? []).length ? el('li', { class: 'meta' }, `${r.runs.length} runs: best ${bestRun(r.runs)}`) : null);
    findingsCard.hidden = findings.childElementCount === 0;
    const src = `/api/jobs/${encodeURIComponent(summary.id)}/report`;
    if (frame.getAttribute('src') !== src) frame.src = src;
    frame.hidden = false;
  }

  function bestRun(runs) {
    const best = [...runs].sort((a, b) => (b.val_accuracy ?? 0) - (a.val_accuracy ?? 0))[0];
    return `${best.name} at ${pct(best.val_accuracy)} (${duration(best.seconds)})`;
  }

  return {
    prefer(id) { preferred = id; },
    async show() {
      const list = await jobs.refresh();
      if (monitor.active) return;
      const compare = list.filter((j) => j.kind === 'compare');
      const pick = compare.find((j) => ACTIVE.includes(j.state)) ?? (monitor.job ? null : compare[0]);
      if (pick && pick.id !== monitor.job?.id) start(pick);
    },
  };
}
