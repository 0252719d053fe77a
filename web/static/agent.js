// The agent desktop. Everything arrives over the page's websocket (app.js): a pop is drawn the
// moment its message arrives, with no timer involved, so a tab in the background pops as fast
// as one in front. Text from the server is only ever set as textContent (never as HTML).
(function () {
  "use strict";
  const desk = document.getElementById("desk");
  const pops = document.getElementById("pops");
  const template = document.getElementById("pop-template");
  const stateLabel = document.getElementById("state");
  const stateError = document.getElementById("state-error");
  const callStatus = document.getElementById("call-status");
  const shown = new Map(); // device channel -> pop element

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function renderBody(body, lookup) {
    body.replaceChildren();
    if (lookup.kind === "customer") {
      const card = lookup.cards[0];
      const facts = el("dl", null, "facts");
      for (const [label, value] of [["Level", card.level], ["Region", card.region],
                                    ["Account", card.account_number]]) {
        if (value) { facts.append(el("dt", label), el("dd", value)); }
      }
      body.append(facts);
      if (card.churn_flag) body.append(el("p", "Churn warning", "badge warn"));
      const contacts = el("ul", null, "contacts");
      for (const c of card.contacts) contacts.append(el("li", c.title ? c.name + " (" + c.title + ")" : c.name));
      if (card.contacts.length) body.append(el("h3", "Contacts"), contacts);
      const numbers = el("ul", null, "numbers");
      for (const n of card.numbers) numbers.append(el("li", n.label ? n.raw + " · " + n.label : n.raw));
      body.append(el("h3", "Numbers"), numbers);
    } else if (lookup.kind === "choices") {
      body.append(el("p", "Several customers have this number:"));
      const list = el("ul", null, "choices");
      for (const c of lookup.cards) list.append(el("li", c.contact ? c.name + " — " + c.contact : c.name));
      body.append(list);
    } else if (lookup.kind === "new") {
      body.append(el("p", "No customer has this number yet."));
      const link = el("a", "New customer with " + lookup.number.raw, "button");
      link.href = "/customers/new?number=" + encodeURIComponent(lookup.number.e164);
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
    renderBody(pop.querySelector(".pop-body"), msg.lookup);
    callStatus.textContent = "Ringing: " + titleOf(msg);
  });
  on("call.withdrawn", (msg) => {
    const pop = shown.get(msg.device_channel);
    if (pop) { pop.remove(); shown.delete(msg.device_channel); }
    if (!shown.size) callStatus.textContent = "No call.";
  });
  on("call.answered", (msg) => {
    const pop = shown.get(msg.device_channel);
    if (pop) { pop.dataset.state = "talking"; pop.querySelector(".pop-state").textContent = "Talking"; }
    callStatus.textContent = "Talking (waited " + msg.wait_seconds + " s)";
  });
  on("call.ended", (msg) => {
    for (const [device, pop] of shown) {
      if (pop.dataset.callId === msg.call_id) { pop.dataset.state = "ended"; pop.querySelector(".pop-state").textContent = "Ended"; shown.delete(device); }
    }
    callStatus.textContent = "Call ended (" + msg.outcome + ").";
  });

  async function setState(state, reason) {
    stateError.hidden = true;
    const response = await fetch("/api/v1/agent/state", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": desk.dataset.csrf },
      body: JSON.stringify(reason ? { state, reason } : { state }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { stateError.textContent = body.message || "The PBX did not answer."; stateError.hidden = false; return; }
    stateLabel.dataset.state = state;
    stateLabel.textContent = state === "paused" ? "Paused" : state === "ready" ? "Ready" : "Logged out";
  }
  document.getElementById("go-ready").addEventListener("click", () => setState("ready"));
  document.getElementById("go-pause").addEventListener("click", () => setState("paused", document.getElementById("pause-reason").value));
  document.getElementById("go-out").addEventListener("click", () => setState("logged_out"));
})();
