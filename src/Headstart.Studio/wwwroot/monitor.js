// The live view of one job (Train, Compare, the cleaner): its state, the current stage with a progress bar and time
// left, the epoch curve, the log of info and warning lines, and a Cancel button. It follows the job's Server-Sent
// Events: the server replays everything so far on connect (a reloaded page redraws the curve) and EventSource
// reconnects by itself with Last-Event-ID after a network hiccup.
import { api, el, clear, badge, duration, fixed, num, errorBox, jobs, ACTIVE } from './api.js';
import { CurveChart } from './chart.js';

export class JobMonitor {
  /** prefix: the data-testid prefix; chart: draw the epoch curve; onEnd(summary): called once the job ended. */
  constructor({ prefix = 'job', chart = true, onEnd } = {}) {
    this.prefix = prefix;
    this.onEnd = onEnd;
    this.source = null;
    this.job = null;
    this.epochs = [];
    this.title = el('h3', { class: 'job-title' }, 'No job yet');
    this.state = el('span', { testid: `${prefix}-state` });
    this.cancel = el('button', { type: 'button', class: 'danger', testid: `${prefix}-cancel`, disabled: true, onclick: () => this.doCancel() }, 'Cancel');
    this.stage = el('span', { class: 'stage-name', testid: `${prefix}-stage` }, 'waiting');
    this.progress = el('progress', { max: 1, value: 0, testid: `${prefix}-progress`, 'aria-label': 'stage progress' });
    this.eta = el('span', { class: 'eta', testid: `${prefix}-eta` });
    this.chart = chart ? new CurveChart({ testid: `${prefix}-curve` }) : null;
    this.log = el('ol', { class: 'log', testid: `${prefix}-log`, 'aria-live': 'polite' });
    this.message = el('div', { class: 'job-message' });
    this.node = el('section', { class: 'monitor card', hidden: true, 'aria-label': 'job progress' },
      el('div', { class: 'monitor-head' }, this.title, this.state, this.cancel),
      el('div', { class: 'stage' }, this.stage, this.progress, this.eta),
      this.message,
      this.chart?.node,
      el('details', { class: 'log-box', open: true }, el('summary', {}, 'Log'), this.log));
  }

  get active() {
    return this.job && ACTIVE.includes(this.job.state);
  }

  /** Follows job (a summary); replays its events from the start. */
  attach(job) {
    this.detach();
    this.job = { ...job };
    this.epochs = [];
    this.ended = false;
    this.node.hidden = false;
    this.title.textContent = `${job.kind} ${job.id} · ${job.dataset}`;
    clear(this.log);
    clear(this.message);
    this.setState(job.state);
    this.setStage('waiting', 0, 1);
    this.eta.textContent = '';
    this.phase = 0;          // index of the training phase the last epoch belonged to
    this.offset = 0;         // epochs of the earlier phases
    this.lastEpoch = null;
    this.plan = null;        // [{name, epochs}] of the run's plan, when known
    this.redraw();
    if (job.kind === 'train' && this.chart) {
      // The plan names the phases (fine-tune: the head first, then the unfrozen layers), each counting its own epochs.
      api('/api/plan', { method: 'POST', json: job.request }).then((r) => {
        if (this.job?.id !== job.id) return;
        this.plan = (r.plan?.phases ?? []).map((p) => ({ name: p.name, epochs: p.epochs }));
        this.redraw();
      }).catch(() => { /* the dataset may be gone: the curve goes without phase names */ });
    }
    const es = new EventSource(`/api/jobs/${encodeURIComponent(job.id)}/events`);
    this.source = es;
    const on = (type, fn) => es.addEventListener(type, (e) => {
      if (this.source !== es) return;
      let data = {};
      try { data = JSON.parse(e.data || '{}'); } catch { /* keep {} */ }
      fn(data);
    });
    on('state', (d) => {
      this.setState(d.state);
      if (d.state === 'queued' && d.position > 1) this.setStage(`queued (${d.position - 1} ahead)`, 0, 1);
      if (d.error) this.line('error', d.error);
      if (d.result) this.job.result = d.result;
    });
    on('info', (d) => this.line('info', d.message));
    on('warning', (d) => this.line('warning', d.message));
    on('stage', (d) => this.setStage(d.name, 0, d.total));
    on('progress', (d) => {
      const name = this.stageName(d.stage);
      if (name !== this.stage.textContent) this.stageStarted = performance.now();
      this.setStage(name, d.done, d.total);
      const bits = [];
      const eta = d.eta ?? this.estimate(d);
      if (eta !== undefined && eta !== null) bits.push(`${eta < 1 ? 'under a second' : `about ${duration(eta)}`} left${name.includes('(phase ') ? ' in this phase' : ''}`);
      if (d.elapsed !== undefined) bits.push(`${duration(d.elapsed)} so far`);
      if (d.loss !== undefined) bits.push(`loss ${fixed(d.loss)}`);
      this.eta.textContent = bits.join(' · ');
    });
    on('stage_end', (d) => {
      this.line('info', `${d.name}: done in ${duration(d.seconds)}`);
      this.eta.textContent = '';
    });
    on('epoch', (d) => this.addEpoch(d));
    on('end', () => this.finish());
    es.addEventListener('error', () => {
      // EventSource retries by itself while the server is reachable; a closed source means it gave up.
      if (this.source === es && es.readyState === EventSource.CLOSED && !this.ended) {
        this.message.replaceChildren(errorBox('lost the connection to the job\'s event stream; reload the page to reconnect'));
      }
    });
  }

