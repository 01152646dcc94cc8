// Pure helpers of the audit log page: the filters as they live in the page's URL, the API query
// they stand for, the datetime-local inputs' conversion to and from milliseconds, and how an
// entry's status and user agent are shown.
import type { AuditQuery } from "../../api/client";

/** Entries per request (the API's default). */
export const AUDIT_PAGE_SIZE = 100;

/** The filters as kept in the page's URL: `since`/`until` are ms since the epoch, as text. */
export type AuditFilters = { user: string; action: string; since: string; until: string };


const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/**
 * A `datetime-local` input's value (`YYYY-MM-DDTHH:MM`, optionally `:SS` and `.sss`) in local
 * time as ms since the epoch; undefined for an empty or malformed value.
 */
export function localInputToMs(value: string): number | undefined {
  const m = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(value.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const second = m[6] ? Number(m[6]) : 0;
  const ms = m[7] ? Number(m[7].padEnd(3, "0")) : 0;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(year, month - 1, day, hour, minute, second, ms);
  // Reject days a month does not have (Feb 30 would roll over into March).
  if (date.getMonth() !== month - 1 || date.getDate() !== day) return undefined;
  return date.getTime();
}

/** Ms since the epoch as a `datetime-local` value in local time (seconds shown when not 0). */
export function msToLocalInput(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "";
  const d = new Date(ms);
  const base = `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.getSeconds() || d.getMilliseconds() ? `${base}:${pad(d.getSeconds())}` : base;
}

/** A URL parameter holding ms since the epoch, as a number (undefined when absent or not one). */
export function parseMs(text: string): number | undefined {
  if (!/^-?\d+$/.test(text.trim())) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The API query for `filters`, paging back from entry `before` when given. */
export function auditQuery(filters: AuditFilters, before?: number, limit = AUDIT_PAGE_SIZE): AuditQuery {
  const q: AuditQuery = {};
  const user = filters.user.trim();
  // Not trimmed at the end: an action prefix may end with a space ("POST ").
  const action = filters.action.trimStart();
  const since = parseMs(filters.since);
  const until = parseMs(filters.until);
  if (user) q.user = user;
  if (action) q.action = action;
  if (since !== undefined) q.since = since;
  if (until !== undefined) q.until = until;
  if (before !== undefined) q.before = before;
  q.limit = limit;
  return q;
}

/** How a status is shown: a refused or failed request (4xx, 5xx) stands out. */
export function statusKind(status: number): "ok" | "client-error" | "server-error" | "other" {
  if (status >= 500) return "server-error";
  if (status >= 400) return "client-error";
  if (status >= 200 && status < 400) return "ok";
  return "other";
}

/** `text` cut to `max` characters (an ellipsis marking the cut). */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, Math.max(0, max - 1)) + "…";
}

/** Whether an answer of `count` entries may have older ones after it (it filled the page). */
export function mayHaveOlder(count: number, limit = AUDIT_PAGE_SIZE): boolean {
  return count >= limit;
}
