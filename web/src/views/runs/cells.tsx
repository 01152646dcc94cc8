// Rows and header cells of the runs table: a run's row (memoised: it re-renders only when its
// data, selection, cursor or — for running runs — the clock changes), a group's header row, and
// the placeholder shown while a window loads.
import { memo } from "preact/compat";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { RunRow } from "../../api/client";
import { Link, StatusBadge } from "../../components/common";
import { rowStyle } from "../../table/VirtualTable";
import { cellText, columnId, columnLabel, isSortable, type Column, type Sort } from "./columns";

export const ROW_HEIGHT = 30;

type RunRowProps = {
  row: RunRow;
  offset: number;
  display: number;
  top: number;
  columns: Column[];
  /** Columns pinned after the checkbox (0 or 1: the name when it comes first). */
  pinnedName: boolean;
  selected: boolean;
  cursor: boolean;
  onSelect: (offset: number, display: number, shift: boolean) => void;
  onCursor: (display: number) => void;
};

/** Subscribers of the shared one-second clock, and its timer while there are any. */
const tickers = new Set<() => void>();
let tickTimer: number | undefined;

/** The time, re-rendering the caller each second while `active`. */
function useSecondTick(active: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return undefined;
    const tick = () => setNow(Date.now());
    tickers.add(tick);
    tickTimer ??= window.setInterval(() => tickers.forEach((t) => t()), 1000);
    return () => {
      tickers.delete(tick);
      if (tickers.size === 0) {
        window.clearInterval(tickTimer);
        tickTimer = undefined;
      }
    };
  }, [active]);
  return now;
}

/** A run's duration; a running run's ticks (only this cell re-renders). */
function DurationCell({ row, pinned }: { row: RunRow; pinned: boolean }) {
  const now = useSecondTick(row.info.status === "RUNNING" && row.info.end_time === undefined);
  return (
    <div role="cell" class={(pinned ? "vt-cell vt-pin" : "vt-cell") + " num"}>
      {cellText(row, DURATION, now)}
    </div>
  );
}

const DURATION: Column = { kind: "attributes", key: "duration", agg: "last" };

function Cell({ row, column, pinned }: { row: RunRow; column: Column; pinned: boolean }) {
  const pin = { class: pinned ? "vt-cell vt-pin" : "vt-cell" };
  if (column.kind === "attributes") {
    switch (column.key) {
      case "run_name":
        return (
          <div role="cell" class={pin.class + " name-cell"}>
            <Link href={`/runs/${encodeURIComponent(row.info.run_id)}`} title={row.info.run_name}>
              {row.info.run_name || row.info.run_id}
            </Link>
          </div>
        );
      case "status":
        return (
          <div role="cell" class={pin.class}>
            <StatusBadge status={row.info.status} />
          </div>
        );
      case "run_id":
        return (
          <div role="cell" class={pin.class + " mono small"} title={row.info.run_id}>
            <span class="vt-text">{row.info.run_id}</span>
          </div>
        );
      case "start_time":
      case "end_time":
        return (
          <div role="cell" class={pin.class + " small"}>
            <span class="vt-text">{cellText(row, column, 0)}</span>
          </div>
        );
      case "duration":
        return <DurationCell row={row} pinned={pinned} />;
    }
  }
  const text = cellText(row, column, 0);
  return (
    <div role="cell" class={pin.class + (column.kind === "metrics" ? " num" : "")} title={text}>
      <span class="vt-text">{text}</span>
    </div>
  );
}

/**
 * A checkbox whose shown state always follows `checked` (the click toggles it natively; the
 * state that the click changes, or not, is written back after each render).
 */
