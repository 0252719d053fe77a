// The page's live link to the server. No polling: the server pushes, the page reacts.
// The socket reconnects with backoff; a "session.ended" message sends the page to the login.
(function () {
  "use strict";
  const path = document.body.dataset.ws;
  if (!path) return;
  const reasons = new Set(["replaced", "expired", "logout", "disabled", "password_reset"]);
  const handlers = {
    "session.ended": (msg) => {
      stopped = true;
      const reason = reasons.has(msg.reason) ? msg.reason : "expired";
      window.location.assign("/login?reason=" + encodeURIComponent(reason));
    },
  };
  let socket = null, delay = 500, stopped = false, lastActivity = 0, reported = 0;
  window.callcentre = { on: (type, fn) => { handlers[type] = fn; }, send: (m) => socket && socket.readyState === 1 && socket.send(JSON.stringify(m)) };

  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    socket = new WebSocket(url);
    socket.onopen = () => { delay = 500; document.body.dataset.live = "yes"; };
    socket.onmessage = (event) => {
      let msg; try { msg = JSON.parse(event.data); } catch (e) { return; }
      const fn = handlers[msg.type]; if (fn) fn(msg);
    };
    socket.onclose = (event) => {
      document.body.dataset.live = "no";
      if (stopped) return;
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
