// sigbench signature service: small page behaviours (no framework, no build step).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Destructive forms ask first.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  // Long uploads: disable the button and say what is happening.
  document.querySelectorAll("form[data-busy]").forEach((form) => {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = form.dataset.busy; }
    });
  });
  // Detection boxes mirror their checkbox (clicking a box toggles it through its <label for>).
  const sync = () => {
    document.querySelectorAll(".box[data-detection]").forEach((box) => {
      const input = document.getElementById("det-" + box.dataset.detection);
      if (input) box.classList.toggle("off", !input.checked);
    });
  };
  document.querySelectorAll("input[name=detection_ids]").forEach((input) => input.addEventListener("change", sync));
  sync();
});
