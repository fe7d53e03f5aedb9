// A dataset version's page (exports/dataset_version.html): copy buttons for the files' sha256,
// the latest version's URL and the pipeline snippet. Without a clipboard they stay hidden and
// the text can be selected as usual.
if (navigator.clipboard) {
  document.querySelectorAll("[data-copy-from]").forEach((button) => {
    const source = document.getElementById(button.dataset.copyFrom);
    const words = button.textContent;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = "value" in source && source.tagName === "INPUT" ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
        button.textContent = "Copied";
      } catch {
        button.textContent = "Press Ctrl+C";
      }
      window.setTimeout(() => { button.textContent = words; }, 2000);
    });
  });
}
