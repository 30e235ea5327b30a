// The review queue from the keyboard: J/K or the arrows move between items, A approves,
// R rejects, G approves and adds the face to the gallery, X selects. A decided item is
// swapped out by htmx and the next one becomes current.
"use strict";
const review = {
  after: null,  // the id of the item last decided: the one after it comes next

  items() { return [...document.querySelectorAll(".review-item[data-item]")]; },
  current() { return document.querySelector(".review-item.current"); },

  choose(item, focus = true) {
    for (const other of document.querySelectorAll(".review-item.current")) {
      other.classList.remove("current");
    }
    if (!item) return;
    item.classList.add("current");
    if (focus) {
      item.focus({preventScroll: true});
      item.scrollIntoView({block: "nearest"});
    }
  },

  move(step) {
    const items = this.items();
    if (!items.length) return;
    const at = items.indexOf(this.current());
    const next = at < 0 ? 0 : Math.min(items.length - 1, Math.max(0, at + step));
    this.choose(items[next]);
  },

  // After a decision: the next pending item after the decided one, else the one before.
  resume() {
    // The count left: the total the page was drawn with, less the items decided since
    // (recounted each time, whatever order htmx's swaps settle in).
    const count = document.querySelector("#review-total [data-count]");
    if (count) {
      const decidedNow = document.querySelectorAll(".review-item.decided").length;
      count.textContent = String(Math.max(0, Number(count.dataset.total) - decidedNow));
    }
    const decided = this.after && document.getElementById(this.after);
    // Not decided yet (another swap settled first) or refused: it stays current, and
    // the decision's own swap resumes from it.
    if (this.current()) return;
    this.after = null;
    let item = null;
    if (decided) {
      for (let el = decided.nextElementSibling; el && !item; el = el.nextElementSibling) {
        if (el.matches("[data-item]")) item = el;
      }
      for (let el = decided.previousElementSibling; el && !item; el = el.previousElementSibling) {
        if (el.matches("[data-item]")) item = el;
      }
      this.choose(item, document.activeElement === document.body || !document.activeElement);
    } else {
      this.choose(this.items()[0], false);
    }
  },

  press(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest("select, textarea, [contenteditable]") ||
        (target.matches("input") && target.type !== "checkbox")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "j" || key === "ArrowDown") { this.move(1); event.preventDefault(); return; }
    if (key === "k" || key === "ArrowUp") { this.move(-1); event.preventDefault(); return; }
    const item = this.current();
    if (!item) return;
    if (key === "x") {
      const box = item.querySelector("input[name=item]");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
      return;
    }
    const button = item.querySelector(`button[data-key="${key}"]`);
    if (button && !button.disabled) { button.click(); event.preventDefault(); }
  },
};

document.addEventListener("keydown", (event) => review.press(event));
document.addEventListener("click", (event) => {
  const item = event.target.closest && event.target.closest(".review-item[data-item]");
  if (item && !item.classList.contains("current")) review.choose(item, false);
  const all = event.target.closest && event.target.closest("[data-select-all]");
  if (all) {
    for (const box of document.querySelectorAll("#queue input[name=item]")) box.checked = all.checked;
  }
});
document.addEventListener("htmx:beforeRequest", (event) => {
  const item = event.target.closest && event.target.closest(".review-item[data-item]");
  if (item) review.after = item.id;
});
document.addEventListener("htmx:afterSettle", () => review.resume());
document.addEventListener("DOMContentLoaded", () => review.resume());
