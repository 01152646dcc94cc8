// The runs table's column model: which columns exist (run attributes, params, metrics with a
// last/min/max aggregate, tags), how a column list is written in the URL, the default choice,
// the order_by clause a sort makes, and the display text of a cell.
import type { ExperimentKeys, RunRow } from "../../api/client";
import { toNumber, type WireDouble } from "../../api/doubles";
import { formatDuration, formatNumber, formatTime } from "../../format";
import { filterKey } from "./filter";

export type Kind = "attributes" | "params" | "metrics" | "tags";
export type Agg = "last" | "min" | "max";

export type Column = { kind: Kind; key: string; agg: Agg };

/** The run attributes the table can show, in chooser order, with their labels. */
export const ATTRIBUTES: ReadonlyArray<{ key: string; label: string; sortable: boolean }> = [
  { key: "run_name", label: "Name", sortable: true },
  { key: "status", label: "Status", sortable: true },
  { key: "start_time", label: "Start time", sortable: true },
  { key: "duration", label: "Duration", sortable: false },
  { key: "user_id", label: "User", sortable: true },
  { key: "run_id", label: "Run ID", sortable: true },
  { key: "end_time", label: "End time", sortable: true },
];

const DEFAULT_ATTRIBUTES = ["run_name", "status", "start_time", "duration"];
const DEFAULT_PER_KIND = 6;

/** A column's id: `kind.key`, with `@min` / `@max` for those metric aggregates. */
export function columnId(c: Column): string {
  return `${c.kind}.${c.key}${c.kind === "metrics" && c.agg !== "last" ? "@" + c.agg : ""}`;
}

/** The column an id names, or null when it is not one. */
export function parseColumnId(id: string): Column | null {
  const dot = id.indexOf(".");
  if (dot <= 0) return null;
  const kind = id.slice(0, dot);
  if (kind !== "attributes" && kind !== "params" && kind !== "metrics" && kind !== "tags") return null;
  let key = id.slice(dot + 1);
  let agg: Agg = "last";
  if (kind === "metrics") {
    const at = key.lastIndexOf("@");
    const suffix = at >= 0 ? key.slice(at + 1) : "";
    if (suffix === "min" || suffix === "max") {
      agg = suffix;
      key = key.slice(0, at);
    }
  }
  if (!key) return null;
  if (kind === "attributes" && !ATTRIBUTES.some((a) => a.key === key)) return null;
  return { kind, key, agg };
}

// Column ids are joined with "," in the URL; a key cannot normally hold "," or "%", but escape
// them so that any key survives.
const escapeId = (id: string) => id.replace(/%/g, "%25").replace(/,/g, "%2C");
const unescapeId = (id: string) => id.replace(/%2C/gi, ",").replace(/%25/g, "%");

export function writeColumns(columns: Column[]): string {
  return columns.map((c) => escapeId(columnId(c))).join(",");
}

export function readColumns(text: string): Column[] {
  const out: Column[] = [];
  const seen = new Set<string>();
  for (const part of text.split(",")) {
    const column = parseColumnId(unescapeId(part));
    if (column && !seen.has(columnId(column))) {
      seen.add(columnId(column));
      out.push(column);
    }
  }
  return out;
}

/** Name, status, start time, duration, then the first metrics (latest value) and params. */
export function defaultColumns(keys: ExperimentKeys | null): Column[] {
  const out: Column[] = DEFAULT_ATTRIBUTES.map((key) => ({ kind: "attributes", key, agg: "last" }));
  for (const key of keys?.metrics.slice(0, DEFAULT_PER_KIND) ?? []) out.push({ kind: "metrics", key, agg: "last" });
  for (const key of keys?.params.slice(0, DEFAULT_PER_KIND) ?? []) out.push({ kind: "params", key, agg: "last" });
  return out;
}

/** The metric keys whose statistics the search must carry (columns showing min or max). */
export function summaryKeys(columns: Column[]): string[] {
  const keys = new Set<string>();
  for (const c of columns) if (c.kind === "metrics" && c.agg !== "last") keys.add(c.key);
  return [...keys].sort();
}

export function isSortable(c: Column): boolean {
  if (c.kind === "attributes") return ATTRIBUTES.find((a) => a.key === c.key)?.sortable ?? false;
  // The server orders metrics by their latest value only.
  return c.kind !== "metrics" || c.agg === "last";
}

