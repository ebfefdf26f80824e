// Headstart Studio: one page, six tabs (hash routing: #data #train #results #try #compare #jobs). Plain ES modules,
// no framework; the strict Content-Security-Policy allows only scripts and styles from /static/.
import { api, datasets, jobs } from './api.js';
import { createDataPage } from './data.js';
import { createTrainPage } from './train.js';
import { createResultsPage } from './results.js';
import { createTryPage } from './try.js';
import { createComparePage } from './compare.js';
import { createJobsPage } from './jobs.js';

const TABS = ['data', 'train', 'results', 'try', 'compare', 'jobs'];
const pages = {};

/** Opens a tab, optionally preselecting a job there. */
function go(tab, jobId) {
  if (jobId) pages[tab]?.prefer?.(jobId);
  if (location.hash !== `#${tab}`) location.hash = tab;
  else route();
}

const builders = {
  data: createDataPage, train: createTrainPage, results: createResultsPage,
  try: createTryPage, compare: createComparePage, jobs: createJobsPage,
};
for (const tab of TABS) {
  const root = document.querySelector(`[data-page=${tab}]`);
  pages[tab] = builders[tab](root, { go });
}

let current = null;
function route() {
  const tab = TABS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'data';
  for (const t of TABS) {
    const link = document.querySelector(`[data-testid=tab-${t}]`);
    const root = document.querySelector(`[data-page=${t}]`);
    root.hidden = t !== tab;
    if (t === tab) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (current && current !== tab) {
    pages[current].hide?.();
    window.scrollTo(0, 0);
  }
  current = tab;
  document.title = `${document.querySelector(`[data-testid=tab-${tab}]`).textContent} · Headstart Studio`;
  pages[tab].show?.();
}

window.addEventListener('hashchange', route);
datasets.refresh();
jobs.refresh().then(route);

api('/api/health').then((h) => {
  document.querySelector('[data-testid=version]').textContent = `Headstart ${h.version}`;
}).catch((e) => {
  document.querySelector('[data-testid=version]').textContent = `server unreachable: ${e.message}`;
});
