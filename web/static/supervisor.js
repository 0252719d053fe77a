// Supervisor board: one row per agent, replaced whenever the agent's state changes (pushed
// over the websocket; nothing polls). Values are set as text, never as HTML. Names, labels and
// mm:ss, not interfaces, codes and epoch seconds.
(function () {
  "use strict";
  const body = document.querySelector("#agents tbody");
  const rows = new Map(); // interface -> {tr, agent}
  const labels = new Map([...document.querySelectorAll("#pause-labels li")].map((li) => [li.dataset.code, li.textContent]));
  const { mmss, statusLabel } = window.callcentre;

  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
  function statusOf(a) {
    if (a.status === "paused") {
      const reason = (a.queues.find((q) => q.paused) || {}).paused_reason || "";
      return "Paused" + (reason ? ": " + (labels.get(reason) || reason) : "");
    }
    return statusLabel(a.status);
  }
  function since(a) { return a.status === "paused" && a.paused_since ? a.paused_since : a.status_since; }

  window.callcentre.on("agent.state", (msg) => {
    const a = msg.agent;
    const tr = document.createElement("tr");
    tr.dataset.interface = a.interface;
    tr.dataset.status = a.status;
    if (a.over_limit) { tr.dataset.overLimit = "yes"; tr.title = "Paused longer than this reason allows"; }
    const queues = a.queues.map((q) => q.queue).join(", ");
    const call = a.call ? (a.call.caller || "outbound call") + (a.call.queue ? " · " + a.call.queue : "") : "";
    const status = cell(statusOf(a) + (a.over_limit ? " (over its limit)" : ""));
    tr.append(cell(a.member_name || "Extension " + a.extension), status, cell(mmss(window.callcentre.now() - since(a)), "clock"), cell(queues), cell(call));
    const old = rows.get(a.interface);
    if (old) old.tr.replaceWith(tr); else body.append(tr);
    rows.set(a.interface, { tr, agent: a });
  });
  window.callcentre.on("agent.pause_exceeded", (msg) => {
    const row = rows.get(msg.interface);
    if (!row) return;
    row.agent.over_limit = true;
    row.tr.dataset.overLimit = "yes";
    row.tr.children[1].textContent = statusOf(row.agent) + " (over its limit)";
    const name = row.agent.member_name || msg.interface;
    document.getElementById("board-announce").textContent = name + " is paused longer than " + Math.round(msg.limit_seconds / 60) + " min allowed.";
  });
  window.callcentre.on("agent.gone", (msg) => {
    const old = rows.get(msg.interface);
    if (old) { old.tr.remove(); rows.delete(msg.interface); }
  });
  // The clocks only update labels; nothing waits on them.
  setInterval(() => {
    for (const { tr, agent } of rows.values()) tr.querySelector(".clock").textContent = mmss(window.callcentre.now() - since(agent));
  }, 1000);
})();
