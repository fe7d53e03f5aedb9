// A secret shown once (a new API token, a new invitation link): copied with one click, or
// selected on focus. Imported by the pages that show one.
export function secretCopy(root = document) {
  const box = root.querySelector("[data-secret]");
  if (!box) return;
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
