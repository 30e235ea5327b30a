// The person page: after photos were sent, the upload form is cleared for the next ones.
"use strict";
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-reset-after")) return;
  if (!event.detail.successful) return;
  form.reset();
  for (const chosen of form.querySelectorAll("[data-chosen]")) chosen.textContent = "";
});
