// Shared helpers of Headstart Studio's pages: the API client, DOM building (never innerHTML: every server string goes
// through textContent), formatting, and the shared lists (datasets, jobs) that several tabs show.

/** Calls the API; resolves to the parsed JSON body, or throws an Error with the server's {"error"} message. */
export async function api(path, { method = 'GET', json, form } = {}) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (form) {
    init.body = form;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}); is 'headstart serve' still running?`);
  }
  const text = await res.text();
  let body = null;
  if (text) {
    try { body = JSON.parse(text); } catch { body = text; }
  }
  if (!res.ok) {
    const message = body && typeof body === 'object' && body.error ? body.error : `${res.status} ${res.statusText}`;
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return body;
}

/**
 * Creates an element. props: class, text, testid, for, on<Event> (a function), and plain attributes (true sets an
 * empty attribute, false/null/undefined skips it). Children: nodes or strings (as text), nested arrays, null skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = String(v);
    else if (k === 'testid') node.dataset.testid = v;
    else if (k === 'for') node.htmlFor = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'value' && 'value' in node) node.value = v;
    else if (k === 'style') throw new Error('no style attributes (CSP): set element.style from code');
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes (class and data-testid included). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k === 'testid') node.setAttribute('data-testid', v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

/** Replaces a node's children. */
export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** An error box (role=alert) with the message. */
export function errorBox(err, testid = 'error') {
  const message = err instanceof Error ? err.message : String(err);
  return el('div', { class: 'error', role: 'alert', testid }, message);
}

export function num(v) {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

export function pct(v, digits = 1) {
  const n = num(v);
  return n === null ? '–' : `${(n * 100).toFixed(digits)}%`;
}

export function fixed(v, digits = 3) {
  const n = num(v);
  return n === null ? '–' : n.toFixed(digits);
}

/** Seconds as "12 s", "3 min 4 s", "1 h 2 min". */
export function duration(v) {
  const s = num(v);
  if (s === null) return '–';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export const ACTIVE = ['queued', 'running'];

/** A coloured badge for a job state or a verdict. */
export function badge(state, testid) {
  return el('span', { class: `badge badge-${state}`, testid }, state);
}

export function thumbUrl(dataset, path) {
  return `/api/datasets/${encodeURIComponent(dataset)}/thumbnail?path=${encodeURIComponent(path)}`;
}

/** A list shared by several tabs: refreshed from the server, subscribers told on change. */
class Shared {
  constructor(path) {
    this.path = path;
    this.items = [];
    this.error = null;
    this.listeners = new Set();
    this.loaded = false;
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async refresh() {
    try {
      this.items = await api(this.path);
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    this.loaded = true;
    for (const fn of this.listeners) fn(this.items, this.error);
    return this.items;
  }
}

export const datasets = new Shared('/api/datasets');
export const jobs = new Shared('/api/jobs');

/** The dataset the user picked last (Data tab), used as the default elsewhere. */
export const selection = {
  dataset: stored('headstart.dataset'),
  listeners: new Set(),
  setDataset(name) {
    if (this.dataset === name) return;
    this.dataset = name;
    try { localStorage.setItem('headstart.dataset', name); } catch { /* storage off: not remembered */ }
    for (const fn of this.listeners) fn(name);
  },
};

function stored(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

/** Fills a <select> with options [{value, label}], keeping the current value when it still exists. */
export function fillSelect(select, options, preferred) {
  const current = preferred ?? select.value;
  clear(select, options.map((o) => el('option', { value: o.value }, o.label)));
  if (options.some((o) => o.value === current)) select.value = current;
  else if (options.length) select.value = options[0].value;
  select.disabled = options.length === 0;
}

/** Train jobs that succeeded, newest first, as select options. */
export function trainedJobOptions(list) {
  return list
    .filter((j) => j.kind === 'train' && j.state === 'succeeded' && j.has_output)
    .map((j) => ({ value: j.id, label: `${j.id} · ${j.dataset} · ${pct(j.result?.val_accuracy)}` }));
}

/** A labelled form field: <div class=field><label for=id>text</label>control</div>. */
export function field(label, control, hint) {
  return el('div', { class: 'field' },
    el('label', { for: control.id }, label),
    control,
    hint ? el('small', { class: 'hint' }, hint) : null);
}

/** A drop zone around a file input: click/keyboard opens the picker, files dropped or chosen go to onFiles. */
export function dropZone({ id, accept, multiple, title, hint, testid, inputTestid, onFiles }) {
  const input = el('input', { type: 'file', id, accept, multiple, class: 'visually-hidden', testid: inputTestid });
  const zone = el('div', { class: 'dropzone', testid },
    input,
    el('label', { for: id, class: 'button secondary' }, title),
    el('p', { class: 'hint' }, hint));
  input.addEventListener('change', () => {
    if (input.files && input.files.length) onFiles([...input.files]);
    input.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = e.dataTransfer ? [...e.dataTransfer.files] : [];
    if (files.length) onFiles(files);
  });
  return zone;
}
