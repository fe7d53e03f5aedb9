// API tokens: copy a new secret with one click (or select it on focus), and confirm a revoke.
import { confirmForms } from "./projects-confirm.js";

confirmForms();
const box = document.querySelector("[data-secret]");
if (box) {
  const input = box.querySelector("[data-secret-value]");
  const button = box.querySelector("[data-copy]");
  input.addEventListener("focus", () => input.select());
  if (navigator.clipboard) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch {
        input.select();
        button.textContent = "Press Ctrl+C";
      }
      window.setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }
  input.focus();
}
