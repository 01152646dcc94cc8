// The runs table of one experiment (`/experiments/:id`): a virtualised table over any number of
// runs, fetched by window as it scrolls, with a filter (MLflow's language, with completion),
// sortable and chosen columns, grouping by a param or tag, selection for compare/delete/restore,
// saved views, CSV export and live updates. Filter, sort, columns, view, grouping and a small
// selection live in the URL, so a link reproduces the view.
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, type Experiment, type ExperimentKeys, type View } from "../api/client";
import { ErrorBox, Link } from "../components/common";
import { mark } from "../perf";
import { navigate, useQueryParam } from "../router";
import { VirtualTable, type TableColumn, type TableHandle } from "../table/VirtualTable";
import { GroupRowView, HeaderCell, PlaceholderRow, ROW_HEIGHT, RunRowView } from "./runs/cells";
import { ColumnChooser } from "./runs/ColumnChooser";
import {
  columnId,
  defaultColumns,
  nextSort,
  orderClause,
  parseColumnId,
  readColumns,
  readSort,
  summaryKeys,
  writeColumns,
  writeSort,
  type Column,
} from "./runs/columns";
import { download, exportCsv } from "./runs/export";
import { FilterBox } from "./runs/FilterBox";
import type { EntityKind } from "./runs/filter";
import { groupId } from "./runs/groups";
import { Popover } from "./runs/Popover";
import { SavedViews } from "./runs/SavedViews";
import { groupValue, useRunData, type RunData } from "./runs/useRunData";
import type { Query } from "./runs/windows";
import "./runs/runs.css";

/** Most runs the compare view takes. */
const MAX_COMPARE = 1000;
/** Most selected ids kept in the URL. */
const MAX_URL_SELECTION = 50;
/** Most rows a shift-click range selects. */
const MAX_RANGE = 5000;
/** Parallel PATCHes when deleting or restoring runs. */
const PATCH_CONCURRENCY = 8;

const VIEWS: Record<string, View> = { active: "active_only", deleted: "deleted_only", all: "all" };

const WIDTH_KEY = "cairn.runs.widths";

function defaultWidth(c: Column): number {
  if (c.kind !== "attributes") return c.kind === "metrics" ? 118 : 120;
  return { run_name: 220, status: 100, start_time: 158, end_time: 158, duration: 104, user_id: 110, run_id: 290 }[c.key] ?? 120;
}

function loadWidths(): Record<string, number> {
  try {
    return JSON.parse(localStorage.getItem(WIDTH_KEY) ?? "{}") as Record<string, number>;
  } catch {
    return {};
  }
}

export function RunsPage(props: { experimentId: string }) {
  return <RunsView key={props.experimentId} experimentId={props.experimentId} />;
}

