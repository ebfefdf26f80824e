// Jobs: the history of this server's jobs, newest first, refreshed every 2 s while one is queued or running.
import { el, clear, errorBox, badge, jobs, when, pct, duration, ACTIVE } from './api.js';

export function createJobsPage(root, { go }) {
  const tbody = el('tbody', {});
  const status = el('div', { class: 'status', 'aria-live': 'polite' });
  const refreshed = el('span', { class: 'meta', testid: 'jobs-refreshed' });
  let timer = null;
  let visible = false;

  root.append(el('section', { class: 'card' },
    el('div', { class: 'card-head' },
      el('h2', {}, 'Jobs'),
      el('div', {}, refreshed, ' ', el('button', { type: 'button', class: 'secondary small', testid: 'jobs-refresh', onclick: () => jobs.refresh() }, 'Refresh'))),
    status,
    el('div', { class: 'table-wrap' },
      el('table', { class: 'jobs', testid: 'jobs-table' },
        el('caption', { class: 'visually-hidden' }, 'Jobs of this server, newest first'),
        el('thead', {}, el('tr', {}, ['Job', 'Kind', 'Dataset', 'State', 'Created', 'Took', 'Accuracy', 'Links'].map((h) => el('th', { scope: 'col' }, h)))),
        tbody))));

  jobs.onChange((items, error) => {
    clear(status, error ? errorBox(error) : null);
    refreshed.textContent = `updated ${new Date().toLocaleTimeString()}`;
    clear(tbody, items.length ? items.map(row) : el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No job yet.')));
    schedule(items);
  });

  function row(j) {
    const took = j.started && j.finished ? (new Date(j.finished) - new Date(j.started)) / 1000 : null;
    const accuracy = j.kind === 'train' ? pct(j.result?.val_accuracy)
      : j.kind === 'compare' && j.result?.runs?.length ? `best ${pct(Math.max(...j.result.runs.map((r) => r.val_accuracy ?? 0)))}`
        : j.kind === 'audit' && j.result ? `out-of-fold ${pct(j.result.out_of_fold_accuracy)}` : '–';
    const links = [];
    if (j.has_output && j.kind === 'train') {
      links.push(el('a', { href: '#results', onclick: () => go('results', j.id) }, 'results'));
      links.push(el('a', { href: `/api/jobs/${encodeURIComponent(j.id)}/report`, target: '_blank', rel: 'noopener' }, 'report'));
      links.push(el('a', { href: `/api/jobs/${encodeURIComponent(j.id)}/bundle.zip`, download: `headstart-${j.id}.zip` }, 'bundle'));
      links.push(el('a', { href: `/api/jobs/${encodeURIComponent(j.id)}/model.onnx`, download: `headstart-${j.id}.onnx` }, 'onnx'));
    } else if (j.has_output && j.kind === 'compare') {
      links.push(el('a', { href: `/api/jobs/${encodeURIComponent(j.id)}/report`, target: '_blank', rel: 'noopener' }, 'comparison'));
    } else if (j.kind === 'audit' && j.state === 'succeeded') {
      links.push(el('a', { href: '#results' }, 'cleaner'));
    } else if (ACTIVE.includes(j.state)) {
      links.push(el('a', { href: j.kind === 'compare' ? '#compare' : j.kind === 'audit' ? '#results' : '#train' }, 'follow'));
    }
    return el('tr', { testid: 'job-row', 'data-id': j.id, 'data-state': j.state },
      el('td', {}, el('code', {}, j.id)),
      el('td', {}, j.kind),
      el('td', {}, j.dataset),
      el('td', {}, badge(j.state), j.error ? el('div', { class: 'row-error', title: j.error }, j.error) : null),
      el('td', {}, when(j.created)),
      el('td', {}, took === null ? '–' : duration(took)),
      el('td', {}, accuracy),
      el('td', { class: 'links' }, links.flatMap((l, i) => (i ? [' · ', l] : [l]))));
  }

  function schedule(items) {
    clearTimeout(timer);
    timer = null;
    if (visible && items.some((j) => ACTIVE.includes(j.state))) timer = setTimeout(() => jobs.refresh(), 2000);
  }

  return {
    show() { visible = true; jobs.refresh(); },
    hide() { visible = false; clearTimeout(timer); timer = null; },
  };
}
