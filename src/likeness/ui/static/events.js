// An event's page: photos uploaded one request each, a few at a time, each with its
// progress; then the photos and the guests' groups are fetched again.
"use strict";
(() => {
  // Two in flight: one uploads while the server analyses the other.
  const PARALLEL = 2;

  function row(list, file) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const state = document.createElement("span");
    state.className = "state muted";
    state.textContent = "waiting";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `upload of ${file.name}`);
    item.append(name, state, bar);
    list.append(item);
    return {item, state, bar};
  }

  // Errors come back as 200 with a message fragment (HX-Retarget set), never as a failed
  // request: the browser logs nothing.
  function send(form, file, view) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("file", file, file.name);
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      request.setRequestHeader("HX-Request", "true");
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) view.bar.value = Math.round(95 * event.loaded / event.total);
      });
      view.state.textContent = "uploading";
      request.addEventListener("load", () => {
        view.bar.remove();
        const ok = request.status === 200 && !request.getResponseHeader("HX-Retarget");
        view.state.className = ok ? "state" : "state error";
        if (request.getResponseHeader("HX-Redirect")) {  // signed out meanwhile
          window.location.href = request.getResponseHeader("HX-Redirect");
        }
        view.state.innerHTML = request.status === 200 ? request.responseText : `failed (${request.status})`;
        resolve(ok);
      });
      request.addEventListener("error", () => {
        view.bar.remove();
        view.state.className = "state error";
        view.state.textContent = "failed: the connection broke";
        resolve(false);
      });
      request.send(data);
    });
  }

  async function upload(form) {
    const input = form.querySelector("input[type=file]");
    const files = Array.from(input.files);
    if (!files.length) return;
    const button = form.querySelector("button[type=submit]");
    const count = document.getElementById("upload-count");
    const list = document.getElementById("upload-list");
    const maxBytes = Number(form.dataset.maxBytes);
    list.replaceChildren();
    button.disabled = true;
    let done = 0, failed = 0;
    const show = () => {
      count.textContent = `${done} of ${files.length} uploaded` + (failed ? ` · ${failed} failed` : "");
    };
    show();
    const queue = files.map((file) => ({file, view: row(list, file)}));
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        let ok = false;
        if (maxBytes && next.file.size > maxBytes) {
          next.view.state.className = "state error";
          next.view.state.textContent = `too large (over ${Math.round(maxBytes / 1e6)} MB)`;
        } else {
          ok = await send(form, next.file, next.view);
        }
        if (ok) done += 1; else failed += 1;
        show();
      }
    };
    await Promise.all(Array.from({length: Math.min(PARALLEL, files.length)}, worker));
    count.textContent = `Done: ${done} of ${files.length} uploaded` + (failed ? ` · ${failed} failed` : "");
    input.value = "";
    const chosen = form.querySelector("[data-chosen]");
    if (chosen) chosen.textContent = "";
    button.disabled = false;
    if (done) htmx.trigger(document.body, "photos-added");
  }

  function copy(button) {
    const input = document.getElementById(button.dataset.copy);
    input.select();
    navigator.clipboard?.writeText(input.value).then(
      () => { button.textContent = "Copied"; }, () => { button.textContent = "Select and copy"; });
  }

  document.addEventListener("submit", (event) => {
    if (event.target.id !== "upload") return;
    event.preventDefault();
    upload(event.target);
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (button) copy(button);
  });
})();
