// Pure helpers of the experiments list: the name search as an experiment filter, relative
// times, and `key=value` tag input.

/**
 * `name ILIKE '%text%'` for a search box's text ("" for none). The language has no LIKE escape,
 * so `%` and `_` in the text become `_` (any one character: a close, slightly wider match);
 * quotes are doubled and backslashes escaped.
 */
export function nameFilter(text: string): string {
  const t = text.trim();
  if (!t) return "";
  const literal = t.replace(/\\/g, "\\\\").replace(/'/g, "''").replace(/[%_]/g, "_");
  return `name ILIKE '%${literal}%'`;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", then the date. */
export function relativeTime(ms: number, now: number): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} d ago`;
  const date = new Date(ms);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
}

/** A tag typed as `key=value` (or a bare `key`, with an empty value); null when the key is empty. */
export function parseTag(text: string): { key: string; value: string } | null {
  const eq = text.indexOf("=");
  const key = (eq < 0 ? text : text.slice(0, eq)).trim();
  const value = eq < 0 ? "" : text.slice(eq + 1).trim();
  return key ? { key, value } : null;
}

/** Tags the list shows: not MLflow's system tags (`mlflow.*`, e.g. the description). */
export function visibleTags<T extends { key: string }>(tags: T[]): T[] {
  return tags.filter((t) => !t.key.startsWith("mlflow."));
}
