// Small helpers with no knowledge of the page: storage that never throws, ids, wording.

export const storage = {
  get(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch {
      return false; // private mode or full: the in-memory copy still works for this tab
    }
  },
};

/** A number kept in this tab's sessionStorage (it survives a reload, not a new tab), or in
 * memory where the storage refuses. */
export function sessionNumber(key) {
  let memory = 0;
  const read = () => {
    try {
      return Number(sessionStorage.getItem(key)) || 0;
    } catch {
      return memory;
    }
  };
  return {
    get: read,
    add(delta) {
      memory = Math.max(0, read() + delta);
      try {
        sessionStorage.setItem(key, String(memory));
      } catch {
        // private mode or full: the in-memory copy still counts for this page
      }
    },
  };
}

export function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
export const quoted = (key) => `“${key}”`;
