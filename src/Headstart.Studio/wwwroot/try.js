// Try it: a trained model on the user's own images (dropped, chosen, or a webcam snapshot), each shown with its top
// five classes. Images stay in the browser as object URLs; only the bytes go to the server's predict endpoint.
import { api, el, clear, errorBox, jobs, fillSelect, trainedJobOptions, field, dropZone, pct } from './api.js';
import { bars } from './chart.js';

export function createTryPage(root) {
  const pick = el('select', { id: 'try-job', testid: 'try-job' });
  const status = el('div', { class: 'status', testid: 'try-status', 'aria-live': 'polite' });
  const results = el('ul', { class: 'predictions', testid: 'predictions', 'aria-label': 'predictions' });
  const zone = dropZone({
    id: 'try-input', accept: 'image/*', multiple: true, title: 'Choose images…', testid: 'try-drop', inputTestid: 'try-input',
    hint: 'or drop one or more images here (JPEG, PNG, WebP, BMP, GIF).', onFiles: predict,
  });
  const camera = el('div', { class: 'camera', testid: 'webcam' });
  const clearButton = el('button', { type: 'button', class: 'link', onclick: reset }, 'Clear results');
  let urls = [];
  let preferred = null;
  let stream = null;

  root.append(el('div', { class: 'columns' },
    el('aside', { class: 'sidebar' },
      el('section', { class: 'card' },
        el('h2', {}, 'Model'),
        field('Trained run', pick, 'a finished training job'),
        el('p', { class: 'empty', testid: 'try-empty', hidden: true }, 'No trained model yet: train one first.')),
      el('section', { class: 'card' }, el('h2', {}, 'Images'), zone),
      el('section', { class: 'card' }, el('h2', {}, 'Webcam'), camera)),
    el('div', { class: 'main' },
      el('section', { class: 'card' }, el('div', { class: 'card-head' }, el('h2', {}, 'Predictions'), clearButton), status, results))));

  jobs.onChange((items) => {
    const options = trainedJobOptions(items);
    fillSelect(pick, options, preferred ?? pick.value);
    preferred = null;
    root.querySelector('[data-testid=try-empty]').hidden = options.length > 0;
  });

  setUpCamera();

  function reset() {
    for (const u of urls) URL.revokeObjectURL(u);
    urls = [];
    clear(results);
    clear(status);
  }

  async function predict(files) {
    const images = files.filter((f) => !f.type || f.type.startsWith('image/'));
    if (!pick.value) {
      clear(status, errorBox('No trained model to predict with: train one first.'));
      return;
    }
    if (!images.length) {
      clear(status, errorBox('Those files are not images.'));
      return;
    }
    const form = new FormData();
    for (const f of images) form.append('files', f, f.name || 'image.jpg');
    clear(status, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ` Predicting ${images.length} image${images.length > 1 ? 's' : ''}…`);
    const cards = images.map((f) => {
      const url = URL.createObjectURL(f);
      urls.push(url);
      const body = el('div', { class: 'prediction-body' }, el('p', { class: 'meta' }, 'waiting…'));
      const card = el('li', { class: 'prediction', testid: 'prediction' },
        el('img', { src: url, alt: f.name || 'image', width: 160, height: 160 }), el('div', {}, el('p', { class: 'file' }, f.name || 'image'), body));
      results.prepend(card);
      return body;
    });
    try {
      const answers = await api(`/api/jobs/${encodeURIComponent(pick.value)}/predict`, { method: 'POST', form });
      answers.forEach((a, i) => {
        const body = cards[i];
        if (!body) return;
        if (a.error) {
          clear(body, errorBox(a.error, 'prediction-error'));
          return;
        }
        clear(body,
          el('p', { class: 'label' }, el('strong', { testid: 'prediction-label' }, a.label), ` ${pct(a.probability)}`),
          bars((a.top ?? []).map((t, k) => ({ label: t.label, value: t.probability, text: pct(t.probability), highlight: k === 0 })), { max: 1, testid: 'top5', cls: 'top5' }));
      });
      const shown = results.querySelectorAll('li.prediction').length;
      clear(status, `${answers.length} new prediction${answers.length > 1 ? 's' : ''} by ${pick.value}; ${shown} shown.`);
    } catch (e) {
      for (const body of cards) clear(body, el('p', { class: 'meta' }, 'not predicted'));
      clear(status, errorBox(e));
    }
  }

  function setUpCamera() {
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== 'function') {
      camera.append(el('p', { class: 'note', testid: 'webcam-note' },
        'This browser offers no camera here (it needs a secure page: http://localhost or https). Choose or drop images instead.'));
      return;
    }
    const video = el('video', { autoplay: true, muted: true, playsinline: true, hidden: true, 'aria-label': 'camera preview', width: 320, height: 240 });
    const start = el('button', { type: 'button', class: 'secondary', testid: 'webcam-button', onclick: startCamera }, 'Use the webcam');
    const snap = el('button', { type: 'button', testid: 'webcam-snap', hidden: true, onclick: snapshot }, 'Take a snapshot');
    const stop = el('button', { type: 'button', class: 'link', hidden: true, onclick: stopCamera }, 'Stop the camera');
    const note = el('div', { class: 'status' });
    camera.append(video, el('div', { class: 'actions' }, start, snap, stop), note);

    async function startCamera() {
      clear(note);
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
        video.srcObject = stream;
        video.hidden = false;
        start.hidden = true;
        snap.hidden = false;
        stop.hidden = false;
      } catch (e) {
        clear(note, errorBox(`No camera: ${e.message || e.name}`));
      }
    }

    function stopCamera() {
      if (stream) for (const t of stream.getTracks()) t.stop();
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      start.hidden = false;
      snap.hidden = true;
      stop.hidden = true;
    }

    function snapshot() {
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth || 640;
      canvas.height = video.videoHeight || 480;
      canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob((blob) => {
        if (!blob) { clear(note, errorBox('the snapshot could not be encoded')); return; }
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        predict([new File([blob], `webcam-${stamp}.jpg`, { type: 'image/jpeg' })]);
      }, 'image/jpeg', 0.92);
    }

    // Leaving the page (or the tab) releases the camera.
    window.addEventListener('hashchange', () => { if (location.hash !== '#try') stopCamera(); });
  }

  return {
    prefer(id) { preferred = id; if (jobs.items.some((j) => j.id === id)) pick.value = id; },
    show() { jobs.refresh(); },
  };
}
