// Behaviour every page shares. Modules of their own (upload.js, select.js, ...) are loaded
// by the pages that need them. No inline script anywhere: the CSP forbids it, so pages
// declare behaviour with data- attributes that these modules pick up.

// The team switcher goes to the chosen team at once.
document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-team-switcher] select");
  if (select && select.value) window.location.assign(select.value);
});

// [data-copy="#id"]: copies that field's value and says so in the button.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// [data-dialog="#id"]: opens that <dialog>; [data-dialog-close] inside one closes it. With
// data-reset the dialog starts over: its form is reset and its [data-result] emptied.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-dialog]");
  if (opener) {
    const dialog = document.querySelector(opener.dataset.dialog);
    if (!dialog) return;
    event.preventDefault();
    if ("reset" in opener.dataset) {
      dialog.querySelector("form")?.reset();
      dialog.querySelector("[data-result]")?.replaceChildren();
    }
    dialog.showModal();
    return;
  }
  const closer = event.target.closest("[data-dialog-close]");
  if (closer) closer.closest("dialog")?.close();
});

// form[data-confirm="…"]: asks before a destructive submit (delete, purge, revoke).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
