// The page's live link to the server. No polling: the server pushes, the page reacts.
// The socket reconnects with backoff; a "session.ended" message sends the page to the login.
(function () {
  "use strict";
  const path = document.body.dataset.ws;
  if (!path) return;
  const reasons = new Set(["replaced", "expired", "logout", "disabled", "password_reset"]);
  const STATUS_LABELS = { ready: "Ready", paused: "Paused", wrap_up: "Wrap-up", dialling: "Calling",
                          ringing: "Ringing", talking: "Talking", logged_out: "Logged out" };
  let skew = 0; // server time minus this PC's, from the hello of the last connection
  const handlers = {
    "hello": (msg) => { if (typeof msg.now === "number") skew = msg.now - Date.now() / 1000; },
    "session.ended": (msg) => {
      stopped = true;
      const reason = reasons.has(msg.reason) ? msg.reason : "expired";
      window.location.assign("/login?reason=" + encodeURIComponent(reason));
    },
  };
  let socket = null, delay = 500, stopped = false, lastActivity = 0, reported = 0;
  const opened = []; // called on every (re)connection: pages catch up on what they missed
  window.callcentre = {
    on: (type, fn) => { handlers[type] = fn; },
    onOpen: (fn) => { opened.push(fn); },
    now: () => Date.now() / 1000 + skew, // seconds, on the server's clock
    // How every page says an agent's status and a duration.
    statusLabel: (status) => STATUS_LABELS[status] || status,
    mmss: (seconds) => {
      const s = Math.max(0, Math.floor(seconds));
      return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
    },
    send: (m) => socket && socket.readyState === 1 && socket.send(JSON.stringify(m)),
  };
  // Said on the page, not only in an attribute: an agent must know pops may not arrive.
  function live(yes) {
    document.body.dataset.live = yes ? "yes" : "no";
    const banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = yes;
  }

  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    socket = new WebSocket(url);
    socket.onopen = () => { delay = 500; live(true); for (const fn of opened) fn(); };
    socket.onmessage = (event) => {
      let msg; try { msg = JSON.parse(event.data); } catch (e) { return; }
      const fn = handlers[msg.type]; if (fn) fn(msg);
    };
    socket.onclose = (event) => {
      if (stopped) return;
      live(false);
      if (event.code === 1008) { window.location.assign("/login?reason=expired"); return; }
      setTimeout(connect, delay + Math.random() * delay / 2);
      delay = Math.min(delay * 2, 10000);
    };
  }
  // Typing or clicking in a page that stays open counts as activity for the session timeout.
  for (const type of ["keydown", "pointerdown"]) {
    document.addEventListener(type, () => {
      lastActivity = Date.now();
      if (lastActivity - reported > 60000) { reported = lastActivity; window.callcentre.send({ type: "activity" }); }
    }, { passive: true });
  }
  // Page scripts (deferred, after this one) register their handlers first.
  document.addEventListener("DOMContentLoaded", connect);
})();
