// Likeness web UI: the few things htmx does not do. No framework, no build step.
"use strict";
const likeness = {
  toggleMenu(button) {
    const nav = document.getElementById(button.getAttribute("aria-controls"));
    const open = nav.classList.toggle("open");
    button.setAttribute("aria-expanded", String(open));
  },

  // Boxes over a photo: each .box has data-box="x1,y1,x2,y2" in the image's pixels.
  placeBoxes(container) {
    const img = container.querySelector("img");
    const place = () => {
      const scale = img.clientWidth / img.naturalWidth;
      for (const box of container.querySelectorAll(".box")) {
        const [x1, y1, x2, y2] = box.dataset.box.split(",").map(Number);
        Object.assign(box.style, {left: `${x1 * scale}px`, top: `${y1 * scale}px`,
                                  width: `${(x2 - x1) * scale}px`, height: `${(y2 - y1) * scale}px`});
      }
    };
    if (img.complete && img.naturalWidth) place(); else img.addEventListener("load", place);
    window.addEventListener("resize", place);
  },

  // A drop zone feeding a file input: dropped files replace the input's selection.
  dropZone(zone) {
    const input = zone.querySelector("input[type=file]");
    const label = zone.querySelector("[data-chosen]");
    const show = () => { if (label) label.textContent = input.files.length ? `${input.files.length} file(s) chosen` : ""; };
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault(); zone.classList.remove("over");
      input.files = event.dataTransfer.files; show();
    });
    input.addEventListener("change", show);
  },

  seek(button) {
    const video = document.getElementById(button.dataset.video);
    video.currentTime = Number(button.dataset.ms) / 1000;
    video.play().catch(() => {});  // autoplay may be refused; the seek stands
  },
};

function enhance(root) {
  for (const el of root.querySelectorAll(".photo-boxes")) likeness.placeBoxes(el);
  for (const el of root.querySelectorAll(".dropzone")) likeness.dropZone(el);
}
document.addEventListener("DOMContentLoaded", () => enhance(document));
document.addEventListener("htmx:afterSettle", (event) => enhance(event.detail.elt));
