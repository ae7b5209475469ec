// The file page. Its panels come from htmx (sharing, analytics); what they need beyond
// portal.js's data- attributes lives here. No inline script: the CSP forbids it.

// A link shown once (its token is not stored) is selected at once, ready to copy.
document.body.addEventListener("htmx:afterSwap", (event) => {
  const field = event.detail.target.querySelector?.("[data-select-on-show]")
    || (event.detail.target.matches?.("[data-select-on-show]") ? event.detail.target : null);
  if (field) { field.focus(); field.select(); }
});

// Processing finished (the polled preview says so): reload for the new details and
// actions, unless the member is in the middle of something (a dialog, a form field).
document.body.addEventListener("file-processed", () => {
  const active = document.activeElement;
  const busy = document.querySelector("dialog[open]")
    || (active && active.closest("form") && active.matches("input, textarea, select"));
  if (!busy) window.location.reload();
});
