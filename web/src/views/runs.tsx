// The runs table of one experiment (`/experiments/:id`): a virtualised table over any number of
// runs, fetched by window as it scrolls, with a filter (MLflow's language, with completion),
// sortable and chosen columns, grouping by a param or tag, selection for compare/delete/restore,
// saved views, CSV export and live updates. Filter, sort, columns, view, grouping and a small
// selection live in the URL, so a link reproduces the view.
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, authEnabled, type Experiment, type ExperimentKeys, type RunRow, type View } from "../api/client";
import { ErrorBox, Link } from "../components/common";
import { navigate, useQueryParam } from "../router";
import { VirtualTable, type TableColumn, type TableHandle } from "../table/VirtualTable";
import { GroupRowView, HeaderCell, PlaceholderRow, ROW_HEIGHT, RunRowView } from "./runs/cells";
import { ColumnChooser } from "./runs/ColumnChooser";
import {
  columnId,
  defaultColumns,
  keysOfRows,
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
import { ActionBar, ExportButton } from "./runs/ActionBar";
import { FilterBox } from "./runs/FilterBox";
import type { EntityKind } from "./runs/filter";
import { groupId } from "./runs/groups";
import { Popover } from "./runs/Popover";
import { useExperimentKeys, useKeyboard, useRowsMark } from "./runs/hooks";
import { SavedViews } from "./runs/SavedViews";
import { SelectAllBox, useSelection } from "./runs/selection";
import { groupValue, useRunData, type RunData } from "./runs/useRunData";
import { BLOCK, type Query, type RunWindows } from "./runs/windows";
import { AccessPanel } from "./teams/AccessPanel";
import "./runs/runs.css";

const VIEWS: Record<string, View> = { active: "active_only", deleted: "deleted_only", all: "all" };

const WIDTH_KEY = "cairn.runs.widths";
/** Quiet time after a query before the experiment's keys are fetched unasked. */
const KEYS_IDLE_MS = 3000;

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
  useEffect(() => {
    const controller = new AbortController();
    api.getExperiment(experimentId, controller.signal).then((r) => setExperiment(r.experiment), (e) => controller.signal.aborted || setLoadError(e));
    return () => controller.abort();
  }, [experimentId]);

  // The default columns come from the first rows' keys (frozen once seen), so that the
  // experiment's keys, slow to gather over many runs, are not needed for the first screen.
  const sample = useRef<ExperimentKeys | null>(null);
  const [keysReady, setKeysReady] = useState(false);
  const serverKeys = useExperimentKeys(experimentId, keysReady);
  const chosen = useMemo(() => (colsParam ? readColumns(colsParam) : null), [colsParam]);
  const sort = useMemo(() => readSort(sortParam), [sortParam]);
  const groupBy = useMemo(() => {
    const c = parseColumnId(groupParam);
    return c && (c.kind === "params" || c.kind === "tags") ? c : null;
  }, [groupParam]);
  const view = VIEWS[viewParam] ?? "active_only";
  // Default columns never show min/max, so only chosen ones need summaries.
  const summaries = summaryKeys(chosen ?? []).join(",");

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
  const { windows, current } = data;
  if (!sample.current && windows.row(0)) sample.current = keysOfRows(firstRows(windows));
  const keys = serverKeys ?? sample.current;
  const defaults = sample.current ?? serverKeys;
  const columns = useMemo(() => chosen ?? defaultColumns(defaults), [chosen, defaults]);
  // The experiment's own keys load when asked for (column chooser, grouping, Ctrl+Space in the
  // filter) or once the table has been quiet for a while, not alongside the first searches.
  const requestKeys = useCallback(() => setKeysReady(true), []);
  useEffect(() => {
    const timer = window.setTimeout(requestKeys, KEYS_IDLE_MS);
    return () => window.clearTimeout(timer);
  }, [current, requestKeys]);

  const toggleGroup = useCallback((value: string | null) => {
    setCollapsed((s) => {
      const next = new Set(s);
      const id = groupId(value);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  }, []);

  const table = useRef<TableHandle | null>(null);
  const [cursor, setCursor] = useState(-1);
  useEffect(() => {
    table.current?.scrollToTop();
    setCursor(-1);
  }, [current]);
  useRowsMark(data);

  const selection = useSelection(selParam, setSelParam, data);
  const filterInput = useRef<HTMLInputElement>(null);
  // Enter on the cursor row: open the run, or fold/unfold a group.
  const open = (display: number) => {
    const layout = data.layout;
    const entry = layout?.entry(display);
    if (layout && entry?.kind === "header") {
      toggleGroup(layout.groups[entry.group].value);
      return;
    }
    const row = windows.row(data.offsetAt(display));
    if (row) navigate(`/runs/${encodeURIComponent(row.info.run_id)}`);
  };
  useKeyboard(data, cursor, setCursor, table, filterInput, selection.toggleAt, open);

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
      if (e.kind === "pending") return <PlaceholderRow key={display} top={top} display={display} />;
      offset = e.offset;
    }
    const row = windows.row(offset);
    if (!row) return <PlaceholderRow key={display} top={top} display={display} />;
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
        onSelect={selection.onSelect}
        onCursor={setCursor}
      />
    );
  };

  const filterError = current.error instanceof ApiError && current.error.status === 400 ? current.error.message : null;
  const otherError = current.error && !filterError ? current.error : null;
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
          onNeedKeys={requestKeys}
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
          <select
            value={groupBy ? columnId(groupBy) : ""}
            onChange={(e) => setGroupParam(e.currentTarget.value)}
            onFocus={requestKeys}
            onPointerDown={requestKeys}
            aria-label="Group by"
          >
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
        <Popover label="Columns ▾" testId="columns-button" title="Choose the columns" alignRight onOpen={requestKeys}>
          {() => (
            <ColumnChooser columns={columns} keys={keys} onChange={(c) => setColsParam(writeColumns(c))} onReset={() => setColsParam("")} />
          )}
        </Popover>
        <SavedViews experimentId={experimentId} />
        {authEnabled() && (
          <Popover label="Access ▾" testId="access-button" title="Who owns and sees this experiment" alignRight>
            {() => <AccessPanel experimentId={experimentId} />}
          </Popover>
        )}
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

/** The loaded rows of the first block. */
function firstRows(windows: RunWindows): RunRow[] {
  const rows: RunRow[] = [];
  for (let i = 0; i < BLOCK; i++) {
    const row = windows.row(i);
    if (row) rows.push(row);
  }
  return rows;
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

