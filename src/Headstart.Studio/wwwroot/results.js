// Results: a finished train job's metrics and its report (in a sandboxed frame: the report brings its own confusion
// matrix, per-class table, most-confused pairs and top losses), then the cleaner: an audit job ranks the training
// images by how little a model that never saw them believes their label, and each can be relabelled or excluded.
// Decisions go to a sidecar file next to the dataset (its own files are never touched); a re-train honours them.
import { api, el, clear, errorBox, jobs, fillSelect, trainedJobOptions, field, pct, fixed, duration, thumbUrl, ACTIVE } from './api.js';
import { JobMonitor } from './monitor.js';

const SHOWN = 24;

export function createResultsPage(root) {
  const pick = el('select', { id: 'results-job', testid: 'results-job' });
  const metrics = el('dl', { class: 'metrics', testid: 'metrics' });
  const frame = el('iframe', { class: 'report', title: 'Training report', testid: 'report-frame' });
  const empty = el('p', { class: 'empty', testid: 'results-empty' }, 'No finished training run yet: train one first.');
  const auditButton = el('button', { type: 'button', testid: 'audit-button', onclick: startAudit }, 'Find likely label errors');
  const auditStatus = el('div', { class: 'status', testid: 'audit-status', 'aria-live': 'polite' });
  const auditMonitor = new JobMonitor({ prefix: 'audit', chart: false, onEnd: () => loadAudit() });
  const decisionStatus = el('div', { class: 'status', testid: 'decision-status', 'aria-live': 'polite' });
  const suspects = el('ul', { class: 'suspects', testid: 'suspects', 'aria-label': 'likely label errors' });
  let preferred = null;
  let current = null;      // the selected train job
  let classes = [];
  let decisions = [];      // [{path, action, label?}]
  let decisionsOk = false;
  let token = 0;

  const body = el('div', { class: 'stack', hidden: true },
    el('section', { class: 'card' }, el('h2', {}, 'Report'), frame),
    el('section', { class: 'card cleaner', testid: 'cleaner' },
      el('h2', {}, 'Cleaner'),
      el('p', {}, 'Ranks the training images by how little a model trained without them believes their label (out-of-fold), ',
        'so mislabelled and odd images come first. Relabel or exclude them: the decisions are saved beside the dataset, its files stay as they are, and a re-train honours them.'),
      el('div', { class: 'actions' }, auditButton),
      auditStatus, auditMonitor.node, decisionStatus, suspects));

  root.append(el('div', { class: 'stack' },
    el('section', { class: 'card' }, el('div', { class: 'toolbar' }, field('Training run', pick)), empty, metrics),
    body));

  pick.addEventListener('change', () => select(pick.value));
  jobs.onChange((items) => {
    const options = trainedJobOptions(items);
    const before = pick.value;
    fillSelect(pick, options, preferred ?? before);
    preferred = null;
    empty.hidden = options.length > 0;
    body.hidden = options.length === 0;
    metrics.hidden = options.length === 0;
    if (pick.value && pick.value !== current?.id && root.closest('[data-page]')?.hidden === false) select(pick.value);
  });

  async function select(id) {
    const mine = ++token;
    const job = jobs.items.find((j) => j.id === id);
    if (!job) return;
    current = job;
    const r = job.result ?? {};
    classes = r.classes ?? [];
    clear(metrics,
      metric('Validation accuracy', pct(r.val_accuracy), 'val-accuracy'),
      metric('Macro F1', fixed(r.macro_f1)),
      metric('Classes', classes.length > 8 ? `${classes.length}: ${classes.slice(0, 6).join(', ')}, …` : classes.join(', ') || '–'),
      metric('Model', r.model ?? job.request?.model ?? '–'),
      metric('Images', `${r.train_count ?? '–'} train · ${r.val_count ?? '–'} val`),
      metric('Training time', duration(r.seconds)),
      metric('Recipe', `${job.request?.strategy ?? 'frozen'}, ${job.request?.epochs ?? 25} epochs, augment ${job.request?.augment ?? 'light'}${job.request?.tta ? ', TTA' : ''}`));
    const src = `/api/jobs/${encodeURIComponent(id)}/report`;
    if (frame.getAttribute('src') !== src) frame.src = src;
    clear(auditStatus);
    clear(suspects);
    clear(decisionStatus);
    auditMonitor.detach();
    auditMonitor.node.hidden = true;
    await loadDecisions(mine);
    if (mine !== token) return;
    await loadAudit(mine);
  }

  function metric(name, value, testid) {
    return el('div', { class: name === 'Recipe' || name === 'Classes' ? 'metric wide' : 'metric' }, el('dt', {}, name), el('dd', { testid }, value));
  }

  async function loadDecisions(mine) {
    decisions = [];
    decisionsOk = false;
    try {
      const r = await api(`/api/datasets/${encodeURIComponent(current.dataset)}/decisions`);
      if (mine !== token) return;
      decisions = r?.decisions ?? [];
      decisionsOk = true;
      describeDecisions();
    } catch (e) {
      if (mine !== token) return;
      clear(decisionStatus, errorBox(`Decisions cannot be loaded: ${e.message}`, 'decision-error'));
    }
  }

  function describeDecisions() {
    const ex = decisions.filter((d) => d.action === 'exclude').length;
    const re = decisions.filter((d) => d.action === 'relabel').length;
    clear(decisionStatus, el('p', { class: 'note', testid: 'decision-summary' },
      decisions.length
        ? `${current.dataset}: ${ex} excluded, ${re} relabelled. A re-train of ${current.dataset} honours these decisions; the image files are not touched.`
        : `No decisions for ${current.dataset} yet. A re-train honours what you decide here; the image files are not touched.`));
  }

  /** The latest audit job of the dataset: following it while it runs, its ranking once it succeeded. */
  async function loadAudit(mine = token) {
    if (!current) return;
    const list = await jobs.refresh();
    if (mine !== token) return;
    const audit = list.find((j) => j.kind === 'audit' && j.dataset === current.dataset);
    if (!audit) return;
    if (ACTIVE.includes(audit.state)) {
      if (auditMonitor.job?.id !== audit.id || !auditMonitor.source) auditMonitor.attach(audit);
      auditButton.disabled = true;
      return;
    }
    auditButton.disabled = false;
    if (audit.state !== 'succeeded') {
      clear(auditStatus, errorBox(`The last audit ${audit.state}${audit.error ? `: ${audit.error}` : ''}`));
      return;
    }
    auditMonitor.node.hidden = true;
    renderSuspects(audit);
  }

  async function startAudit() {
    if (!current) return;
    auditButton.disabled = true;
    clear(auditStatus, 'Starting the audit…');
    try {
      const job = await api('/api/jobs', { method: 'POST', json: { kind: 'audit', dataset: current.dataset } });
      clear(auditStatus);
      auditMonitor.attach(job);
    } catch (e) {
      clear(auditStatus, errorBox(`The audit could not start: ${e.message}`, 'audit-error'));
      auditButton.disabled = false;
    }
  }

  function renderSuspects(audit) {
    const r = audit.result ?? {};
    const ranked = r.ranked ?? [];
    const names = r.classes ?? classes;
    const name = (v) => (typeof v === 'number' ? names[v] ?? String(v) : v);
    clear(auditStatus, el('p', { class: 'meta', testid: 'audit-summary' },
      `Audit ${audit.id}: ${r.count ?? ranked.length} training images scored by ${r.folds ?? '?'} out-of-fold heads in ${duration(r.seconds)}; ` +
      `out-of-fold accuracy ${pct(r.out_of_fold_accuracy)}. The ${Math.min(SHOWN, ranked.length)} least believed labels:`));
    clear(suspects, ranked.slice(0, SHOWN).map((s) => suspect({ ...s, label: name(s.label), predicted: name(s.predicted) })));
  }

  function suspect(s) {
    const decided = el('p', { class: 'decided', 'aria-live': 'polite' });
    const relabel = el('select', { id: `relabel-${cssId(s.path)}`, 'aria-label': `new label for ${s.path}` },
      classes.filter((c) => c !== s.label).map((c) => el('option', { value: c }, c)));
    if (classes.includes(s.predicted) && s.predicted !== s.label) relabel.value = s.predicted;
    const item = el('li', { class: s.label !== s.predicted ? 'suspect mismatch' : 'suspect', testid: 'suspect', 'data-path': s.path },
      el('img', { src: thumbUrl(current.dataset, s.path), alt: s.path, loading: 'lazy', width: 120, height: 120 }),
      el('div', { class: 'suspect-body' },
        el('p', { class: 'path', title: s.path }, s.path),
        el('p', {}, 'given ', el('strong', {}, s.label), ` (${pct(s.label_probability)})`),
        el('p', {}, 'predicted ', el('strong', {}, s.predicted), ` (${pct(s.predicted_probability)})`),
        el('p', { class: 'meta' }, `loss ${fixed(s.loss, 2)}`),
        el('div', { class: 'suspect-actions' },
          el('label', { for: relabel.id, class: 'inline' }, 'Relabel as'), relabel,
          el('button', { type: 'button', class: 'secondary small', testid: 'relabel-button', onclick: () => decide(s.path, { path: s.path, action: 'relabel', label: relabel.value }, decided, item) }, 'Relabel'),
          el('button', { type: 'button', class: 'secondary small', testid: 'exclude-button', onclick: () => decide(s.path, { path: s.path, action: 'exclude' }, decided, item) }, 'Exclude'),
          el('button', { type: 'button', class: 'link small', testid: 'undo-button', onclick: () => decide(s.path, null, decided, item) }, 'Undo')),
        decided));
    markDecided(s.path, decided, item);
    return item;
  }

  function markDecided(path, node, item) {
    const d = decisions.find((x) => x.path === path);
    node.textContent = d ? (d.action === 'exclude' ? 'Excluded from training' : `Relabelled as ${d.label}`) : '';
    item.classList.toggle('is-decided', !!d);
  }

  async function decide(path, decision, node, item) {
    if (!decisionsOk) {
      clear(decisionStatus, errorBox('Decisions cannot be saved: the server did not return this dataset\'s decisions', 'decision-error'));
      return;
    }
    const next = decisions.filter((d) => d.path !== path);
    if (decision) next.push(decision);
    try {
      await api(`/api/datasets/${encodeURIComponent(current.dataset)}/decisions`, { method: 'PUT', json: { decisions: next } });
      decisions = next;
      markDecided(path, node, item);
      describeDecisions();
    } catch (e) {
      clear(decisionStatus, errorBox(`Not saved: ${e.message}`, 'decision-error'));
    }
  }

  return {
    prefer(id) { preferred = id; if (jobs.items.some((j) => j.id === id)) { pick.value = id; } },
    show() {
      jobs.refresh().then(() => { if (pick.value && pick.value !== current?.id) select(pick.value); });
    },
  };
}

function cssId(s) {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}
