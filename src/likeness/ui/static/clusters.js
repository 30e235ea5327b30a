// Unknown faces: the merge bar counts the selected clusters (two or more to merge).
"use strict";
(() => {
  const selector = 'input[type=checkbox][form="merge-form"]';
  const update = () => {
    const form = document.getElementById("merge-form");
    if (!form) return;
    const count = document.querySelectorAll(`${selector}:checked`).length;
    form.querySelector("button").disabled = count < 2;
    form.querySelector("[data-merge-count]").textContent = count === 0
      ? "Two groups of the same person? Select them, then merge."
      : count === 1 ? "1 selected: select another group of the same person."
      : `${count} selected: they join the first.`;
  };
  document.addEventListener("change", (event) => { if (event.target.matches(selector)) update(); });
  document.addEventListener("htmx:afterSettle", update);
  document.addEventListener("htmx:oobAfterSwap", update);
})();
