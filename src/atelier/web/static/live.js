// Live pages: one WebSocket per page to /api/v1/events/ws (the session cookie signs it in),
// following the topics its [data-live-topic] elements name. An event refreshes each element
// it concerns (data-live-key names the event field that must equal data-live-id): from
// data-live-src, a fragment URL, when the element has one, else the [data-live-field]
// children take the event's fields. The first socket resumes from the newest event the page
// was rendered after (<html data-live-after>), so nothing that commits while the page loads
// is lost; a dropped socket reconnects from the last event id seen.
(function () {
  "use strict";
  const watched = () => document.querySelectorAll("[data-live-topic]");
  if (!watched().length || !("WebSocket" in window)) return;
  const topics = new Set();
  for (const node of watched()) node.dataset.liveTopic.split(/\s+/).forEach((t) => t && topics.add(t));
  const mark = document.documentElement.dataset.liveAfter;
  let last = mark && /^\d+$/.test(mark) ? mark : null;
  let delay = 1000;

  function show(field, value) {
    if (field === "progress" && typeof value === "number") return Math.round(value * 100) + "%";
    return String(value);
  }

  // One fetch at a time per element, at most one a second: events that arrive meanwhile (a
  // burst of likes, a job's progress) make one more fetch after it, not one each.
  const fetching = new Map();
  const GAP_MS = 1000;

  async function refresh(node) {
    if (fetching.has(node)) {
      fetching.set(node, true);
      return;
    }
    fetching.set(node, false);
    const started = Date.now();
    try {
      const answer = await fetch(node.dataset.liveSrc, { credentials: "same-origin" });
      if (answer.ok) node.innerHTML = await answer.text();
    } finally {
      if (fetching.get(node)) {
        setTimeout(() => {
          fetching.delete(node);
          refresh(node);
        }, Math.max(0, GAP_MS - (Date.now() - started)));
      } else {
        fetching.delete(node);
      }
    }
  }

  function apply(event) {
    for (const node of watched()) {
      if (!node.dataset.liveTopic.split(/\s+/).includes(event.topic)) continue;
      const key = node.dataset.liveKey;
      if (key && String(event.data[key]) !== node.dataset.liveId) continue;
      if (node.dataset.liveSrc) {
        refresh(node);
        continue;
      }
      for (const field of node.querySelectorAll("[data-live-field]")) {
        const value = event.data[field.dataset.liveField];
        if (value !== undefined && value !== null) field.textContent = show(field.dataset.liveField, value);
      }
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let url = scheme + "//" + location.host + "/api/v1/events/ws?topics=" +
      encodeURIComponent([...topics].join(","));
    if (last !== null) url += "&after=" + last;
    const socket = new WebSocket(url);
    socket.onopen = () => {
      delay = 1000;
      document.documentElement.dataset.live = "connected";
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (!event.topic) return;
      last = event.id;
      apply(event);
    };
    socket.onclose = () => {
      document.documentElement.dataset.live = "reconnecting";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect();
})();
