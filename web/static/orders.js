// The order form: "Add a line" copies the last line row (the server reads lines.N.* in any
// number), and the total is estimated as lines are filled in, at the products' prices or the
// prices typed. Without script the form still offers its empty rows.
(function () {
  "use strict";
  const form = document.getElementById("order-form");
  const table = document.getElementById("order-lines");
  if (!form || !table) return;
  const body = table.tBodies[0];
  const total = document.getElementById("order-total");

  function renumber(row, index) {
    for (const field of row.querySelectorAll("[name]")) {
      field.name = field.name.replace(/^lines\.\d+\./, "lines." + index + ".");
      const label = field.getAttribute("aria-label");
      if (label) field.setAttribute("aria-label", label.replace(/\d+$/, String(index + 1)));
      field.value = "";
      field.removeAttribute("aria-invalid");
    }
    for (const error of row.querySelectorAll(".field-error")) error.remove();
  }

  function estimate() {
    if (!total) return;
    let sum = 0;
    const currencies = new Set();
    for (const row of body.rows) {
      const product = row.querySelector("select");
      const option = product && product.selectedOptions[0];
      const quantity = Number(row.querySelector("input[type=number]").value);
      if (!option || !option.dataset.price || !(quantity > 0)) continue;
      const typed = row.querySelector("input[name$='.unit_price']");
      const price = typed && typed.value.trim() ? Number(typed.value) : Number(option.dataset.price);
      if (!Number.isFinite(price)) continue;
      sum += price * quantity;
      currencies.add(option.dataset.currency);
    }
    total.textContent = currencies.size === 1
      ? "Estimated total: " + sum.toFixed(2) + " " + [...currencies][0]
      : currencies.size > 1 ? "Lines in several currencies: the total comes with the order." : "";
  }

  const add = document.createElement("button");
  add.type = "button";
  add.className = "secondary";
  add.id = "add-line";
  add.textContent = "Add a line";
  add.addEventListener("click", () => {
    const last = body.rows[body.rows.length - 1];
    const row = last.cloneNode(true);
    renumber(row, body.rows.length);
    body.append(row);
    row.querySelector("select").focus();
    estimate();
  });
  table.after(add);
  form.addEventListener("input", estimate);
  form.addEventListener("change", estimate);
  estimate();
})();
