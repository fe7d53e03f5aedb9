// The assign page: show only the field that the chosen source uses. Without this script both
// fields show, and the server ignores the one that does not apply.
const form = document.querySelector("[data-assign-form]");
if (form) {
  const keys = form.querySelector("[name=keys]").closest(".field");
  const count = form.querySelector("[name=count]").closest(".field");
  const sync = () => {
    const source = form.querySelector("[name=source]:checked")?.value ?? "keys";
    keys.hidden = source !== "keys";
    count.hidden = source !== "next";
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "source") sync();
  });
  sync();
}
