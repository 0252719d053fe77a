// A campaign's page and the do-not-call page: list and register uploads (the file goes up as the
// request body, with the CSRF header), and the campaign's live panel, fed by the supervisors'
// websocket ("campaign.state" once a second from the dialer, "agent.state" as agents change).
// Nothing polls; values are set as text, never as HTML.
(function () {
  "use strict";
  const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  const cc = window.callcentre;

  function text(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }
  function cell(value, cls) { const td = document.createElement("td"); td.textContent = value; if (cls) td.className = cls; return td; }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // ---------------------------------------------------------------- uploads
  function summaryOf(kind, body) {
    if (kind === "dnc") {
      return plural(body.added, "number added", "numbers added") + ", " + body.already + " already listed, " +
        plural(body.marked, "waiting list entry", "waiting list entries") + " set aside, " + body.rejected + " refused.";
    }
    let words = plural(body.added, "entry added", "entries added") + ", " + body.merged + " merged into entries already listed";
    if (body.dnc) words += ", " + body.dnc + " on the do-not-call register (not called)";
    return words + ", " + plural(body.rejected, "row", "rows") + " refused.";
  }

  async function refreshSummary(campaignId) {
    try {
      const response = await fetch("/api/v1/campaigns/" + campaignId + "/list", { credentials: "same-origin" });
      if (!response.ok) return;
      const summary = await response.json();
      for (const [state, count] of Object.entries(summary.by_state)) {
        const td = document.querySelector('#list-summary td[data-state="' + state + '"]');
        if (td) td.textContent = count;
      }
      for (const name of ["total", "due_now", "scheduled"]) {
        const td = document.querySelector('#list-summary td[data-count="' + name + '"]');
        if (td) td.textContent = summary[name];
      }
      text("live-remaining", summary.remaining);
      text("live-total", summary.total);
    } catch (error) { /* the figures stay as they were; the next change tries again */ }
  }

  for (const form of document.querySelectorAll("form[data-upload]")) {
    const result = document.getElementById(form.id + "-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) return;
      result.textContent = "Uploading " + file.name + " …";
      const type = file.name.toLowerCase().endsWith(".xlsx") ? XLSX : "text/csv";
      try {
        const response = await fetch(form.dataset.upload + "?filename=" + encodeURIComponent(file.name), {
          method: "POST", body: file, credentials: "same-origin",
          headers: { "Content-Type": type, "X-CSRF-Token": form.dataset.csrf },
        });
        const body = await response.json();
        if (!response.ok) {
          result.dataset.outcome = "refused";
          result.textContent = (body.fields && body.fields.file) || body.message || "The upload failed.";
          return;
        }
        result.dataset.outcome = "done";
        result.replaceChildren();
        const summary = document.createElement("p");
        summary.textContent = summaryOf(form.dataset.kind, body);
        result.append(summary);
        if (body.rejected) {
          const link = document.createElement("a");
          link.href = body.report;
          link.id = form.id + "-report";
          link.textContent = "Download the refused rows and why";
          result.append(link);
        }
        const live = document.getElementById("live");
        if (live) refreshSummary(live.dataset.campaignId);
      } catch (error) { result.textContent = "The upload failed: " + error.message; }
    });
  }

  // ---------------------------------------------------------------- the what-if
  const whatIf = document.getElementById("what-if-form");
  if (whatIf) {
    const out = document.getElementById("what-if-result");
    const row = (label, ours, base) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.scope = "row"; th.textContent = label;
      tr.append(th, cell(ours), cell(base));
      return tr;
    };
    whatIf.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(whatIf);
      out.textContent = "Simulating…";
      const body = {
        agents: Number(form.get("agents")), minutes: Number(form.get("minutes")),
        changes: { mode: form.get("mode"), abandon_cap: form.get("abandon_cap") },
      };
      try {
        const response = await fetch("/api/v1/campaigns/" + whatIf.dataset.campaignId + "/what-if", {
          method: "POST", credentials: "same-origin", body: JSON.stringify(body),
          headers: { "Content-Type": "application/json", "X-CSRF-Token": whatIf.dataset.csrf },
        });
        const data = await response.json();
        if (!response.ok) {
          out.textContent = (data.fields && Object.values(data.fields)[0]) || data.message || "The simulation failed.";
          return;
        }
        const s = data.settings, p = data.progressive, h = data.history;
        const pct = (x) => (x * 100).toFixed(2) + " %";
        const table = document.createElement("table");
        table.className = "grid small";
        table.id = "what-if-table";
        const head = document.createElement("tr");
        for (const t of ["", "These settings", "Progressive"]) { const th = document.createElement("th"); th.textContent = t; head.append(th); }
        table.append(head,
          row("Talk minutes per agent-hour (at most " + data.bound + ")", s.talk_minutes_per_agent_hour, p.talk_minutes_per_agent_hour),
          row("Contacts per agent-hour", s.contacts_per_agent_hour, p.contacts_per_agent_hour),
          row("Agent wait between calls (s)", s.wait_mean_seconds, p.wait_mean_seconds),
          row("Abandon rate (worst moment)", pct(s.abandon_max), pct(p.abandon_max)));
        const note = document.createElement("p");
        note.className = "muted";
        note.textContent = (h.own ? "From this campaign's " + h.dials + " calls: " : "Too few calls yet (" + h.dials + "): usual figures assumed: ") +
          Math.round(h.live * 100) + " % answered by a person, talks of " + Math.round(h.talk_mean) + " s, " + data.agents + " agents, " + data.minutes + " minutes.";
        out.replaceChildren(table, note);
      } catch (error) { out.textContent = "The simulation failed: " + error.message; }
    });
  }

  // ---------------------------------------------------------------- the live panel
  const panel = document.getElementById("live");
  if (!panel || !cc) return;
  const campaignId = Number(panel.dataset.campaignId);
  const queue = panel.dataset.queue;
  const agents = new Map(); // interface -> agent row, for the agents of the campaign's queue
  const shown = new Map(); // the table's rows -> their agents, for the clocks

  function percent(share) { return (share * 100).toFixed(share && share < 0.1 ? 2 : 1) + " %"; }

  function windows(state) {
    const body = panel.querySelector("#live-windows tbody");
    body.replaceChildren();
    for (const w of state.windows || []) {
      const tr = document.createElement("tr");
      const over = w.rate > state.cap, at = !over && w.answered > 0 && w.rate === state.cap;
      tr.dataset.window = w.name;
      if (over) tr.dataset.over = "yes";
      tr.append(cell(w.name), cell(w.answered), cell(w.abandoned), cell(percent(w.rate)),
        cell(over ? "over the cap" : at ? "at the cap" : "within the cap (" + percent(state.cap) + ")"));
      body.append(tr);
    }
  }

  function level(decision) {
    if (!decision) return "—";
    let words = plural(decision.dials, "new call", "new calls") + " in the last second";
    if (decision.agents_soon || decision.answers_soon) {
      words += "; about " + decision.agents_soon + " agents free and " + decision.answers_soon + " answers expected shortly";
    }
    return words;
  }

  function render(state) {
    panel.dataset.live = "yes";
    text("live-note", "Running: " + state.mode + ".");
    for (const name of ["ringing", "talking", "dialled", "answered", "connected", "abandoned"]) text("live-" + name, state[name]);
    text("live-level", level(state.decision));
    text("live-why", state.decision ? state.decision.text : "—");
    text("live-updated", new Date(state.at * 1000).toLocaleTimeString());
    windows(state);
    if (typeof state.remaining === "number") text("live-remaining", state.remaining);
    // Connected calls per hour of agents working the campaign, since its driver took it.
    text("live-contacts-rate", state.contacts_per_agent_hour === null ? "—"
      : state.contacts_per_agent_hour.toFixed(1) + " over " + state.agent_hours.toFixed(1) + " agent-hours");
  }

  function agentRows() {
    const body = panel.querySelector("#live-agents tbody");
    body.replaceChildren();
    shown.clear();
    for (const a of agents.values()) {
      const tr = document.createElement("tr");
      shown.set(tr, a);
      tr.dataset.status = a.status;
      tr.append(cell(a.member_name || "Extension " + a.extension), cell(cc.statusLabel(a.status)),
        cell(cc.mmss(cc.now() - a.status_since), "clock"));
      body.append(tr);
    }
  }

  cc.on("campaign.state", (msg) => { if (msg.campaign && msg.campaign.campaign_id === campaignId) render(msg.campaign); });
  cc.on("agent.state", (msg) => {
    const a = msg.agent;
    if ((a.queues || []).some((q) => q.queue === queue)) agents.set(a.interface, a); else agents.delete(a.interface);
    agentRows();
  });
  cc.on("agent.gone", (msg) => { agents.delete(msg.interface); agentRows(); });

  if (panel.dataset.state) { try { render(JSON.parse(panel.dataset.state)); } catch (e) { /* the socket brings the next */ } }
  setInterval(() => {
    for (const [tr, a] of shown) tr.querySelector(".clock").textContent = cc.mmss(cc.now() - a.status_since);
  }, 1000);
})();
