// Data: the datasets under the server's data root, a zip upload (file picker or drag and drop), the check report of
// the selected dataset (counts per class, issues by group and severity) and a thumbnail grid per class.
import { api, el, clear, errorBox, badge, datasets, selection, thumbUrl, dropZone, field } from './api.js';
import { bars } from './chart.js';

/** Issue kinds (snake_case of Headstart.Data.IssueKind) grouped as the page shows them. */
const GROUPS = [
  { title: 'Unreadable files', kinds: ['undecodable', 'non_image', 'unlisted'] },
  { title: 'Duplicates and leaks', kinds: ['duplicate', 'duplicate_across_splits', 'conflicting_labels'] },
  { title: 'Balance and size', kinds: ['class_imbalance', 'too_few_images', 'empty_class', 'missing_from_split', 'no_validation', 'too_few_classes'] },
  { title: 'Image format', kinds: ['tiny', 'huge', 'grayscale', 'cmyk', 'alpha', 'animated'] },
];

const THUMBS_PER_CLASS = 24;

export function createDataPage(root) {
  let token = 0;
  let shown = null;    // the dataset whose report the page shows
  const list = el('ul', { class: 'dataset-list', testid: 'dataset-list', 'aria-label': 'datasets' });
  const listStatus = el('div', { class: 'status' });
  const uploadName = el('input', { id: 'upload-name', type: 'text', placeholder: 'from the zip\'s file name', testid: 'upload-name', autocomplete: 'off' });
  const uploadStatus = el('div', { class: 'status', testid: 'upload-status', 'aria-live': 'polite' });
  const zone = dropZone({
    id: 'upload-input', accept: '.zip,application/zip', title: 'Choose a zip…', testid: 'upload-drop', inputTestid: 'upload-input',
    hint: 'or drop a zip here: an ImageFolder (train/ and val/ with a folder per class, or a folder per class).',
    onFiles: (files) => upload(files[0]),
  });
  const detail = el('div', { class: 'dataset-detail', testid: 'dataset-detail' },
    el('p', { class: 'empty' }, 'Pick a dataset on the left, or upload one.'));

  root.append(
    el('div', { class: 'columns' },
      el('aside', { class: 'sidebar' },
        el('section', { class: 'card' },
          el('h2', {}, 'Datasets'),
          el('p', { class: 'hint' }, 'Folders under the server\'s data root.'),
          listStatus, list),
        el('section', { class: 'card' },
          el('h2', {}, 'Upload'),
          zone,
          field('Dataset name', uploadName, 'letters, digits, - _ .'),
          uploadStatus)),
      detail));

  datasets.onChange((items, error) => {
    clear(listStatus, error ? errorBox(error) : null);
    clear(list, items.map((d) => el('li', {},
      el('button', {
        type: 'button', class: 'dataset-item', testid: 'dataset-item', 'data-name': d.name,
        'aria-pressed': String(d.name === selection.dataset), onclick: () => select(d.name),
      },
      el('span', { class: 'name' }, d.name),
      el('span', { class: 'meta' }, `${d.classes.length} classes · ${d.images} images`)))));
    if (!items.length && !error) list.append(el('li', { class: 'empty' }, 'No dataset yet: upload a zip.'));
    if (items.some((d) => d.name === selection.dataset)) {
      if (shown !== selection.dataset) show(selection.dataset);
    } else if (items.length) {
      select(items[0].name);
    }
  });

  selection.listeners.add((name) => {
    for (const b of list.querySelectorAll('button.dataset-item')) b.setAttribute('aria-pressed', String(b.dataset.name === name));
    show(name);
  });

  function select(name) {
    selection.setDataset(name);
  }

  async function upload(file) {
    if (!file) return;
    if (!/\.zip$/i.test(file.name)) {
      clear(uploadStatus, errorBox(`'${file.name}' is not a .zip file`));
      return;
    }
    const form = new FormData();
    form.append('file', file, file.name);
    if (uploadName.value.trim()) form.append('name', uploadName.value.trim());
    clear(uploadStatus, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ` Uploading ${file.name} (${(file.size / 1048576).toFixed(1)} MB)…`);
    try {
      const r = await api('/api/datasets', { method: 'POST', form });
      clear(uploadStatus, el('p', { class: 'ok' }, `Added '${r.name}': ${r.files} files.`));
      uploadName.value = '';
      await datasets.refresh();
      select(r.name);
    } catch (e) {
      clear(uploadStatus, errorBox(e));
    }
  }

  async function show(name) {
    const mine = ++token;
    if (!name) return;
    shown = name;
    const info = datasets.items.find((d) => d.name === name);
    const report = el('div', { class: 'check', testid: 'check-report', 'aria-busy': 'true' },
      el('p', { class: 'status' }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Checking every file…'));
    const thumbs = el('div', { class: 'thumbs', testid: 'thumbs' });
    clear(detail,
      el('section', { class: 'card' },
        el('h2', { testid: 'dataset-title' }, name),
        info ? el('p', { class: 'meta' }, `${info.layout === 'folders' ? 'train/ and val/ folders' : 'one folder per class (a validation split is drawn)'} · ${info.classes.length} classes · ${info.images} images`) : null,
        report),
      el('section', { class: 'card' }, el('h2', {}, 'Images'), thumbs));

    try {
      const r = await api(`/api/datasets/${encodeURIComponent(name)}/check`);
      if (mine !== token) return;
      renderReport(report, r);
    } catch (e) {
      if (mine !== token) return;
      clear(report, errorBox(e));
    }
    report.removeAttribute('aria-busy');

    const classes = info?.classes ?? [];
    for (const c of classes) {
      const grid = el('ul', { class: 'thumb-grid', 'aria-label': `images of ${c.name}` });
      thumbs.append(el('h3', {}, `${c.name} `, el('span', { class: 'meta' }, `${c.train + c.val} images`)), grid);
      api(`/api/datasets/${encodeURIComponent(name)}/images?class=${encodeURIComponent(c.name)}&max=${THUMBS_PER_CLASS}`)
        .then((paths) => {
          if (mine !== token) return;
          clear(grid, paths.map((p) => el('li', {},
            el('img', { src: thumbUrl(name, p), loading: 'lazy', alt: p, title: p, width: 96, height: 96, testid: 'thumb', decoding: 'async' }))));
          if (c.train + c.val > paths.length) grid.append(el('li', { class: 'more' }, `+${c.train + c.val - paths.length} more`));
        })
        .catch((e) => { if (mine === token) clear(grid, el('li', {}, errorBox(e))); });
    }
  }

  function renderReport(node, r) {
    const issues = r.issues ?? [];
    const counts = { fatal: 0, warning: 0, info: 0 };
    for (const i of issues) counts[i.severity] = (counts[i.severity] ?? 0) + 1;
    const verdictText = { ok: 'ready to train', warnings: 'trainable, with warnings', fatal: 'not trainable as is' }[r.verdict] ?? r.verdict;
    const rows = (r.classes ?? []).map((c) => el('tr', {},
      el('th', { scope: 'row' }, c.name), el('td', {}, String(c.train)), el('td', {}, String(c.val)), el('td', {}, String(c.train + c.val))));
    const total = (r.classes ?? []).reduce((a, c) => a + c.train + c.val, 0);
    clear(node,
      el('p', { class: 'verdict', testid: 'check-verdict' }, badge(r.verdict), ' ', verdictText,
        el('span', { class: 'meta' }, ` · ${r.images} readable images of ${r.files} files · ${counts.fatal} fatal, ${counts.warning} warnings, ${counts.info} notes`)),
      el('div', { class: 'check-grid' },
        el('table', { class: 'counts', testid: 'class-counts' },
          el('caption', {}, 'Images per class'),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'class'), el('th', { scope: 'col' }, 'train'), el('th', { scope: 'col' }, 'val'), el('th', { scope: 'col' }, 'total'))),
          el('tbody', {}, rows),
          el('tfoot', {}, el('tr', {}, el('th', { scope: 'row' }, 'all'), el('td', {}, String((r.classes ?? []).reduce((a, c) => a + c.train, 0))),
            el('td', {}, String((r.classes ?? []).reduce((a, c) => a + c.val, 0))), el('td', {}, String(total))))),
        bars((r.classes ?? []).map((c) => ({ label: c.name, value: c.train + c.val, text: String(c.train + c.val) })), { testid: 'class-bars' })),
      renderIssues(issues));
  }

  function renderIssues(issues) {
    if (!issues.length) return el('p', { class: 'ok', testid: 'issues' }, 'No issues found.');
    const known = new Set(GROUPS.flatMap((g) => g.kinds));
    const groups = [...GROUPS, { title: 'Other', kinds: [...new Set(issues.map((i) => i.kind).filter((k) => !known.has(k)))] }];
    const order = { fatal: 0, warning: 1, info: 2 };
    return el('div', { class: 'issues', testid: 'issues' }, groups.map((g) => {
      const mine = issues.filter((i) => g.kinds.includes(i.kind)).sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
      if (!mine.length) return null;
      return el('section', { class: 'issue-group' },
        el('h3', {}, `${g.title} (${mine.length})`),
        el('ul', {}, mine.map((i) => el('li', { class: `issue sev-${i.severity}`, testid: 'issue', 'data-kind': i.kind },
          el('span', { class: `sev sev-${i.severity}` }, i.severity), ' ', i.message,
          i.paths?.length ? el('details', {}, el('summary', {}, `${i.paths.length} file${i.paths.length > 1 ? 's' : ''}`),
            el('ul', { class: 'paths' }, i.paths.slice(0, 50).map((p) => el('li', {}, el('code', {}, p))),
              i.paths.length > 50 ? el('li', {}, `… and ${i.paths.length - 50} more`) : null)) : null))));
    }));
  }

  return {
    show() {
      datasets.refresh();
    },
  };
}
