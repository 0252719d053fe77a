// The agent desktop. Everything arrives over the page's websocket (app.js): a pop is drawn the
// moment its message arrives, with no timer involved, so a tab in the background pops as fast
// as one in front. Text from the server is only ever set as textContent (never as HTML).
//
// One card per call, bound to that call: its pop, its notes (a draft kept in the browser) and,
// once the agent's part is over, its own wrap-up form. A new call never takes over another
// call's card. The active call is on top, wrap-ups waiting for a disposition below it, calls
// wrapped up collapsed at the bottom. Every status line comes from the agent's row, as the
// server's projection has it, never from what was clicked.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const desk = $("desk");
  const active = $("calls");
  const done = $("done-calls");
  const template = $("call-template");
  const panel = $("call-panel");
  const callStatus = $("call-status");
  const cards = new Map(); // call id -> card
  let row = null; // the agent's live row (agent.state)
  let consulting = false;
  let connection = 0; // counts the page's (re)connections to the server
  window.callcentre.onOpen(() => { connection += 1; });

  const { mmss, statusLabel } = window.callcentre;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function showError(box, message) { box.textContent = message; box.hidden = false; }
  function announce(text) { $("announce").textContent = text; }
  const now = () => window.callcentre.now();
  function localTime(epoch) {
    return new Date(epoch * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  async function api(method, path, body) {
    const response = await fetch("/api/v1" + path, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": desk.dataset.csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const field = data.fields && Object.values(data.fields)[0];
      throw new Error(field || data.message || response.statusText || "The request failed.");
    }
    return data;
  }

  // ------------------------------------------------------------------ the customer card

  function dialButton(number, customerId, label) {
    const button = el("button", "Call " + label, "small");
    button.type = "button";
    button.addEventListener("click", () => dial(number, customerId));
    return button;
  }

  function list(title, items, render) {
    const frag = document.createDocumentFragment();
    frag.append(el("h3", title));
    const ul = el("ul");
    for (const item of items) ul.append(render(item));
    if (!items.length) ul.append(el("li", "none", "muted"));
    frag.append(ul);
    return frag;
  }

  // What the agent can do for the customer from the card, each as their permissions allow;
  // the pages open beside the desk with the customer and the call filled in.
  function cardActions(card, callId) {
    const can = new Set((desk.dataset.can || "").split(" "));
    const id = encodeURIComponent(card.id);
    const call = callId ? "call_id=" + encodeURIComponent(callId) : "";
    const nav = el("nav", null, "pop-actions");
    nav.setAttribute("aria-label", "Act for " + card.name);
    const offer = (allowed, text, href) => {
      if (!allowed) return;
      const link = el("a", text, "button secondary");
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener";
      nav.append(link);
    };
    offer(can.has("orders.write"), "New order", "/orders/new?customer_id=" + id + (call ? "&" + call : ""));
    offer(can.has("service_requests.write"), "Open a service request",
          "/customers/" + id + "/service-requests/new" + (call ? "?" + call : ""));
    offer(can.has("calls.handle") || can.has("customers.write"), "Schedule a callback",
          "/callbacks?customer_id=" + id + (call ? "&" + call : ""));
    offer(can.has("customers.write"), "Edit customer", "/customers/" + id + "/edit");
    return nav;
  }

  function renderCard(body, card, callId) {
    body.replaceChildren();
    const facts = el("dl", null, "facts");
    for (const [label, value] of [["Level", card.level], ["Region", card.region],
                                  ["Account", card.account_number]]) {
      if (value) facts.append(el("dt", label), el("dd", value));
    }
    body.append(facts);
    if (card.churn_flag) body.append(el("p", "Churn warning", "badge warn"));
    if (card.churn_measures && card.churn_measures.length) {
      body.append(list("Against the churn", card.churn_measures, (m) => el("li", (m.at ? localTime(Date.parse(m.at) / 1000) + " · " : "") + m.measure + (m.note ? " · " + m.note : ""))));
    }
    body.append(list("Numbers", card.numbers, (n) => {
      const li = el("li", n.label ? n.raw + " · " + n.label + " " : n.raw + " ");
      li.append(dialButton(n.e164, card.id, n.raw));
      return li;
    }));
    body.append(list("Contacts", card.contacts, (c) => el("li", c.title ? c.name + " (" + c.title + ")" : c.name)));
    // Orders and requests come only to agents allowed to see them (crm_core.card_access).
    if (card.open_orders) body.append(list("Open orders", card.open_orders, (o) => el("li", o.reference + " · " + o.status + " · " + o.amount + " " + o.currency + (o.summary ? " · " + o.summary : ""))));
    if (card.open_service_requests) body.append(list("Open service requests", card.open_service_requests, (r) => el("li", "#" + r.id + " " + r.subject + " · " + r.status)));
    body.append(list("Last interactions", card.last_interactions, (i) => el("li", (i.at ? localTime(Date.parse(i.at) / 1000) : "") + " · " + (i.disposition || i.kind) + (i.agent ? " · " + i.agent : "") + (i.notes ? " · " + i.notes : ""))));
    body.append(cardActions(card, callId));
    const more = el("a", "Open " + card.name + "'s page");
    more.href = "/customers/" + encodeURIComponent(card.id);
    more.target = "_blank";
    body.append(more);
  }

  function setTitle(card, title) {
    card.title = title;
    card.el.querySelector(".pop-title").textContent = title;
  }

  function titleOf(lookup) {
    if (lookup.kind === "customer") return lookup.cards[0].name;
    if (lookup.kind === "choices") return "Which customer?";
    if (lookup.kind === "new") return "New caller";
    if (lookup.kind === "hidden") return "Caller"; // not allowed to see customers
    return "Anonymous caller";
  }

  // A campaign's call: which campaign, why this number, the script with the entry's fields.
  function campaignPart(entry) {
    const part = el("div", null, "campaign-part");
    part.append(el("h3", "Campaign: " + entry.campaign));
    part.append(el("p", "Why: " + (entry.reason || "—") + (entry.attempts ? " · attempt " + entry.attempts : "")));
    if (entry.script) part.append(el("pre", entry.script, "script"));
    return part;
  }

  function renderPop(card, pop) {
    const lookup = pop.lookup;
    const body = card.el.querySelector(".pop-body");
    body.replaceChildren();
    if (pop.campaign) card.campaign = pop.campaign;
    card.el.querySelector(".pop-queue").textContent = pop.queue || pop.dnis || "";
    card.el.querySelector(".pop-number").textContent = pop.caller.withheld ? "withheld" : lookup.number.raw;
    setTitle(card, titleOf(lookup));
    if (lookup.kind === "customer") {
      card.customerId = lookup.cards[0].id;
      renderCard(body, lookup.cards[0], card.callId);
    } else if (lookup.kind === "choices") {
      body.append(el("p", "Several customers have this number: pick one."));
      const ul = el("ul", null, "choices");
      for (const c of lookup.cards) {
        const li = el("li");
        const pick = el("button", c.contact ? c.name + " — " + c.contact : c.name, "link");
        pick.type = "button";
        pick.addEventListener("click", async () => {
          const view = await api("GET", "/customers/" + encodeURIComponent(c.id));
          card.customerId = c.id;
          setTitle(card, view.card.name);
          renderCard(body, view.card, card.callId);
        });
        li.append(pick);
        ul.append(li);
      }
      body.append(ul);
    } else if (lookup.kind === "new") {
      body.append(el("p", "No customer has this number yet."));
      const link = el("a", "New customer with " + lookup.number.raw, "button");
      link.href = "/customers/new?number=" + encodeURIComponent(lookup.number.e164) + "&call_id=" + encodeURIComponent(pop.call_id);
      link.target = "_blank";
      body.append(link);
    } else {
      body.append(el("p", lookup.number.kind === "withheld" ? "The caller withheld their number."
                                                            : "Caller ID not usable: " + lookup.number.raw));
    }
    if (card.campaign) body.prepend(campaignPart(card.campaign));
  }

  // ------------------------------------------------------------------ one card per call

  function cardFor(callId) {
    let card = cards.get(callId);
    if (card) return card;
    const node = template.content.firstElementChild.cloneNode(true);
    card = { callId, el: node, state: "ringing", since: now(), customerId: null, title: "Call",
             devices: new Set(), answered: false, seen: 0 };
    node.dataset.callId = callId;
    const notes = node.querySelector(".pop-notes");
    notes.value = localStorage.getItem("notes:" + callId) || "";
    notes.addEventListener("input", () => localStorage.setItem("notes:" + callId, notes.value));
    node.querySelector(".wrap-up").addEventListener("submit", (event) => { event.preventDefault(); wrapUp(card); });
    node.querySelector(".disposition").addEventListener("change", () => showCallbackFields(card));
    cards.set(callId, card);
    place(card);
    return card;
  }

  function setCardState(card, state) {
    card.state = state;
    card.el.dataset.state = state;
    const words = { ringing: "Ringing", dialling: "Calling", talking: "Talking",
                    wrapup: "Needs a disposition", done: "Wrapped up", missed: "Missed" };
    card.el.querySelector(".pop-state").textContent = words[state] || state;
    card.el.querySelector(".wrap-up").hidden = state !== "wrapup";
    place(card);
  }

  // Active call first, then wrap-ups (newest first), then the calls that are over, collapsed.
  function place(card) {
    const live = card.state === "ringing" || card.state === "dialling" || card.state === "talking";
    if (card.state === "done" || card.state === "missed") {
      let holder = card.el.closest("details");
      if (!holder) {
        holder = el("details", null, "ended");
        holder.append(el("summary", card.title + " · " + (card.state === "done" ? "wrapped up" : "missed") + " · " + localTime(now())));
        done.prepend(holder);
        holder.append(card.el);
      }
      while (done.children.length > 10) done.lastElementChild.remove();
      return;
    }
    if (live) active.prepend(card.el);
    else {
      const firstWrap = [...active.children].find((n) => n.dataset.state === "wrapup");
      if (firstWrap && firstWrap !== card.el) active.insertBefore(card.el, firstWrap);
      else if (!firstWrap) active.append(card.el);
    }
  }

  function focusCard(card) {
    const typing = document.activeElement && ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
    if (!typing) card.el.focus();
  }

  function liveCard() {
    for (const card of cards.values()) {
      if (card.state === "talking" || card.state === "ringing" || card.state === "dialling") return card;
    }
    return null;
  }

  // A campaign call's callback comes with its time, and whose it is.
  function showCallbackFields(card) {
    const form = card.el.querySelector(".wrap-up");
    form.querySelector(".callback-fields").hidden =
      !(card.campaign && form.querySelector(".disposition").value === "callback");
  }

  async function wrapUp(card) {
    const form = card.el.querySelector(".wrap-up");
    const box = form.querySelector(".wrap-error");
    box.hidden = true;
    const disposition = form.querySelector(".disposition").value;
    if (!disposition) { showError(box, "Choose a disposition first."); return; }
    const body = { disposition, notes: card.el.querySelector(".pop-notes").value };
    if (card.customerId) body.customer_id = card.customerId;
    if (!form.querySelector(".callback-fields").hidden) {
      const at = form.querySelector(".callback-at").value;
      if (!at) { showError(box, "Say when to call back."); return; }
      body.callback_at = new Date(at).toISOString();
      body.callback_personal = form.querySelector(".callback-personal").checked;
    }
    try {
      await api("POST", "/calls/" + encodeURIComponent(card.callId) + "/wrap-up", body);
    } catch (error) { showError(box, error.message); return; }
    localStorage.removeItem("notes:" + card.callId);
    card.el.querySelector(".pop-notes").readOnly = true;
    setCardState(card, "done");
    announce("Wrap-up saved for " + card.title + ".");
    if (disposition === "sale" && card.customerId) {
      window.open("/orders/new?customer_id=" + encodeURIComponent(card.customerId) + "&call_id=" + encodeURIComponent(card.callId), "_blank", "noopener");
    }
    if (card.campaign) document.dispatchEvent(new CustomEvent("campaign-call-done"));
  }

  // ------------------------------------------------------------------ what the server says

  const on = window.callcentre.on;
  on("call.offered", (msg) => {
    const known = cards.get(msg.call_id);
    if (known) known.seen = connection;
    if (msg.again && known) return; // for another tab of ours: this one has it
    const card = cardFor(msg.call_id);
    card.seen = connection;
    card.devices.add(msg.device_channel);
    if (card.state !== "talking") {
      card.since = msg.offered_at;
      setCardState(card, "ringing");
    }
    renderPop(card, msg);
    if (!msg.again) { announce("Ringing: " + card.title); focusCard(card); }
  });
  on("call.withdrawn", (msg) => {
    const card = cards.get(msg.call_id);
    if (!card) return;
    card.devices.delete(msg.device_channel);
    if (card.state === "ringing" && !card.devices.size) {
      cards.delete(card.callId);
      card.el.remove();
    }
  });
  on("call.answered", (msg) => {
    const card = cardFor(msg.call_id);
    card.seen = connection;
    card.answered = true;
    card.since = msg.at;
    card.el.querySelector(".pop-queue").textContent = msg.queue || card.el.querySelector(".pop-queue").textContent;
    setCardState(card, "talking");
    announce("Talking with " + card.title);
  });
  on("call.current", (msg) => {
    // A reload or a new tab mid-call: the call comes back with its pop.
    const card = cardFor(msg.call_id);
    card.seen = connection;
    if (msg.pop) renderPop(card, msg.pop);
    card.since = msg.since;
    card.answered = msg.state === "talking";
    setCardState(card, msg.state === "talking" ? "talking" : "dialling");
  });
  on("call.transferred", (msg) => {
    const card = cards.get(msg.call_id);
    consulting = false;
    if (card && card.state === "talking") setCardState(card, "wrapup");
    refresh();
  });
  on("call.ended", (msg) => {
    const card = cards.get(msg.call_id);
    consulting = false;
    if (!card) return;
    if (card.state === "wrapup" || card.state === "done") return; // a transfer ended our part already
    if (msg.answered && (card.answered || card.state === "talking")) setCardState(card, "wrapup");
    else setCardState(card, "missed");
    refresh();
  });
  on("wrapup.started", (msg) => {
    const card = cards.get(msg.call_id);
    if (card && card.state !== "done") setCardState(card, "wrapup");
  });
  // A call the agent owes a wrap-up for is over for them, whatever its card last showed: the
  // end may have come while this page was offline, and no call.ended ever reached it. Unless
  // the server said the call is live since the page (re)connected: it came back to the agent.
  function owesWrapUp(callId) {
    const card = cardFor(callId);
    if (card.state === "wrapup" || card.state === "done" || card.seen === connection) return card;
    card.answered = true;
    setCardState(card, "wrapup");
    return card;
  }
  on("agent.state", (msg) => {
    row = msg.agent;
    if (row.wrap_up) owesWrapUp(row.wrap_up.call_id);
    refresh();
  });
  on("call.customer", (msg) => {
    // Saved as a customer from this call's card (in another tab): the card shows them now.
    const card = cards.get(msg.call_id);
    if (!card) return;
    card.customerId = msg.card.id;
    setTitle(card, msg.card.name);
    renderCard(card.el.querySelector(".pop-body"), msg.card, msg.call_id);
    announce(msg.card.name + " saved as a customer.");
    refresh();
  });
  on("agent.gone", () => { row = null; refresh(); });
  on("agent.queues_restored", (msg) => {
    const notice = $("state-notice");
    notice.textContent = "The phone system restarted; you were put back in " + msg.queues.join(", ") + " as you were.";
    notice.hidden = false;
    announce(notice.textContent);
  });

  // The wrap-ups this agent still owes, from the database: after a reload or a restart.
  async function loadOpenWrapUps() {
    try {
      const open = await api("GET", "/calls/awaiting-wrap-up");
      for (const call of open.calls.reverse()) {
        if (cards.has(call.call_id)) { owesWrapUp(call.call_id); continue; } // drawn already
        const card = cardFor(call.call_id);
        card.customerId = call.customer_id;
        setTitle(card, call.customer_name || call.caller || "Caller");
        card.answered = true;
        card.el.querySelector(".pop-queue").textContent = call.queue;
        card.el.querySelector(".pop-number").textContent = call.caller;
        card.el.querySelector(".pop-body").replaceChildren(el("p", "Ended " + localTime(call.ended_at) + " after " + mmss(call.talk_seconds) + ".", "muted"));
        setCardState(card, "wrapup");
      }
    } catch (error) { /* the next connection tries again */ }
  }
  window.callcentre.onOpen(loadOpenWrapUps);

  // ------------------------------------------------------------------ status lines

  function pauseLabel(code) {
    const option = [...$("pause-reason").options].find((o) => o.value === code);
    return option ? option.dataset.label : code;
  }

  function statusText() {
    if (!row) return "Logged out";
    const status = row.status;
    if (status === "paused") {
      const reasons = row.queues.filter((q) => q.paused).map((q) => pauseLabel(q.paused_reason));
      return "Paused" + (reasons.length && reasons[0] ? ": " + reasons[0] : "");
    }
    return statusLabel(status);
  }

  function refresh() {
    const label = $("state");
    const status = row ? row.status : "logged_out";
    const text = statusText();
    if (label.textContent !== text) announce("My state: " + text);
    label.dataset.state = status;
    label.textContent = text;
    const queues = row ? row.queues.map((q) => q.queue) : [];
    $("queues-line").hidden = !queues.length;
    $("my-queues").textContent = queues.join(", ");
    const call = liveCard();
    const talking = status === "talking" && call && call.state === "talking";
    if (talking && $("call-controls").hidden) loadTransferTargets();
    $("call-controls").hidden = !talking;
    $("consult-controls").hidden = !(talking && consulting);
    panel.dataset.state = call ? call.state : status;
    let line = "No call.";
    if (call) line = { ringing: "Ringing: ", dialling: "Calling: ", talking: "Talking with " }[call.state] + call.title;
    else if (status === "wrap_up") line = "Wrap-up: write the disposition for your last call.";
    callStatus.textContent = line;
    tick();
  }

  // Clocks only update labels: nothing waits on them, so a throttled hidden tab loses nothing.
  function tick() {
    const clock = $("state-clock");
    if (row && row.status === "wrap_up" && row.wrap_up) clock.textContent = mmss(row.wrap_up.until - now()) + " left before the next call";
    else if (row && row.status_since) clock.textContent = "for " + mmss(now() - row.status_since);
    else clock.textContent = "";
    for (const card of cards.values()) {
      const label = card.el.querySelector(".pop-clock");
      label.textContent = (card.state === "talking" || card.state === "ringing") ? mmss(now() - card.since) : "";
    }
  }
  setInterval(tick, 1000);

  // ------------------------------------------------------------------ the agent's buttons

  // Who a call can go to, with each colleague's status now: no free-text number to mistype.
  async function loadTransferTargets() {
    const select = $("transfer-target");
    try {
      const targets = await api("GET", "/calls/transfer-targets");
      const keep = select.value;
      select.replaceChildren(el("option", "Choose a colleague or a queue…"));
      select.firstChild.value = "";
      for (const a of targets.agents) {
        const option = el("option", a.name + " (" + a.extension + ") · " + statusLabel(a.status));
        option.value = a.extension;
        select.append(option);
      }
      for (const q of targets.queues) {
        const option = el("option", "Queue " + q.queue + " (" + q.number + ")");
        option.value = q.number;
        select.append(option);
      }
      select.value = keep;
    } catch (error) { showError($("call-error"), error.message); }
  }

  async function dial(number, customerId) {
    $("call-error").hidden = true;
    try {
      const placed = await api("POST", "/calls/dial", customerId ? { number, customer_id: customerId } : { number });
      const card = cardFor(placed.call_id);
      card.seen = connection;
      card.customerId = customerId || null;
      setTitle(card, placed.card ? placed.card.name : placed.number);
      card.el.querySelector(".pop-number").textContent = placed.number;
      if (placed.card) renderCard(card.el.querySelector(".pop-body"), placed.card, placed.call_id);
      setCardState(card, "dialling");
      refresh();
    } catch (error) { showError($("call-error"), error.message); }
  }
  async function control(path, body, after) {
    $("call-error").hidden = true;
    try { await api("POST", path, body); if (after) after(); } catch (error) { showError($("call-error"), error.message); }
  }
  $("dial-form").addEventListener("submit", (event) => { event.preventDefault(); dial($("dial-number").value); });
  const hangUp = () => control("/calls/current/hangup");
  $("hang-up").addEventListener("click", hangUp);
  function transferTarget() {
    const target = $("transfer-target").value;
    if (!target) showError($("call-error"), "Choose who to transfer the call to.");
    return target;
  }
  $("transfer-blind").addEventListener("click", () => { const target = transferTarget(); if (target) control("/calls/current/transfer", { kind: "blind", target }); });
  $("transfer-consult").addEventListener("click", () => { const target = transferTarget(); if (target) control("/calls/current/transfer", { kind: "attended", target }, () => { consulting = true; refresh(); }); });
  const consultDone = () => { consulting = false; refresh(); };
  $("transfer-complete").addEventListener("click", () => control("/calls/current/transfer/complete", undefined, consultDone));
  $("transfer-cancel").addEventListener("click", () => control("/calls/current/transfer/cancel", undefined, consultDone));

  async function setState(state, reason) {
    $("state-error").hidden = true;
    try { await api("POST", "/agent/state", reason ? { state, reason } : { state }); }
    catch (error) { showError($("state-error"), error.message || "The PBX did not answer."); }
  }
  const pauseReason = $("pause-reason");
  const remembered = localStorage.getItem("pause-reason");
  if (remembered && [...pauseReason.options].some((o) => o.value === remembered)) pauseReason.value = remembered;
  pauseReason.addEventListener("change", () => localStorage.setItem("pause-reason", pauseReason.value));
  $("go-ready").addEventListener("click", () => setState("ready"));
  $("go-pause").addEventListener("click", () => setState("paused", pauseReason.value));
  $("go-out").addEventListener("click", () => setState("logged_out"));

  // ------------------------------------------------------------------ outbound campaigns

  const campaignPanel = $("campaign-panel");
  if (campaignPanel) {
    const choice = $("campaign-choice");
    const campaignError = $("campaign-error");
    let joined = null; // the campaign joined: {id, mode}
    let shown = null; // the entry previewed
    const fail = (error) => showError(campaignError, error.message);

    async function loadCampaigns() {
      try {
        const { campaigns } = await api("GET", "/outbound/campaigns");
        const keep = choice.value || localStorage.getItem("campaign") || "";
        choice.replaceChildren();
        if (!campaigns.length) choice.append(el("option", "No campaign is running"));
        for (const c of campaigns) {
          const option = el("option", c.name + " · " + c.mode + (c.status === "paused" ? " (paused)" : ""));
          option.value = c.id;
          option.dataset.mode = c.mode;
          choice.append(option);
        }
        if ([...choice.options].some((o) => o.value === keep)) choice.value = keep;
      } catch (error) { fail(error); }
    }

    function renderEntry(entry) {
      const box = $("preview-entry");
      box.replaceChildren();
      shown = entry;
      $("preview-dial").disabled = $("preview-skip").disabled = !entry;
      if (!entry) { box.append(el("p", "No entry is due now.", "muted")); return; }
      box.append(el("p", (entry.name || "Unnamed") + " · " + entry.number, "preview-who"));
      box.append(campaignPart(entry));
    }

    async function nextEntry() {
      campaignError.hidden = true;
      if (!joined || joined.mode !== "preview") return;
      try { renderEntry((await api("POST", "/outbound/campaigns/" + joined.id + "/next")).entry); }
      catch (error) { fail(error); }
    }

    $("campaign-join").addEventListener("click", async () => {
      campaignError.hidden = true;
      if (!choice.value) { showError(campaignError, "Choose a campaign."); return; }
      try {
        const result = await api("POST", "/outbound/campaigns/" + choice.value + "/join");
        joined = { id: choice.value, mode: result.mode };
        localStorage.setItem("campaign", choice.value);
        $("campaign-line").textContent = result.mode === "preview"
          ? "Preview: you see each customer before you dial."
          : "You are ready: calls come to you as customers answer.";
        $("preview").hidden = result.mode !== "preview";
        nextEntry();
      } catch (error) { fail(error); }
    });
    $("campaign-leave").addEventListener("click", async () => {
      campaignError.hidden = true;
      if (!choice.value) return;
      try {
        await api("POST", "/outbound/campaigns/" + choice.value + "/leave");
        joined = null;
        $("preview").hidden = true;
        $("campaign-line").textContent = "";
      } catch (error) { fail(error); }
    });
    $("preview-next").addEventListener("click", nextEntry);
    $("preview-skip").addEventListener("click", async () => {
      if (!shown) return;
      try { await api("POST", "/outbound/campaigns/" + joined.id + "/entries/" + shown.entry_id + "/skip", { reason: "" }); nextEntry(); }
      catch (error) { fail(error); }
    });
    $("preview-dial").addEventListener("click", async () => {
      if (!shown) return;
      campaignError.hidden = true;
      const entry = shown;
      try {
        const placed = await api("POST", "/outbound/campaigns/" + joined.id + "/entries/" + entry.entry_id + "/dial");
        const card = cardFor(placed.call_id);
        card.seen = connection;
        card.campaign = entry;
        card.customerId = entry.customer_id || null;
        setTitle(card, entry.name || entry.number);
        card.el.querySelector(".pop-number").textContent = entry.number;
        card.el.querySelector(".pop-body").replaceChildren(campaignPart(entry));
        setCardState(card, "dialling");
        renderEntry(null);
        $("preview-entry").replaceChildren(el("p", "Calling " + (entry.name || entry.number) + "…", "muted"));
        refresh();
      } catch (error) { fail(error); nextEntry(); }
    });
    document.addEventListener("campaign-call-done", nextEntry);
    window.callcentre.onOpen(loadCampaigns);
  }

  document.addEventListener("keydown", (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key.toLowerCase();
    if (key === "r") setState("ready");
    else if (key === "p") setState("paused", pauseReason.value);
    else if (key === "h" && !$("call-controls").hidden) hangUp();
    else if (key === "c") { const card = liveCard() || cards.values().next().value; if (card) card.el.focus(); }
    else return;
    event.preventDefault();
  });
})();
