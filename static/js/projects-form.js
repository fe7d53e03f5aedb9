// Project settings: conditional sections, the label schema editor, and the instructions preview.
// The page works without it (every row and section is rendered by the server); this adds rows,
// hides what does not apply, and previews Markdown as raters will see it. Archiving asks first.
import { confirmForms } from "./projects-confirm.js";

confirmForms();

const form = document.querySelector("[data-project-form]");
const PALETTE = ["#4f6bed", "#2e9e5b", "#d64545", "#d99a1e", "#8e59c9", "#1f9bb0", "#e0678f", "#6b7686"];

function fieldValue(name) {
  const checked = form.querySelector(`[name="${name}"]:checked`);
  if (checked) return checked.value;
  const input = form.querySelector(`[name="${name}"]`);
  return input ? input.value : "";
}

// --- sections that apply to one choice only (rating bounds, the label schema) -----------------
function applyConditions() {
  for (const el of form.querySelectorAll("[data-show-when], [data-hide-when]")) {
    const rule = el.dataset.showWhen || el.dataset.hideWhen;
    const [name, value] = rule.split("=");
    const matches = fieldValue(name) === value;
    const show = el.dataset.showWhen ? matches : !matches;
    // Never hide a section that carries an error the user must see.
    el.hidden = !show && !el.querySelector(".has-error, .errorlist");
  }
}

// --- the label schema editor -----------------------------------------------------------------
function setupLabelEditor() {
  const editor = form.querySelector("[data-label-editor]");
  if (!editor) return;
  const rows = editor.querySelector("[data-label-rows]");
  const template = editor.querySelector("[data-label-template]");
  const total = editor.querySelector('input[name$="-TOTAL_FORMS"]');
  const addButton = editor.querySelector("[data-add-label]");
  addButton.hidden = false;

  const syncRow = (row) => {
    const del = row.querySelector('input[name$="-DELETE"]');
    row.classList.toggle("is-deleted", Boolean(del && del.checked));
    const text = row.querySelector(".delete-toggle span");
    if (text && del) text.textContent = del.checked ? "Undo" : "Remove";
  };

  const slug = (text) =>
    text.trim().toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 100);

  // Typing a display name proposes a value, until the value is edited by hand.
  rows.addEventListener("input", (event) => {
    const input = event.target;
    const row = input.closest("[data-label-row]");
    if (!row) return;
    const value = row.querySelector('input[name$="-value"]');
    if (input.name.endsWith("-value")) value.dataset.touched = "1";
    if (input.name.endsWith("-display_name") && !value.disabled && !value.dataset.touched) {
      value.value = slug(input.value);
    }
    if (input.name.endsWith("-hotkey")) input.value = input.value.toLowerCase();
  });
  rows.addEventListener("change", (event) => {
    const row = event.target.closest("[data-label-row]");
    if (row && event.target.name.endsWith("-DELETE")) syncRow(row);
  });
  rows.querySelectorAll("[data-label-row]").forEach(syncRow);

  addButton.addEventListener("click", () => {
    const index = Number(total.value);
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    rows.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    const row = rows.lastElementChild;
    row.querySelector('input[type="color"]').value = PALETTE[index % PALETTE.length];
    row.querySelector('input[name$="-display_name"]').focus();
  });
}

// --- instructions: write / preview ------------------------------------------------------------
function setupMarkdownPreview() {
  const editor = form.querySelector("[data-md-editor]");
  if (!editor) return;
  const tabs = editor.querySelector("[data-md-tabs]");
  const textarea = editor.querySelector("textarea");
  const preview = editor.querySelector("[data-md-preview]");
  const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  tabs.hidden = false;

  async function show(which, { focusText = true } = {}) {
    for (const tab of tabs.querySelectorAll("[data-md-tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.mdTab === which));
    }
    if (which === "write") {
      preview.hidden = true;
      textarea.hidden = false;
      if (focusText) textarea.focus();
      return;
    }
    preview.style.minHeight = `${textarea.offsetHeight}px`;
    textarea.hidden = true;
    preview.hidden = false;
    preview.textContent = "Rendering…";
    const body = new FormData();
    body.append("source", textarea.value);
    try {
      const response = await fetch(editor.dataset.previewUrl, {
        method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin",
      });
      if (!response.ok) throw new Error(String(response.status));
      const { html } = await response.json();
      // The server rendered and sanitized this with the same function the raters' page uses.
      preview.innerHTML = html || '<p class="muted">Nothing to preview yet.</p>';
    } catch {
      preview.textContent = "The preview could not be loaded. Your text is unchanged.";
    }
  }

  tabs.addEventListener("click", (event) => {
    const tab = event.target.closest("[data-md-tab]");
    if (tab) show(tab.dataset.mdTab);
  });
  tabs.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const next = tabs.querySelector('[aria-selected="false"]');
    next.focus();
    show(next.dataset.mdTab, { focusText: false });
  });
}

if (form) {
  form.addEventListener("change", applyConditions);
  applyConditions();
  setupLabelEditor();
  setupMarkdownPreview();
  form.querySelector("[data-form-alert]")?.focus();
}
