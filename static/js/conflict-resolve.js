// A conflict's resolution page in the admin: every action has a key, shown on its element as
// data-key. A button or link is pressed, a checkbox ticked, the note focused, the instructions
// opened or closed. Keys never fire while typing in the note (Esc leaves it). The forms post
// normally: without this script the page works with the mouse and Tab.

const page = document.querySelector("[data-conflict-page]");

function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
    return true;
  }
  return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(target.type);
}

function keyed() {
  const byKey = new Map();
  for (const element of document.querySelectorAll("[data-key]")) {
    if (element.dataset.key && !byKey.has(element.dataset.key)) byKey.set(element.dataset.key, element);
  }
  return byKey;
}

let sent = false; // one decision per page: a second press or click must not post again

function act(element, event) {
  if (element instanceof HTMLTextAreaElement) {
    element.focus();
    element.setSelectionRange(element.value.length, element.value.length);
  } else if (element instanceof HTMLDetailsElement) {
    element.open = !element.open;
  } else if (element instanceof HTMLInputElement && element.type === "checkbox") {
    element.checked = !element.checked;
    element.focus();
  } else if (element instanceof HTMLAnchorElement) {
    element.click();
  } else if (element instanceof HTMLButtonElement && !event.repeat) {
    element.click();
  }
}

if (page) {
  const byKey = keyed();
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (isTyping(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "Enter" && target instanceof HTMLElement && target.closest("a, button, summary")) {
      return; // Enter presses the focused control itself
    }
    const element = byKey.get(event.key);
    if (!element) return;
    event.preventDefault();
    act(element, event);
  });
  document.addEventListener("submit", (event) => {
    if (sent) {
      event.preventDefault();
      return;
    }
    sent = true;
    document.body.classList.add("cr-sending");
  });
  // Back from the next page (the browser's cache), the page may post again.
  window.addEventListener("pageshow", () => {
    sent = false;
    document.body.classList.remove("cr-sending");
  });
}
