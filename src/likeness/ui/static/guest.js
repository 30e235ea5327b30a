// The guest page: the chosen selfie is previewed before it is sent.
"use strict";
document.addEventListener("change", (event) => {
  if (event.target.id !== "selfie") return;
  const file = event.target.files[0];
  const preview = document.getElementById("selfie-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (file) {
    preview.src = URL.createObjectURL(file);
    preview.alt = "Your selfie";
    preview.hidden = false;
  } else {
    preview.hidden = true;
  }
  document.getElementById("results").replaceChildren();
});
