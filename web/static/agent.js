// The agent desktop. Everything arrives over the page's websocket (app.js): a pop is drawn the
// moment its message arrives, with no timer involved, so a tab in the background pops as fast
// as one in front. Text from the server is only ever set as textContent (never as HTML).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const desk = $("desk");
  const pops = $("pops");
  const template = $("pop-template");
  const panel = $("call-panel");
  const callStatus = $("call-status");
  const notes = $("call-notes");
  const wrapForm = $("wrap-up");
  const shown = new Map(); // device channel -> pop element
  let current = null; // {callId, customerId, since}
  let wrapping = null; // call id waiting for its disposition
  let ticker = null;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function showError(box, message) { box.textContent = message; box.hidden = false; }

  async function api(method, path, body) {
    const response = await fetch("/api/v1" + path, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": desk.dataset.csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || response.statusText || "request failed");
    return data;
  }

  function dialButton(number, customerId) {
    const button = el("button", "Call", "small");
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

  function renderCard(body, card) {
    body.replaceChildren();
    const facts = el("dl", null, "facts");
    for (const [label, value] of [["Level", card.level], ["Region", card.region],
                                  ["Account", card.account_number]]) {
      if (value) facts.append(el("dt", label), el("dd", value));
    }
    body.append(facts);
    if (card.churn_flag) body.append(el("p", "Churn warning", "badge warn"));
    body.append(list("Numbers", card.numbers, (n) => {
      const li = el("li", n.label ? n.raw + " · " + n.label + " " : n.raw + " ");
      li.append(dialButton(n.e164, card.id));
      return li;
    }));
    body.append(list("Contacts", card.contacts, (c) => el("li", c.title ? c.name + " (" + c.title + ")" : c.name)));
    body.append(list("Open orders", card.open_orders, (o) => el("li", o.reference + " · " + o.status + " · " + o.amount + " " + o.currency + (o.summary ? " · " + o.summary : ""))));
    body.append(list("Open service requests", card.open_service_requests, (r) => el("li", "#" + r.id + " " + r.subject + " · " + r.status)));
    body.append(list("Last interactions", card.last_interactions, (i) => el("li", (i.at || "").slice(0, 16).replace("T", " ") + " · " + (i.disposition || i.kind) + (i.agent ? " · " + i.agent : "") + (i.notes ? " · " + i.notes : ""))));
    const more = el("a", "Open customer page");
    more.href = "/customers/" + encodeURIComponent(card.id);
    more.target = "_blank";
    body.append(more);
  }

  function renderBody(pop, msg) {
    const body = pop.querySelector(".pop-body");
    const lookup = msg.lookup;
    body.replaceChildren();
    if (lookup.kind === "customer") {
      pop.dataset.customerId = lookup.cards[0].id;
      renderCard(body, lookup.cards[0]);
    } else if (lookup.kind === "choices") {
      body.append(el("p", "Several customers have this number: pick one."));
      const ul = el("ul", null, "choices");
      for (const c of lookup.cards) {
        const li = el("li");
        const pick = el("button", c.contact ? c.name + " — " + c.contact : c.name, "link");
        pick.type = "button";
        pick.addEventListener("click", async () => {
          const view = await api("GET", "/customers/" + encodeURIComponent(c.id));
          pop.dataset.customerId = c.id;
          if (current && current.callId === msg.call_id) current.customerId = c.id;
          pop.querySelector(".pop-title").textContent = view.card.name;
          renderCard(body, view.card);
        });
        li.append(pick);
        ul.append(li);
      }
      body.append(ul);
    } else if (lookup.kind === "new") {
      body.append(el("p", "No customer has this number yet."));
      const link = el("a", "New customer with " + lookup.number.raw, "button");
      link.href = "/customers/new?number=" + encodeURIComponent(lookup.number.e164) + "&call_id=" + encodeURIComponent(msg.call_id);
      link.target = "_blank";
      body.append(link);
    } else {
      body.append(el("p", lookup.number.kind === "withheld" ? "The caller withheld their number."
                                                            : "Caller ID not usable: " + lookup.number.raw));
    }
  }

  function titleOf(msg) {
    const lookup = msg.lookup;
    if (lookup.kind === "customer") return lookup.cards[0].name;
    if (lookup.kind === "choices") return "Which customer?";
    if (lookup.kind === "new") return "New caller";
    return "Anonymous caller";
  }

  function setPanel(state, text) {
    panel.dataset.state = state;
    callStatus.textContent = text;
    $("call-controls").hidden = state !== "talking";
    clearInterval(ticker);
    ticker = null;
    $("call-timer").textContent = "";
    if (state === "talking" && current) {
      // The clock only updates a label; nothing waits on it, so throttling in hidden tabs is harmless.
      ticker = setInterval(() => { $("call-timer").textContent = Math.round(Date.now() / 1000 - current.since) + " s"; }, 1000);
    }
  }

  const on = window.callcentre.on;
  on("call.offered", (msg) => {
    let pop = shown.get(msg.device_channel);
    if (!pop) {
      pop = template.content.firstElementChild.cloneNode(true);
      shown.set(msg.device_channel, pop);
      pops.prepend(pop);
    }
    pop.dataset.callId = msg.call_id;
    pop.dataset.state = "ringing";
    pop.querySelector(".pop-queue").textContent = msg.queue || msg.dnis || "";
    pop.querySelector(".pop-number").textContent = msg.caller.withheld ? "withheld" : msg.lookup.number.raw;
    pop.querySelector(".pop-title").textContent = titleOf(msg);
    renderBody(pop, msg);
    setPanel("ringing", "Ringing: " + titleOf(msg));
  });
  on("call.withdrawn", (msg) => {
    const pop = shown.get(msg.device_channel);
    if (pop) { pop.remove(); shown.delete(msg.device_channel); }
    if (!shown.size && panel.dataset.state === "ringing") setPanel("idle", "No call.");
  });
  on("call.answered", (msg) => {
    const pop = shown.get(msg.device_channel);
    if (pop) { pop.dataset.state = "talking"; pop.querySelector(".pop-state").textContent = "Talking"; }
    const customerId = pop && pop.dataset.customerId ? Number(pop.dataset.customerId) : (current && current.callId === msg.call_id ? current.customerId : null);
    current = { callId: msg.call_id, customerId, since: Date.now() / 1000 };
    setPanel("talking", msg.queue ? "Talking (" + msg.queue + ", waited " + msg.wait_seconds + " s)" : "Talking");
  });
  on("call.transferred", (msg) => { setPanel("wrapup", "Transferred (" + msg.kind + ")."); beginWrapUp(msg.call_id); });
  on("call.ended", (msg) => {
    for (const [device, pop] of shown) {
      if (pop.dataset.callId === msg.call_id) { pop.dataset.state = "ended"; pop.querySelector(".pop-state").textContent = "Ended"; shown.delete(device); }
    }
    if (msg.answered) { setPanel("wrapup", "Call ended (" + msg.outcome + "): choose a disposition."); beginWrapUp(msg.call_id); }
    else if (!wrapping) setPanel("idle", "Call ended (" + msg.outcome + ").");
  });
  on("wrapup.started", (msg) => { if (wrapping === msg.call_id) callStatus.textContent = "Wrap-up: at most " + msg.seconds + " s before the next call."; });
  on("agent.state", (msg) => {
    // What the PBX reports, not what was clicked.
    const a = msg.agent;
    const label = $("state");
    const paused = a.queues.filter((q) => q.paused);
    let state = "ready";
    let text = "Ready";
    if (!a.queues.length) { state = "logged_out"; text = "Logged out"; }
    else if (paused.length && paused[0].paused_reason === "wrap-up") { state = "wrapup"; text = "Wrap-up"; }
    else if (paused.length) { state = "paused"; text = "Paused" + (paused[0].paused_reason ? ": " + paused[0].paused_reason : ""); }
    label.dataset.state = state;
    label.textContent = text;
    $("my-queues").textContent = a.queues.map((q) => q.queue).join(", ");
  });
  on("agent.gone", () => { $("state").dataset.state = "logged_out"; $("state").textContent = "Logged out"; });

  function beginWrapUp(callId) {
    wrapping = callId;
    wrapForm.hidden = false;
    sessionStorage.setItem("notes:" + callId, notes.value);
  }
  wrapForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!wrapping) return;
    const body = { disposition: $("disposition").value, notes: notes.value };
    if (current && current.callId === wrapping && current.customerId) body.customer_id = current.customerId;
    try {
      await api("POST", "/calls/" + encodeURIComponent(wrapping) + "/wrap-up", body);
    } catch (error) { showError($("call-error"), error.message); return; }
    sessionStorage.removeItem("notes:" + wrapping);
    wrapping = null;
    current = null;
    notes.value = "";
    wrapForm.hidden = true;
    $("call-error").hidden = true;
    setPanel("idle", "Wrapped up. No call.");
  });

  async function dial(number, customerId) {
    $("call-error").hidden = true;
    try {
      const placed = await api("POST", "/calls/dial", customerId ? { number, customer_id: customerId } : { number });
      current = { callId: placed.call_id, customerId: customerId || null, since: Date.now() / 1000 };
      setPanel("dialling", "Calling " + placed.number + ": your phone rings first.");
    } catch (error) { showError($("call-error"), error.message); }
  }
  async function control(path, body, after) {
    $("call-error").hidden = true;
    try { await api("POST", path, body); if (after) after(); } catch (error) { showError($("call-error"), error.message); }
  }
  $("dial").addEventListener("click", () => dial($("dial-number").value));
  $("hang-up").addEventListener("click", () => control("/calls/current/hangup"));
  $("transfer-blind").addEventListener("click", () => control("/calls/current/transfer", { kind: "blind", target: $("transfer-target").value }));
  $("transfer-consult").addEventListener("click", () => control("/calls/current/transfer", { kind: "attended", target: $("transfer-target").value }, () => {
    $("transfer-complete").hidden = false; $("transfer-cancel").hidden = false;
  }));
  const consultDone = () => { $("transfer-complete").hidden = true; $("transfer-cancel").hidden = true; };
  $("transfer-complete").addEventListener("click", () => control("/calls/current/transfer/complete", undefined, consultDone));
  $("transfer-cancel").addEventListener("click", () => control("/calls/current/transfer/cancel", undefined, consultDone));

  async function setState(state, reason) {
    $("state-error").hidden = true;
    try { await api("POST", "/agent/state", reason ? { state, reason } : { state }); }
    catch (error) { showError($("state-error"), error.message || "The PBX did not answer."); }
  }
  $("go-ready").addEventListener("click", () => setState("ready"));
  $("go-pause").addEventListener("click", () => setState("paused", $("pause-reason").value));
  $("go-out").addEventListener("click", () => setState("logged_out"));
})();
