// The recognize page: show the photos chosen for a comparison before they are sent.
"use strict";
const recognizePreview = (input) => {
  const img = document.getElementById(input.dataset.preview);
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  const file = input.files && input.files[0];
  img.hidden = !file;
  if (file) img.src = URL.createObjectURL(file);
  else img.removeAttribute("src");
};
document.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.dataset.preview) recognizePreview(event.target);
});
document.addEventListener("drop", (event) => {  // app.js has put the dropped files in the input
  const zone = event.target instanceof Element && event.target.closest(".dropzone");
  const input = zone && zone.querySelector("input[data-preview]");
  if (input) recognizePreview(input);
});
