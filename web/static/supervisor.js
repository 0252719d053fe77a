// Supervisor board: one row per agent, replaced whenever the agent's state changes (pushed
// over the websocket; nothing polls). Values are set as text, never as HTML.
(function () {
  "use strict";
  const body = document.querySelector("#agents tbody");
  const rows = new Map();
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  window.callcentre.on("agent.state", (msg) => {
    const a = msg.agent;
    const queues = a.queues.map((q) => q.paused ? q.queue + " (paused" + (q.paused_reason ? ": " + q.paused_reason : "") + ")" : q.queue).join(", ");
    const row = document.createElement("tr");
    row.dataset.interface = a.interface;
    row.dataset.activity = a.activity;
    const since = a.paused_since ? new Date(a.paused_since * 1000).toLocaleTimeString() : "";
    row.append(cell(a.member_name || a.interface), cell(a.interface), cell(a.activity),
               cell(a.device_state), cell(queues), cell(since), cell(a.linked_id));
    const old = rows.get(a.interface);
    // A pause already flagged stays flagged until the agent is no longer paused.
    if (old && old.dataset.overLimit === "yes" && a.paused_since) row.dataset.overLimit = "yes";
    if (old) old.replaceWith(row); else body.append(row);
    rows.set(a.interface, row);
  });
  window.callcentre.on("agent.pause_exceeded", (msg) => {
    const row = rows.get(msg.interface);
    if (!row) return;
    row.dataset.overLimit = "yes";
    row.title = msg.reason + ": paused " + Math.round(msg.paused_seconds / 60) + " min, limit " + Math.round(msg.limit_seconds / 60) + " min";
  });
  window.callcentre.on("agent.gone", (msg) => {
    const old = rows.get(msg.interface);
    if (old) { old.remove(); rows.delete(msg.interface); }
  });
})();