  /** Whether an "epoch N of M" starts a new phase: its count restarted, or its total changed. */
  isNewPhase(epoch, epochs) {
    const last = this.lastEpoch;
    return !!last && (epoch <= last.epoch || epochs !== last.epochs);
  }

  addEpoch(d) {
    if (this.isNewPhase(d.epoch, d.epochs)) {
      this.offset += this.lastEpoch.epoch;
      this.phase += 1;
    }
    this.lastEpoch = d;
    const x = this.offset + d.epoch;
    this.epochs = this.epochs.filter((r) => r.x !== x).concat([{ ...d, x, phase: this.phase }]);
    this.redraw();
  }

  redraw() {
    if (!this.chart) return;
    const plan = this.plan && this.plan.length ? this.plan : null;
    const phases = [];
    let maxX;
    if (plan) {
      let start = 0;
      for (const p of plan) {
        phases.push({ name: p.name, start });
        start += p.epochs;
      }
      maxX = start;
    } else {
      maxX = this.lastEpoch ? this.offset + (this.lastEpoch.epochs ?? this.lastEpoch.epoch) : this.job?.request?.epochs;
    }
    this.chart.update(this.epochs, { maxX, phases: plan && plan.length > 1 ? phases : [] });
  }

  /** "epoch 3 of 400" as the page shows it: with its phase when the plan has several. */
  stageName(stage) {
    const m = /^epoch (\d+) of (\d+)$/.exec(stage || '');
    if (!m || !this.plan || this.plan.length < 2) return stage;
    const i = Math.min(this.plan.length - 1, this.phase + (this.isNewPhase(Number(m[1]), Number(m[2])) ? 1 : 0));
    return `${this.plan[i].name} (phase ${i + 1} of ${this.plan.length}): ${stage}`;
  }

  /**
   * Time left of a training run, for the per-batch progress of "epoch N of M" (which carries no ETA): the mean of
   * the last epochs' seconds, or before the first one ends, the current epoch's pace so far.
   */
  estimate(d) {
    const m = /^epoch (\d+) of (\d+)$/.exec(d.stage || '');
    if (!m || !d.total) return null;
    if (this.isNewPhase(Number(m[1]), Number(m[2]))) return null;
    const epoch = Number(m[1]), epochs = Number(m[2]);
    const recent = this.epochs.filter((r) => r.phase === this.phase).map((r) => num(r.seconds)).filter((v) => v !== null).slice(-3);
    let perEpoch = recent.length ? recent.reduce((a, v) => a + v, 0) / recent.length : null;
    if (perEpoch === null) {
      const elapsed = (performance.now() - (this.stageStarted ?? performance.now())) / 1000;
      if (!d.done || elapsed <= 0) return null;
      perEpoch = (elapsed * d.total) / d.done;
    }
    return perEpoch * Math.max(0, epochs - epoch + 1 - d.done / d.total);
  }

  detach() {
    if (this.source) this.source.close();
    this.source = null;
  }

  async finish() {
    this.detach();
    if (this.ended) return;
    this.ended = true;
    let summary = this.job;
    try {
      summary = await api(`/api/jobs/${encodeURIComponent(this.job.id)}`);
    } catch (e) {
      this.message.replaceChildren(errorBox(e));
    }
    this.job = summary;
    this.setState(summary.state);
    if (summary.state === 'succeeded') this.setStage('done', 1, 1);
    else this.setStage(summary.state, 0, 1);
    this.eta.textContent = '';
    if (summary.error) this.message.replaceChildren(errorBox(summary.error, `${this.prefix}-error`));
    if (this.chart && summary.epochs?.length && !this.epochs.length) for (const e of summary.epochs) this.addEpoch(e);
    jobs.refresh();
    this.onEnd?.(summary);
  }

  setState(state) {
    if (!state) return;
    this.job.state = state;
    clear(this.state, badge(state));
    this.state.dataset.state = state;
    this.cancel.disabled = !ACTIVE.includes(state);
    this.cancel.hidden = !ACTIVE.includes(state);
  }

  setStage(name, done, total) {
    this.stage.textContent = name;
    this.progress.max = Math.max(1, total || 1);
    this.progress.value = Math.min(done || 0, this.progress.max);
    this.progress.setAttribute('aria-valuetext', total ? `${done} of ${total}` : '');
  }

  line(kind, message) {
    const time = new Date().toLocaleTimeString();
    this.log.append(el('li', { class: `log-${kind}` }, el('span', { class: 'log-kind' }, kind), ' ', message));
    while (this.log.childElementCount > 300) this.log.firstElementChild.remove();
    this.log.lastElementChild.title = time;
    this.log.scrollTop = this.log.scrollHeight;
  }

  async doCancel() {
    if (!this.job) return;
    this.cancel.disabled = true;
    try {
      await api(`/api/jobs/${encodeURIComponent(this.job.id)}/cancel`, { method: 'POST' });
      this.line('info', 'cancelling: the job stops at its next batch');
    } catch (e) {
      this.message.replaceChildren(errorBox(e));
    }
  }
}
