// CSV export of every run matching the table's query (up to EXPORT_CAP rows), fetched 1,000 at
// a time, with the table's columns (and the run id first, so rows can be traced back).
import type { RunRow } from "../../api/client";
import { cellText, exportHeader, type Column } from "./columns";
import { toCsv } from "./csv";
import type { Query, SearchFn } from "./windows";

export const EXPORT_CAP = 100_000;
const PAGE = 1000;

/** The export's columns: the run id first (unless shown already), then the table's. */
export function exportColumns(columns: Column[]): Column[] {
  const hasId = columns.some((c) => c.kind === "attributes" && c.key === "run_id");
  return hasId ? columns : [{ kind: "attributes", key: "run_id", agg: "last" }, ...columns];
}

/** Fetches every matching run and returns the CSV text; `progress` gets (done, total). */
export async function exportCsv(
  query: Query,
  columns: Column[],
  search: SearchFn,
  signal: AbortSignal,
  progress: (done: number, total: number) => void,
): Promise<{ csv: string; rows: number; capped: boolean }> {
  const cols = exportColumns(columns);
  const rows: RunRow[] = [];
  let total = Infinity;
  while (rows.length < Math.min(total, EXPORT_CAP)) {
    const limit = Math.min(PAGE, EXPORT_CAP - rows.length);
    const answer = await search({ ...query, offset: rows.length, limit }, signal);
    total = answer.total;
    rows.push(...answer.runs);
    progress(rows.length, Math.min(total, EXPORT_CAP));
    if (answer.runs.length < limit) break;
  }
  const now = Date.now();
  const csv = toCsv(
    cols.map(exportHeader),
    rows.map((r) => cols.map((c) => cellText(r, c, now, true))),
  );
  return { csv, rows: rows.length, capped: total > EXPORT_CAP };
}

/** Hands `text` to the browser as a download named `name`. */
export function download(name: string, text: string, type = "text/csv;charset=utf-8"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
