// cohort-web.js: the one script of cohort-web (served at /static/). It
// opens the Server-Sent Events stream /events, shows its state in
// #live-state, and when a document this page shows changes, fetches the page
// again and swaps in its figures (#figures) without a reload.
'use strict';
(function () {
  const state = document.getElementById('live-state');
  if (!state || !window.EventSource) return;
  const topic = document.body.dataset.topic || '';
  const say = (s) => { state.textContent = s; };
  async function refresh() {
    try {
      const r = await fetch(window.location.href, { credentials: 'same-origin', cache: 'no-store' });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const fresh = doc.getElementById('figures');
      const here = document.getElementById('figures');
      if (fresh && here) here.replaceWith(fresh);
    } catch (e) { /* the next update tries again */ }
  }
  say('connecting');
  const es = new EventSource('/events');
  es.onopen = () => say('live');
  es.onerror = () => say(es.readyState === EventSource.CLOSED ? 'not connected' : 'reconnecting');
  es.addEventListener('update', (ev) => {
    if (topic ? ev.data === topic : true) {
      if (topic) refresh(); else window.location.reload();
    }
  });
})();
