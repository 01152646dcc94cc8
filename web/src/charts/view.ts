/**
 * The chart views' state and layout rules, kept in the URL (`x`, `log`, `smooth`, `zoom`,
 * `find`): parsing and writing those parameters, grouping metric keys by prefix, filtering them,
 * how many buckets to ask for, and which runs a tooltip lists.
 */
import type { XMode } from "./series";

export type Range = [from: number, to: number];

export function parseXMode(value: string): XMode {
  return value === "time" || value === "relative" ? value : "step";
}

/** The smoothing weight, clamped to [0, 0.99]. */
export function parseSmooth(value: string): number {
  const v = Number(value);
  return Number.isFinite(v) ? Math.min(0.99, Math.max(0, v)) : 0;
}

/**
 * Per-chart x zoom: `key:from:to` entries joined by commas (`,` and `%` in keys escaped), e.g.
 * `train/loss:1000:5000,val/acc:0:200`.
 */
export function parseZoom(value: string): Map<string, Range> {
  const out = new Map<string, Range>();
  for (const entry of value.split(",")) {
    const parts = entry.split(":");
    if (parts.length < 3) continue;
    const to = Number(parts.pop());
    const from = Number(parts.pop());
    const key = decodeKey(parts.join(":"));
    if (key && Number.isFinite(from) && Number.isFinite(to) && from < to) out.set(key, [from, to]);
  }
  return out;
}

export function formatZoom(zoom: Map<string, Range>): string {
  return [...zoom].map(([key, [from, to]]) => `${encodeKey(key)}:${from}:${to}`).join(",");
}

function encodeKey(key: string): string {
  return key.replace(/%/g, "%25").replace(/,/g, "%2C");
}

function decodeKey(key: string): string {
  return key.replace(/%2C/gi, ",").replace(/%25/g, "%");
}

/** A zoom range as integer bounds for the server (`from`/`to` are int64). */
export function wholeRange([from, to]: Range): Range {
  return [Math.floor(from), Math.ceil(to)];
}

/** Keys matching every whitespace-separated term of the query (case-insensitive substrings). */
export function filterKeys(keys: string[], query: string): string[] {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return keys;
  return keys.filter((k) => {
    const lower = k.toLowerCase();
    return terms.every((t) => lower.includes(t));
  });
}

export type Section = { name: string; keys: string[] };

/** The name of the section holding keys without a prefix. */
const UNGROUPED = "metrics";

/**
 * Sections by the part of the key before its first `/` (`train/loss` → "train"), in order of
 * first appearance, ungrouped keys in "metrics" first, `system/*` last; keys sorted within.
 */
export function groupByPrefix(keys: string[]): Section[] {
  const sections = new Map<string, string[]>();
  for (const key of keys) {
    const slash = key.indexOf("/");
    const name = slash > 0 ? key.slice(0, slash) : UNGROUPED;
    const list = sections.get(name);
    if (list) list.push(key);
    else sections.set(name, [key]);
  }
  const rank = (name: string) => (name === UNGROUPED ? 0 : name === "system" ? 2 : 1);
  return [...sections]
    .map(([name, list]) => ({ name, keys: list.sort() }))
    .sort((a, b) => rank(a.name) - rank(b.name));
}

/**
 * Buckets per run for a comparison chart `width` pixels wide: the width, but fewer when there
 * are many runs (about 100,000 buckets per chart in all, and never under 100: a thousand
 * overlaid runs show no more at finer resolution, and a zoom fetches its range afresh).
 */
export function compareBuckets(width: number, runs: number): number {
  return Math.max(1, Math.min(Math.round(width), Math.max(100, Math.floor(100_000 / Math.max(1, runs)))));
}

/**
 * The series a tooltip lists: all of them when there are at most `n`, else the `n` whose value
 * is nearest the cursor's; either way sorted by value, largest first. Missing values are skipped.
 */
export function nearestSeries(values: ArrayLike<number | null>, target: number, n: number): number[] {
  const present: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && Number.isFinite(v)) present.push(i);
  }
  const value = (i: number) => values[i] as number;
  let chosen = present;
  if (present.length > n && Number.isFinite(target)) {
    chosen = present.sort((a, b) => Math.abs(value(a) - target) - Math.abs(value(b) - target)).slice(0, n);
  } else if (present.length > n) {
    chosen = present.slice(0, n);
  }
  return chosen.sort((a, b) => value(b) - value(a));
}
