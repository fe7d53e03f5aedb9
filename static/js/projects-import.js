// Upload: show the chosen file's name, accept a dropped file, and keep the button from being
// pressed twice while the file travels.
const form = document.querySelector("[data-upload-form]");
if (form) {
  const zone = form.querySelector("[data-dropzone]");
  const input = zone.querySelector("input[type=file]");
  const name = zone.querySelector("[data-file-name]");
  const button = form.querySelector("[data-upload-button]");
  const formatMB = (bytes) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MB`;

  const showFile = () => {
    const file = input.files[0];
    name.textContent = file ? `${file.name} · ${formatMB(file.size)}` : "Choose a file";
    zone.classList.toggle("has-file", Boolean(file));
  };
  input.addEventListener("change", showFile);
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("is-over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("is-over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showFile();
    }
  });
  form.addEventListener("submit", () => {
    button.disabled = true;
    button.textContent = "Uploading…";
  });
}