function RunsView({ experimentId }: { experimentId: string }) {
  const [filter, setFilter] = useQueryParam("filter");
  const [sortParam, setSortParam] = useQueryParam("sort");
  const [colsParam, setColsParam] = useQueryParam("cols");
  const [viewParam, setViewParam] = useQueryParam("view", "active");
  const [groupParam, setGroupParam] = useQueryParam("group");
  const [selParam, setSelParam] = useQueryParam("sel");

  const [experiment, setExperiment] = useState<Experiment | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [keys, setKeys] = useState<ExperimentKeys | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    api.getExperiment(experimentId, controller.signal).then((r) => setExperiment(r.experiment), (e) => controller.signal.aborted || setLoadError(e));
    api.experimentKeys(experimentId, controller.signal).then(setKeys, () => undefined);
    return () => controller.abort();
  }, [experimentId]);

  const columns = useMemo(() => (colsParam ? readColumns(colsParam) : defaultColumns(keys)), [colsParam, keys]);
  const sort = useMemo(() => readSort(sortParam), [sortParam]);
  const groupBy = useMemo(() => {
    const c = parseColumnId(groupParam);
    return c && (c.kind === "params" || c.kind === "tags") ? c : null;
  }, [groupParam]);
  const view = VIEWS[viewParam] ?? "active_only";
  const summaries = summaryKeys(columns).join(",");

  const query = useMemo<Query>(() => {
    // Grouping orders by the group key first (ascending unless the sort is on that key).
    const sortIsGroup = !!(groupBy && sort && columnId(sort.column) === columnId(groupBy));
    const orderBy: string[] = [];
    if (groupBy) orderBy.push(orderClause(groupBy, sortIsGroup ? sort!.ascending : true));
    if (sort && !sortIsGroup) orderBy.push(orderClause(sort.column, sort.ascending));
    return {
      experiment_ids: [experimentId],
      filter,
      order_by: orderBy,
      view,
      summaries: summaries ? summaries.split(",") : [],
    };
  }, [experimentId, filter, sort, groupBy, view, summaries]);

  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => setCollapsed(new Set()), [groupParam]);
  const data = useRunData(experimentId, query, groupBy, collapsed);
  const { windows } = data;

  const table = useRef<TableHandle | null>(null);
  useEffect(() => table.current?.scrollToTop(), [windows]);
  useRowsMark(data);

  const selection = useSelection(selParam, setSelParam, data);
  const [cursor, setCursor] = useState(-1);
  const filterInput = useRef<HTMLInputElement>(null);
  useKeyboard(data, cursor, setCursor, table, filterInput, selection.toggleAt);

  const [widths, setWidths] = useState(loadWidths);
  const onResize = useCallback((id: string, width: number) => {
    setWidths((w) => {
      const next = { ...w, [id]: width };
      localStorage.setItem(WIDTH_KEY, JSON.stringify(next));
      return next;
    });
  }, []);

  const onSort = useCallback((c: Column) => setSortParam(writeSort(nextSort(sort, c))), [sort, setSortParam]);
  const pinnedName = columns[0]?.kind === "attributes" && columns[0].key === "run_name";
  const tableColumns = useMemo<TableColumn[]>(
    () => [
      {
        id: "__select",
        width: 36,
        pinned: true,
        resizable: false,
        title: "Select",
        headerClass: "check-cell",
        header: <SelectAllBox selection={selection} total={windows.total ?? 0} />,
      },
      ...columns.map((c, i) => ({
        id: columnId(c),
        width: widths[columnId(c)] ?? defaultWidth(c),
        pinned: i === 0 && pinnedName,
        header: <HeaderCell column={c} sort={sort} onSort={onSort} />,
      })),
    ],
    [columns, widths, sort, onSort, pinnedName, selection, windows.total],
  );

  const now = useClock(data, columns);

  const toggleGroup = useCallback((value: string | null) => {
    setCollapsed((s) => {
      const next = new Set(s);
      const id = groupId(value);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  }, []);

  const renderRow = (display: number, top: number) => {
    const layout = data.layout;
    let offset = display;
    if (layout) {
      const e = layout.entry(display);
      if (e.kind === "header") {
        const g = layout.groups[e.group];
        return (
          <GroupRowView
            key={display}
            top={top}
            display={display}
            label={groupBy ? `${groupBy.kind}.${groupBy.key} =` : ""}
            value={g.value}
            count={g.count}
            collapsed={collapsed.has(groupId(g.value))}
            cursor={cursor === display}
            onToggle={() => toggleGroup(g.value)}
          />
        );
      }
      if (e.kind === "pending") return <PlaceholderRow key={display} top={top} columns={columns} display={display} />;
      offset = e.offset;
    }
    const row = windows.row(offset);
    if (!row) return <PlaceholderRow key={display} top={top} columns={columns} display={display} />;
    return (
      <RunRowView
        key={display}
        row={row}
        offset={offset}
        display={display}
        top={top}
        columns={columns}
        pinnedName={pinnedName}
        selected={selection.ids.has(row.info.run_id)}
        cursor={cursor === display}
        now={row.info.status === "RUNNING" ? now : 0}
        onSelect={selection.onSelect}
        onCursor={setCursor}
      />
    );
  };

  const filterError = windows.error instanceof ApiError && windows.error.status === 400 ? windows.error.message : null;
  const otherError = windows.error && !filterError ? windows.error : null;
  const total = windows.total;

  if (loadError) {
    return (
      <div class="page">
        <h1>Experiment {experimentId}</h1>
        <ErrorBox error={loadError} />
        <p>
          <Link href="/">All experiments</Link>
        </p>
      </div>
    );
  }

  return (
    <div class="page runs-page">
      <ExperimentHeader experimentId={experimentId} experiment={experiment} />
      <div class="runs-toolbar">
        <FilterBox
          value={filter}
          onApply={setFilter}
          keys={keys ?? { params: [], metrics: [], tags: [] }}
          values={(kind: EntityKind, key: string) => loadedValues(data, kind, key)}
          error={filterError}
          inputRef={filterInput}
        />
        <div class="segmented" role="group" aria-label="Lifecycle">
          {Object.keys(VIEWS).map((v) => (
            <button key={v} class={viewParam === v ? "on" : undefined} aria-pressed={viewParam === v} onClick={() => setViewParam(v)}>
              {v[0].toUpperCase() + v.slice(1)}
            </button>
          ))}
        </div>
        <label class="group-select">
          <span class="muted">Group</span>
          <select value={groupBy ? columnId(groupBy) : ""} onChange={(e) => setGroupParam(e.currentTarget.value)} aria-label="Group by">
            <option value="">None</option>
            {keys?.params.length ? (
              <optgroup label="Params">
                {keys.params.map((k) => (
                  <option key={k} value={`params.${k}`}>
                    {k}
                  </option>
                ))}
              </optgroup>
            ) : null}
            {keys?.tags.length ? (
              <optgroup label="Tags">
                {keys.tags.map((k) => (
                  <option key={k} value={`tags.${k}`}>
                    {k}
                  </option>
                ))}
              </optgroup>
            ) : null}
          </select>
        </label>
        <Popover label="Columns ▾" testId="columns-button" title="Choose the columns" alignRight>
          {() => (
            <ColumnChooser columns={columns} keys={keys} onChange={(c) => setColsParam(writeColumns(c))} onReset={() => setColsParam("")} />
          )}
        </Popover>
        <SavedViews experimentId={experimentId} />
        <ExportButton query={query} columns={columns} name={experiment?.name ?? experimentId} />
      </div>
      <ActionBar data={data} selection={selection} view={view} filtered={filter !== ""} />
      <ErrorBox error={otherError} />
      <VirtualTable
        testId="runs-table"
        label={`Runs of ${experiment?.name ?? "experiment " + experimentId}`}
        columns={tableColumns}
        total={data.count}
        rowHeight={ROW_HEIGHT}
        renderRow={renderRow}
        onRange={data.onRange}
        onResize={onResize}
        handle={table}
        empty={total === null ? (filterError ? "The filter was not accepted." : "Loading runs…") : <EmptyText view={view} filtered={filter !== ""} />}
      />
    </div>
  );
}

function ExperimentHeader({ experimentId, experiment }: { experimentId: string; experiment: Experiment | null }) {
  return (
    <div class="runs-head">
      <div class="crumbs">
        <Link href="/">Experiments</Link> <span class="muted">/</span>
      </div>
      <h1>
        {experiment?.name ?? "…"} <span class="muted exp-id">#{experimentId}</span>
        {experiment?.lifecycle_stage === "deleted" && <span class="badge">deleted</span>}
      </h1>
      {experiment?.description && (
        <p class="exp-description" title={experiment.description}>
          {experiment.description}
        </p>
      )}
    </div>
  );
}

function EmptyText({ view, filtered }: { view: View; filtered: boolean }) {
  if (filtered) return <>No runs match this filter.</>;
  if (view === "deleted_only") return <>No deleted runs.</>;
  return <>No runs yet. Log one with the Cairn SDK or the mlflow client.</>;
}

/** Distinct values of a param or tag among the loaded rows on screen (for value completion). */
function loadedValues(data: RunData, kind: EntityKind, key: string): string[] {
  if (kind !== "params" && kind !== "tags") return [];
  const range = data.range();
  const values = new Set<string>();
  if (!range) return [];
  for (let d = range.start; d < range.end && values.size < 50; d++) {
    const offset = data.offsetAt(d);
    const row = offset >= 0 ? data.windows.row(offset) : undefined;
    const v = row && groupValue(row, { kind, key, agg: "last" });
    if (v !== null && v !== undefined) values.add(v);
  }
  return [...values].sort();
}

/** Marks `cairn:runs:rows` once the first rows of each new query are painted. */
function useRowsMark(data: RunData): void {
  const markedFor = useRef<unknown>(null);
  useEffect(() => {
    const { windows } = data;
    if (markedFor.current === windows || windows.total === null) return;
    const range = data.range();
    const first = range ? range.firstVisible : 0;
    const offset = data.offsetAt(first);
    const ready = data.count === 0 || (offset < 0 ? true : windows.row(offset) !== undefined);
    if (!ready) return;
    markedFor.current = windows;
    requestAnimationFrame(() => mark("cairn:runs:rows"));
  });
}

/** The clock for running runs' durations: ticks each second while one is on screen. */
function useClock(data: RunData, columns: Column[]): number {
  const [now, setNow] = useState(Date.now);
  const showsDuration = columns.some((c) => c.kind === "attributes" && c.key === "duration");
  const range = data.range();
  let running = false;
  if (showsDuration && range) {
    for (let d = range.start; d < range.end && !running; d++) {
      const offset = data.offsetAt(d);
      running = offset >= 0 && data.windows.row(offset)?.info.status === "RUNNING";
    }
  }
  useEffect(() => {
    if (!running) return undefined;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [running]);
  return now;
}

type Selection = {
  ids: ReadonlySet<string>;
  onSelect: (offset: number, display: number, shift: boolean) => void;
  toggleAt: (display: number) => void;
  set: (ids: ReadonlySet<string>) => void;
  selectAll: () => Promise<void>;
};

/** The selected run ids: in the URL while there are few of them. */
function useSelection(selParam: string, setSelParam: (v: string) => void, data: RunData): Selection {
  const [ids, setIds] = useState<ReadonlySet<string>>(() => new Set(selParam ? selParam.split(",") : []));
  const anchor = useRef(-1);
  const latest = useRef({ ids, data });
  latest.current = { ids, data };

  useEffect(() => {
    const text = ids.size <= MAX_URL_SELECTION ? [...ids].join(",") : "";
    if (text !== (new URLSearchParams(location.search).get("sel") ?? "")) setSelParam(text);
  }, [ids]); // setSelParam is a new function each render; the selection is what matters

  const idAt = (display: number) => {
    const { data } = latest.current;
    const offset = data.offsetAt(display);
    return offset >= 0 ? data.windows.row(offset)?.info.run_id : undefined;
  };

  const toggleAt = useCallback((display: number) => {
    const id = idAt(display);
    if (!id) return;
    anchor.current = display;
    setIds((s) => {
      const next = new Set(s);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  }, []);

  const onSelect = useCallback(
    (offset: number, display: number, shift: boolean) => {
      if (!shift || anchor.current < 0) {
        toggleAt(display);
        return;
      }
      const { data, ids: current } = latest.current;
      const from = Math.min(anchor.current, display);
      const to = Math.min(Math.max(anchor.current, display), from + MAX_RANGE);
      const clickedId = data.windows.row(offset)?.info.run_id;
      const select = !clickedId || !current.has(clickedId);
      const offsets: number[] = [];
      for (let d = from; d <= to; d++) {
        const o = data.offsetAt(d);
        if (o >= 0) offsets.push(o);
      }
      if (!offsets.length) return;
      anchor.current = display;
      void data.windows.load(Math.min(...offsets), Math.max(...offsets) + 1).then(() => {
        setIds((s) => {
          const next = new Set(s);
          for (const o of offsets) {
            const id = data.windows.row(o)?.info.run_id;
            if (!id) continue;
            if (select) next.add(id);
            else next.delete(id);
          }
          return next;
        });
      });
    },
    [toggleAt],
  );

  const selectAll = useCallback(async () => {
    const { data, ids: current } = latest.current;
    const total = data.windows.total ?? 0;
    const range = data.range();
    let offsets: number[] = [];
    if (total <= MAX_COMPARE && !data.layout) {
      await data.windows.load(0, total);
      offsets = Array.from({ length: total }, (_, i) => i);
    } else if (range) {
      for (let d = range.firstVisible; d < range.endVisible; d++) {
        const o = data.offsetAt(d);
        if (o >= 0) offsets.push(o);
      }
    }
    const wanted = offsets.map((o) => data.windows.row(o)?.info.run_id).filter((id): id is string => !!id);
    const all = wanted.length > 0 && wanted.every((id) => current.has(id));
    setIds((s) => {
      const next = new Set(s);
      for (const id of wanted) {
        if (all) next.delete(id);
        else next.add(id);
      }
      return next;
    });
  }, []);

  return useMemo(() => ({ ids, onSelect, toggleAt, set: setIds, selectAll }), [ids, onSelect, toggleAt, selectAll]);
}

function SelectAllBox({ selection, total }: { selection: Selection; total: number }) {
  const n = selection.ids.size;
  return (
    <input
      type="checkbox"
      aria-label="Select all"
      title="Select all matching runs (up to 1,000), or the runs in view"
      checked={n > 0 && n >= total}
      indeterminate={n > 0 && n < total}
      onClick={(e) => {
        e.preventDefault();
        void selection.selectAll();
      }}
    />
  );
}

/** j/k or arrows move the row cursor, Enter opens the run, x selects it, / focuses the filter. */
function useKeyboard(
  data: RunData,
  cursor: number,
  setCursor: (d: number) => void,
  table: { current: TableHandle | null },
  filterInput: { current: HTMLInputElement | null },
  toggleAt: (display: number) => void,
): void {
  const latest = useRef({ data, cursor });
  latest.current = { data, cursor };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      const typing = !!target.closest?.("input[type=text], input[type=search], input:not([type]), textarea, select, [contenteditable]");
      if (e.key === "/" && !typing) {
        e.preventDefault();
        filterInput.current?.focus();
        filterInput.current?.select();
        return;
      }
      if (typing || e.metaKey || e.ctrlKey || e.altKey) return;
      const { data, cursor } = latest.current;
      const move = (by: number) => {
        const range = data.range();
        const next = cursor < 0 ? (range?.firstVisible ?? 0) : Math.max(0, Math.min(data.count - 1, cursor + by));
        setCursor(next);
        table.current?.reveal(next);
      };
      if (e.key === "j" || e.key === "ArrowDown") move(1);
      else if (e.key === "k" || e.key === "ArrowUp") move(-1);
      else if (e.key === "x" && cursor >= 0) toggleAt(cursor);
      else if (e.key === "Enter" && cursor >= 0 && !target.closest("button, a")) {
        const offset = data.offsetAt(cursor);
        const row = offset >= 0 ? data.windows.row(offset) : undefined;
        if (row) navigate(`/runs/${encodeURIComponent(row.info.run_id)}`);
        else if (offset < 0) (document.querySelector(`.group-row[aria-rowindex="${cursor + 2}"]`) as HTMLElement | null)?.click();
      } else return;
      e.preventDefault();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [setCursor, table, filterInput, toggleAt]);
}

/** Total, selection count, compare, delete/restore (with undo), clear. */
function ActionBar({ data, selection, view, filtered }: { data: RunData; selection: Selection; view: View; filtered: boolean }) {
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
    await data.windows.refresh();
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
          ? data.windows.error
            ? "No result"
            : "Loading…"
          : `${total} ${filtered ? "matching " : ""}run${total === 1 ? "" : "s"}`}
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
function ExportButton({ query, columns, name }: { query: Query; columns: Column[]; name: string }) {
  const [progress, setProgress] = useState<{ done: number; total: number; controller: AbortController } | null>(null);
  const [error, setError] = useState<unknown>(null);

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
    } catch (e) {
      if (!controller.signal.aborted) setError(e);
    } finally {
      setProgress((p) => (p?.controller === controller ? null : p));
    }
  };

  const pct = progress && progress.total ? Math.floor((100 * progress.done) / progress.total) : 0;
  return (
    <button
      data-testid="export-csv"
      onClick={() => void start()}
      title={error ? `Export failed: ${error instanceof Error ? error.message : String(error)}` : "Download the matching runs (up to 100,000) as CSV with these columns"}
      class={error ? "danger" : undefined}
    >
      {progress ? `Exporting ${pct}% · cancel` : "Export CSV"}
    </button>
  );
}