export type Sort = { column: Column; ascending: boolean } | null;

/** The `order_by` clause of a sort, e.g. `metrics.loss ASC` or ``params.`my key` DESC``. */
export function orderClause(column: Column, ascending: boolean): string {
  return `${filterKey(column.kind, column.key)} ${ascending ? "ASC" : "DESC"}`;
}

/** The URL form of a sort: `<column id>:asc|desc`. */
export function writeSort(sort: Sort): string {
  return sort ? `${columnId(sort.column)}:${sort.ascending ? "asc" : "desc"}` : "";
}

export function readSort(text: string): Sort {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return null;
  const direction = text.slice(colon + 1);
  const column = parseColumnId(text.slice(0, colon));
  if (!column || !isSortable(column) || (direction !== "asc" && direction !== "desc")) return null;
  return { column, ascending: direction === "asc" };
}

/** Clicking a header cycles ascending → descending → unsorted. */
export function nextSort(current: Sort, column: Column): Sort {
  if (!current || columnId(current.column) !== columnId(column)) return { column, ascending: true };
  return current.ascending ? { column, ascending: false } : null;
}

/** A column's header label. */
export function columnLabel(c: Column): string {
  if (c.kind === "attributes") return ATTRIBUTES.find((a) => a.key === c.key)?.label ?? c.key;
  return c.kind === "metrics" && c.agg !== "last" ? `${c.key} (${c.agg})` : c.key;
}

/** A metric cell's number (null when the run has none). */
export function metricValue(row: RunRow, c: Column): number | null {
  if (c.agg === "last") return toNumber(row.metrics[c.key] as WireDouble | undefined);
  const summary = row.summaries?.[c.key];
  if (!summary) return null;
  return toNumber((c.agg === "min" ? summary.min : summary.max) as WireDouble | null);
}

/** A run's duration in ms: to its end, or to `now` while it has none. */
export function duration(row: RunRow, now: number): number | null {
  const end = row.info.end_time ?? (row.info.status === "RUNNING" ? now : null);
  return end === null ? null : Math.max(0, end - row.info.start_time);
}

/** A cell as plain text (for the table's simple cells and for CSV). */
export function cellText(row: RunRow, c: Column, now: number, forExport = false): string {
  switch (c.kind) {
    case "params":
      return row.params[c.key] ?? "";
    case "tags":
      return row.tags[c.key] ?? "";
    case "metrics": {
      const v = metricValue(row, c);
      if (v === null) return "";
      return forExport ? String(v) : formatNumber(v);
    }
    case "attributes":
      return attributeText(row, c.key, now, forExport);
  }
}

function attributeText(row: RunRow, key: string, now: number, forExport: boolean): string {
  const info = row.info;
  switch (key) {
    case "run_name":
      return info.run_name;
    case "status":
      return info.status;
    case "user_id":
      return info.user_id;
    case "run_id":
      return info.run_id;
    case "start_time":
      return forExport ? new Date(info.start_time).toISOString() : formatTime(info.start_time);
    case "end_time":
      if (info.end_time === undefined) return "";
      return forExport ? new Date(info.end_time).toISOString() : formatTime(info.end_time);
    case "duration": {
      const ms = duration(row, now);
      if (ms === null) return "";
      return forExport ? String(ms / 1000) : formatDuration(ms);
    }
    default:
      return "";
  }
}

/** A CSV header for a column: `metrics.loss`, `metrics.loss (min)`, `duration_s`, ... */
export function exportHeader(c: Column): string {
  if (c.kind === "attributes") return c.key === "duration" ? "duration_s" : c.key;
  return c.kind === "metrics" && c.agg !== "last" ? `metrics.${c.key} (${c.agg})` : `${c.kind}.${c.key}`;
}

/** The keys the given rows use (sorted): a stand-in for the experiment's until those load. */
export function keysOfRows(rows: Iterable<RunRow>): ExperimentKeys {
  const params = new Set<string>();
  const metrics = new Set<string>();
  const tags = new Set<string>();
  for (const row of rows) {
    for (const k in row.params) params.add(k);
    for (const k in row.metrics) metrics.add(k);
    for (const k in row.tags) tags.add(k);
  }
  const sorted = (set: Set<string>) => [...set].sort();
  return { params: sorted(params), metrics: sorted(metrics), tags: sorted(tags) };
}
