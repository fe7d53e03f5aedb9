// Members: the role's Save button appears only once another role is chosen (without JavaScript
// it is always there), and removing someone asks first. No submit on change: arrowing through a
// select with the keyboard must not change anyone's role.
import { confirmForms } from "./projects-confirm.js";

confirmForms();
for (const form of document.querySelectorAll("form[data-role-form]")) {
  const select = form.querySelector("select");
  const button = form.querySelector("button");
  const saved = select.value;
  button.hidden = true;
  select.addEventListener("change", () => {
    button.hidden = select.value === saved;
  });
}
