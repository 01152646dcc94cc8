// The bar above the runs table: the total, the selection count, compare, delete/restore (with
// undo), and the CSV export button.
import { useState } from "preact/hooks";
import { api, type View } from "../../api/client";
import { navigate } from "../../router";
import type { Column } from "./columns";
import { download, EXPORT_CAP, exportCsv } from "./export";
import { MAX_COMPARE, type Selection } from "./selection";
import type { RunData } from "./useRunData";
import type { Query } from "./windows";

/** Parallel PATCHes when deleting or restoring runs. */
const PATCH_CONCURRENCY = 8;

/** Total, selection count, compare, delete/restore (with undo), clear. */
export function ActionBar({ data, selection, view, filtered }: { data: RunData; selection: Selection; view: View; filtered: boolean }) {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<{ text: string; undo?: () => void } | null>(null);
  const ids = [...selection.ids];
  const total = data.windows.total;

  const patchAll = async (runIds: string[], stage: "active" | "deleted") => {
    setBusy(true);
    let failed = 0;
    const queue = [...runIds];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          await api.updateRun(id, { lifecycle_stage: stage });
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PATCH_CONCURRENCY, runIds.length) }, worker));
    setBusy(false);
    await data.current.refresh();
    return failed;
  };

  const change = async (stage: "active" | "deleted") => {
    const runIds = ids;
    const failed = await patchAll(runIds, stage);
    selection.set(new Set());
    const verb = stage === "deleted" ? "Deleted" : "Restored";
    const done = runIds.length - failed;
    setNotice({
      text: `${verb} ${done} run${done === 1 ? "" : "s"}${failed ? ` (${failed} failed)` : ""}.`,
      undo: () => {
        setNotice(null);
        void patchAll(runIds, stage === "deleted" ? "active" : "deleted");
      },
    });
  };

  return (
    <div class="runs-actions">
      <span data-testid="runs-total" data-total={total ?? undefined} class="runs-total">
        {total === null
          ? data.current.error
            ? "No result"
            : "Loading…"
          : `${total.toLocaleString()} ${filtered ? "matching " : ""}run${total === 1 ? "" : "s"}`}
      </span>
      {ids.length > 0 && (
        <>
          <span class="muted">·</span>
          <span>{ids.length} selected</span>
          <button class="ghost small" onClick={() => selection.set(new Set())}>
            Clear
          </button>
        </>
      )}
      <span class="spacer" />
      {notice && (
        <span class="notice" role="status">
          {notice.text}
          {notice.undo && (
            <button class="ghost small" onClick={notice.undo}>
              Undo
            </button>
          )}
        </span>
      )}
      <button
        class="primary"
        data-testid="compare-button"
        disabled={ids.length < 2 || ids.length > MAX_COMPARE}
        title={ids.length > MAX_COMPARE ? `Compare takes at most ${MAX_COMPARE} runs` : "Compare the selected runs"}
        onClick={() => navigate(`/compare?runs=${ids.map(encodeURIComponent).join(",")}`)}
      >
        Compare{ids.length >= 2 ? ` (${ids.length})` : ""}
      </button>
      {view !== "deleted_only" && (
        <button class="danger" disabled={!ids.length || busy} onClick={() => void change("deleted")}>
          Delete
        </button>
      )}
      {view !== "active_only" && (
        <button disabled={!ids.length || busy} onClick={() => void change("active")}>
          Restore
        </button>
      )}
    </div>
  );
}

/** Exports every matching run as CSV; a second click cancels. */
export function ExportButton({ query, columns, name }: { query: Query; columns: Column[]; name: string }) {
  const [progress, setProgress] = useState<{ done: number; total: number; controller: AbortController } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [capped, setCapped] = useState(false);

  const start = async () => {
    if (progress) {
      progress.controller.abort();
      setProgress(null);
      return;
    }
    const controller = new AbortController();
    setError(null);
    setProgress({ done: 0, total: 0, controller });
    try {
      const result = await exportCsv(query, columns, (b, s) => api.searchRuns(b, s), controller.signal, (done, total) =>
        setProgress({ done, total, controller }),
      );
      download(`${name.replace(/[^\w.-]+/g, "_")}-runs.csv`, result.csv);
      setCapped(result.capped);
    } catch (e) {
      if (!controller.signal.aborted) setError(e);
    } finally {
      setProgress((p) => (p?.controller === controller ? null : p));
    }
  };

  const pct = progress && progress.total ? Math.floor((100 * progress.done) / progress.total) : 0;
  const title = error
    ? `Export failed: ${error instanceof Error ? error.message : String(error)}`
    : capped
      ? `The last export held the first ${EXPORT_CAP} runs only; narrow the filter for the rest`
      : `Download the matching runs (up to ${EXPORT_CAP}) as CSV with these columns`;
  return (
    <button
      data-testid="export-csv"
      onClick={() => void start()}
      title={title}
      class={error ? "danger" : undefined}
    >
      {progress ? `Exporting ${pct}% · cancel` : capped ? "Export CSV (capped)" : "Export CSV"}
    </button>
  );
}