export function CheckBox(props: {
  checked: boolean;
  indeterminate?: boolean;
  label: string;
  title?: string;
  testId?: string;
  onClick: (e: MouseEvent) => void;
}) {
  const box = useRef<HTMLInputElement>(null);
  useLayoutEffect(() => {
    if (!box.current) return;
    box.current.checked = props.checked;
    box.current.indeterminate = !!props.indeterminate;
  });
  return (
    <input
      ref={box}
      type="checkbox"
      data-testid={props.testId}
      aria-label={props.label}
      title={props.title}
      checked={props.checked}
      onClick={props.onClick}
    />
  );
}

function RunRowViewImpl(props: RunRowProps) {
  const { row, offset, display } = props;
  return (
    <div
      class={`vt-row${props.selected ? " selected" : ""}${props.cursor ? " cursor" : ""}${row.info.lifecycle_stage === "deleted" ? " deleted" : ""}`}
      style={rowStyle(props.top, ROW_HEIGHT)}
      role="row"
      aria-rowindex={display + 2}
      aria-selected={props.selected}
      data-testid="run-row"
      data-run-id={row.info.run_id}
      onMouseDown={() => props.onCursor(display)}
    >
      <div role="cell" class="vt-cell vt-pin check-cell">
        <CheckBox
          testId="run-select"
          label={`Select ${row.info.run_name}`}
          checked={props.selected}
          onClick={(e) => props.onSelect(offset, display, e.shiftKey)}
        />
      </div>
      {props.columns.map((c, i) => (
        <Cell key={columnId(c)} row={row} column={c} pinned={i === 0 && props.pinnedName} />
      ))}
    </div>
  );
}

export const RunRowView = memo(RunRowViewImpl);

/** A row still loading: one element (drawn by CSS), cheap to show by the screenful. */
export function PlaceholderRow(props: { top: number; display: number }) {
  return <div class="vt-row placeholder" style={rowStyle(props.top, ROW_HEIGHT)} role="row" aria-rowindex={props.display + 2} aria-busy="true" />;
}

export function GroupRowView(props: {
  top: number;
  display: number;
  label: string;
  value: string | null;
  count: number;
  collapsed: boolean;
  cursor: boolean;
  onToggle: () => void;
}) {
  return (
    <div
      class={`vt-row group-row${props.cursor ? " cursor" : ""}`}
      style={rowStyle(props.top, ROW_HEIGHT)}
      role="row"
      aria-rowindex={props.display + 2}
      aria-expanded={!props.collapsed}
      onClick={props.onToggle}
    >
      <div class="vt-span vt-cell">
        <span class="chevron" aria-hidden="true">
          {props.collapsed ? "▸" : "▾"}
        </span>
        <span class="muted">{props.label}</span>
        <span class="group-value">{props.value === null ? <em class="muted">(none)</em> : props.value || <em class="muted">(empty)</em>}</span>
        <span class="badge">{props.count}</span>
      </div>
    </div>
  );
}

/** A sortable column header: a button showing the sort direction. */
export function HeaderCell(props: { column: Column; sort: Sort; onSort: (c: Column) => void }) {
  const { column, sort } = props;
  const id = columnId(column);
  const active = sort && columnId(sort.column) === id;
  const sortable = isSortable(column);
  const label = columnLabel(column);
  return (
    <button
      class={`col-header${column.kind === "metrics" ? " num" : ""}${active ? " sorted" : ""}`}
      data-testid="col-header"
      data-col={id}
      disabled={!sortable}
      aria-sort={active ? (sort.ascending ? "ascending" : "descending") : undefined}
      title={
        sortable
          ? `${column.kind === "attributes" ? label : id} — click to sort`
          : column.kind === "metrics"
            ? `${id}: sorting uses a metric's latest value; sort by the “${column.key}” column`
            : `${label} cannot be sorted`
      }
      onClick={() => sortable && props.onSort(column)}
    >
      {column.kind !== "attributes" && <span class="kind-dot" data-kind={column.kind} />}
      <span class="vt-text">{label}</span>
      {active && <span class="sort-arrow">{sort.ascending ? "▲" : "▼"}</span>}
    </button>
  );
}
