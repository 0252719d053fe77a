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
    row.append(cell(a.member_name || a.interface), cell(a.interface), cell(a.activity),
               cell(a.device_state), cell(queues), cell(a.linked_id));
    const old = rows.get(a.interface);
    if (old) old.replaceWith(row); else body.append(row);
    rows.set(a.interface, row);
  });
  window.callcentre.on("agent.gone", (msg) => {
    const old = rows.get(msg.interface);
    if (old) { old.remove(); rows.delete(msg.interface); }
  });
})();
