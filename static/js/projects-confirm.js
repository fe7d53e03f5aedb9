// Forms marked data-confirm="question" ask before they submit (removing a member, revoking a
// token). Imported by the pages that have such forms.
export function confirmForms(root = document) {
  root.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
