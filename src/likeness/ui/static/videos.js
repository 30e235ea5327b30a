// Videos: the upload's progress, and a size check before sending a file too large.
"use strict";
(() => {
  const formOf = (event) => event.target.closest && event.target.closest("form.upload");

  const showError = (text) => {
    const flash = document.getElementById("flash");
    const message = document.createElement("div");
    message.className = "flash error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    flash.replaceChildren(message);
  };

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = formOf(event);
    if (!form) return;
    const file = form.querySelector("input[type=file]").files[0];
    const limit = Number(form.dataset.maxBytes);
    if (file && limit && file.size > limit) {
      event.preventDefault();
      showError(`${file.name} is ${(file.size / 1e6).toFixed(0)} MB: ` +
                `the largest video accepted is ${(limit / 1e6).toFixed(0)} MB.`);
      return;
    }
    const box = form.querySelector(".upload-progress");
    box.hidden = false;
    box.querySelector("progress").value = 0;
    box.querySelector("[data-percent]").textContent = "0%";
  });

  document.addEventListener("htmx:xhr:progress", (event) => {
    const form = formOf(event);
    if (!form || !event.detail.lengthComputable) return;
    const percent = Math.round(event.detail.loaded / event.detail.total * 100);
    const box = form.querySelector(".upload-progress");
    box.querySelector("progress").value = percent;
    box.querySelector("[data-percent]").textContent =
      percent < 100 ? `${percent}% uploaded` : "Uploaded: checking the video…";
  });

  // Refused before the page's code ran (a body over the server's limit: 413 JSON)
  document.addEventListener("htmx:responseError", (event) => {
    if (!formOf(event)) return;
    let detail = `the upload failed (HTTP ${event.detail.xhr.status})`;
    try { detail = JSON.parse(event.detail.xhr.responseText).detail || detail; } catch { /* not JSON */ }
    showError(detail);
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    const form = formOf(event);
    // Anything but the redirect to the video's page (an error shown above, say)
    if (form && !event.detail.xhr.getResponseHeader("HX-Redirect")) {
      form.querySelector(".upload-progress").hidden = true;
    }
  });
})();
