// Members: the role's Save button appears only once another role is chosen (without JavaScript
// it is always there), and removing someone or revoking a link asks first. No submit on change:
// arrowing through a select with the keyboard must not change anyone's role. A new invitation
// link copies with one click.
import { confirmForms } from "./projects-confirm.js";
import { secretCopy } from "./secret-copy.js";

confirmForms();
secretCopy();
for (const form of document.querySelectorAll("form[data-role-form]")) {
  const select = form.querySelector("select");
  const button = form.querySelector("button");
  const saved = select.value;
  button.hidden = true;
  select.addEventListener("change", () => {
    button.hidden = select.value === saved;
  });
}
