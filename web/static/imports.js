// Sends the chosen file as the request body to the import API and shows what came of it,
// with a link to the report of the refused rows.
(function () {
  "use strict";
  const section = document.getElementById("import");
  if (!section) return;
  const result = document.getElementById("import-result");
  document.getElementById("import-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("import-file").files[0];
    if (!file) return;
    result.textContent = "Importing " + file.name + " …";
    const type = file.name.toLowerCase().endsWith(".xlsx")
      ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
    try {
      const response = await fetch("/api/v1/imports/" + section.dataset.kind +
        "?filename=" + encodeURIComponent(file.name), {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "Content-Type": type, "X-CSRF-Token": section.dataset.csrf },
      });
      const body = await response.json();
      if (!response.ok) { result.textContent = body.message || "The import failed."; return; }
      result.replaceChildren();
      const summary = document.createElement("p");
      summary.textContent = body.imported + " imported, " + body.rejected + " refused.";
      result.append(summary);
      if (body.rejected) {
        const link = document.createElement("a");
        link.href = body.report;
        link.textContent = "Download the refused rows and why";
        result.append(link);
      }
    } catch (error) { result.textContent = "The import failed: " + error.message; }
  });
})();
