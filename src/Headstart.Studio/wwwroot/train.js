// Train: the recipe (model, strategy, head fit, epochs, augmentation, TTA) with sensible defaults, the plan it would run, and
// the live view of the run (stage progress with time left, the epoch curve, the log, Cancel). A reloaded page finds
// the running or queued train job and follows it again.
import { api, el, clear, errorBox, datasets, jobs, selection, fillSelect, field, ACTIVE } from './api.js';
import { JobMonitor } from './monitor.js';

export function createTrainPage(root, { go }) {
  const dataset = el('select', { id: 'train-dataset', testid: 'train-dataset' });
  const model = el('select', { id: 'train-model', testid: 'train-model' });
  const strategy = el('select', { id: 'train-strategy', testid: 'train-strategy' },
    el('option', { value: 'frozen' }, 'frozen: train the new head only (fast)'),
    el('option', { value: 'fine-tune' }, 'fine-tune: head first, then the last layers'),
    el('option', { value: 'full' }, 'full: every layer'));
  const headFit = el('select', { id: 'train-head-fit', testid: 'train-head-fit' },
    el('option', { value: 'auto' }, 'auto (L-BFGS if it applies)'),
    el('option', { value: 'lbfgs' }, 'L-BFGS, L2 by cross-validation'),
    el('option', { value: 'sgd' }, 'SGD by epochs (live curve)'));
  const epochs = el('input', { id: 'train-epochs', type: 'number', min: 1, max: 500, step: 1, value: '25', testid: 'train-epochs', required: true });
  const augment = el('select', { id: 'train-augment', testid: 'train-augment' },
    ['none', 'flip', 'light', 'standard'].map((a) => el('option', { value: a }, a)));
  augment.value = 'light';
  const tta = el('input', { id: 'train-tta', type: 'checkbox', testid: 'train-tta' });
  const modelNote = el('small', { class: 'hint', testid: 'model-description' });
  const planBox = el('div', { class: 'plan', testid: 'plan', 'aria-live': 'polite' });
  const planHint = () => el('p', { class: 'hint' }, 'Show plan lists what Train would run: phases, learning rates, the feature cache.');
  const status = el('div', { class: 'status', testid: 'train-status', 'aria-live': 'polite' });
  const planButton = el('button', { type: 'button', class: 'secondary', testid: 'plan-button', onclick: showPlan }, 'Show plan');
  const trainButton = el('button', { type: 'submit', testid: 'train-button' }, 'Train');
  const resultsLink = el('p', { class: 'next', hidden: true });
  const monitor = new JobMonitor({ prefix: 'train', chart: true, onEnd: ended });
  let models = [];

  const form = el('form', { class: 'card recipe', 'aria-label': 'training recipe' },
    el('h2', {}, 'Recipe'),
    field('Dataset', dataset),
    field('Model', model, null), modelNote,
    field('Strategy', strategy),
    field('Head fit (frozen)', headFit),
    el('div', { class: 'row' },
      field('Epochs', epochs, '1 to 500; SGD heads and fine-tuning'),
      field('Augmentation', augment)),
    el('div', { class: 'check-field' }, tta, el('label', { for: 'train-tta' }, 'Test-time augmentation (average with the mirrored image)')),
    el('div', { class: 'actions' }, planButton, trainButton),
    status);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    startRun();
  });

  root.append(el('div', { class: 'columns' },
    el('aside', { class: 'sidebar' }, form, el('section', { class: 'card' }, el('h2', {}, 'Plan'), planBox)),
    el('div', { class: 'main' },
      monitor.node,
      resultsLink,
      el('p', { class: 'empty', testid: 'train-empty' }, 'Choose a recipe and press Train: the run shows here live.'))));

  datasets.onChange((items) => {
    fillSelect(dataset, items.map((d) => ({ value: d.name, label: `${d.name} (${d.classes.length} classes, ${d.images} images)` })), selection.dataset);
  });
  selection.listeners.add((name) => { if (name && [...dataset.options].some((o) => o.value === name)) dataset.value = name; });
  model.addEventListener('change', describeModel);
  for (const c of [dataset, model, strategy, headFit, epochs, augment, tta]) c.addEventListener('change', () => clear(planBox, planHint()));
  planBox.append(planHint());

  api('/api/models').then((m) => {
    models = m.models ?? [];
    fillSelect(model, models.map((x) => ({ value: x.name, label: x.name === m.default ? `${x.name} (default)` : x.name })), m.default);
    describeModel();
  }).catch((e) => clear(status, errorBox(e)));

  function describeModel() {
    const m = models.find((x) => x.name === model.value);
    modelNote.textContent = m ? `${m.family}: ${m.description}` : '';
  }

  function request() {
    return {
      kind: 'train', dataset: dataset.value, model: model.value || undefined, strategy: strategy.value,
      head_fit: strategy.value === 'frozen' ? headFit.value : undefined,
      epochs: Number(epochs.value), augment: augment.value, tta: tta.checked,
    };
  }

  function valid() {
    if (!dataset.value) { clear(status, errorBox('pick a dataset first (Data tab)')); return false; }
    if (!epochs.checkValidity()) { clear(status, errorBox('epochs must be a whole number from 1 to 500')); epochs.focus(); return false; }
    return true;
  }

  async function showPlan() {
    if (!valid()) return;
    clear(status);
    clear(planBox, el('p', { class: 'status' }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Planning…'));
    try {
      const r = await api('/api/plan', { method: 'POST', json: request() });
      clear(planBox, el('ol', { class: 'plan-lines', testid: 'plan-lines' }, (r.lines ?? []).map((l) => el('li', {}, l))));
    } catch (e) {
      clear(planBox, errorBox(e));
    }
  }

  async function startRun() {
    if (!valid()) return;
    trainButton.disabled = true;
    clear(status, 'Starting…');
    try {
      const job = await api('/api/jobs', { method: 'POST', json: request() });
      clear(status);
      resultsLink.hidden = true;
      root.querySelector('[data-testid=train-empty]').hidden = true;
      monitor.attach(job);
      jobs.refresh();
    } catch (e) {
      clear(status, errorBox(e));
    } finally {
      trainButton.disabled = false;
    }
  }

  function ended(summary) {
    if (summary.state !== 'succeeded') {
      resultsLink.hidden = true;
      return;
    }
    clear(resultsLink, el('a', { href: '#results', class: 'button', testid: 'to-results', onclick: () => go('results', summary.id) }, 'See the results'),
      ' ', el('a', { href: '#try', class: 'button secondary', onclick: () => go('try', summary.id) }, 'Try it'));
    resultsLink.hidden = false;
  }

  /** Follows the running or queued train job, else shows the latest one. */
  async function reattach() {
    if (monitor.active) return;
    const list = await jobs.refresh();
    const train = list.filter((j) => j.kind === 'train');
    const pick = train.find((j) => ACTIVE.includes(j.state)) ?? (monitor.job ? null : train[0]);
    if (pick && pick.id !== monitor.job?.id) {
      root.querySelector('[data-testid=train-empty]').hidden = true;
      monitor.attach(pick);
    }
  }

  return {
    show() {
      reattach();
    },
  };
}
