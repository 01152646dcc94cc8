// The runs table's data as a hook: one RunWindows per query (a new filter, order, view or set
// of summaries starts afresh), the group finder when grouping, fetching for the rows on screen
// (debounced while scrolling), and live updates from the stream (debounced refreshes that keep
// the scroll position).
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, type RunRow } from "../../api/client";
import { subscribe } from "../../live";
import type { RowRange } from "../../table/windowing";
import { columnId, type Column } from "./columns";
import { andFilter, filterKey, quoteString } from "./filter";
import { GroupFinder, GroupLayout, type GroupSource } from "./groups";
import { BLOCK, RunWindows, type Query } from "./windows";

const search = (body: Parameters<typeof api.searchRuns>[0], signal: AbortSignal) => api.searchRuns(body, signal);
/** Scroll fetching waits this long for the scrolling to settle. */
const SCROLL_DEBOUNCE_MS = 50;
/** Run events are gathered this long before a refresh. */
const LIVE_DEBOUNCE_MS = 200;
/** Refreshes are at least this far apart while changes keep coming. */
const LIVE_MIN_GAP_MS = 1000;
/** New points of runs on screen refresh them at most this often. */
const POINTS_REFRESH_MS = 1000;
/** Display rows found ahead of the viewport when grouping. */
const GROUP_LOOKAHEAD = 100;

/** A group-by column's value for a row (null when the run has none). */
export function groupValue(row: RunRow, column: Column): string | null {
  const values = column.kind === "tags" ? row.tags : row.params;
  return values[column.key] ?? null;
}

function groupSource(windows: RunWindows, query: Query, column: Column): GroupSource {
  const key = filterKey(column.kind, column.key);
  return {
    get total() {
      return windows.total;
    },
    load: (start, end) => windows.load(start, end),
    row: (i) => windows.row(i),
    async count(value) {
      const condition = value === null ? `${key} IS NULL` : `${key} = ${quoteString(value)}`;
      const answer = await api.searchRuns({ ...query, summaries: [], filter: andFilter(query.filter ?? "", condition), offset: 0, limit: 0 });
      return answer.total;
    },
  };
}

type State = { windows: RunWindows; finder: { current: GroupFinder | null } };

/** Whether a query has something to show: its first rows (and first group), or an error. */
function isReady({ windows, finder }: State): boolean {
  if (windows.error !== null) return true;
  if (windows.total === null) return false;
  const f = finder.current;
  return !f || windows.total === 0 || f.groups.length > 0 || f.error !== null;
}

function layoutOf({ windows, finder }: State, collapsed: ReadonlySet<string>): GroupLayout | null {
  return finder.current ? new GroupLayout(finder.current.groups, collapsed, windows.total ?? 0) : null;
}

export type RunData = {
  /** The windows whose rows are on screen: the previous query's until the new one answers. */
  windows: RunWindows;
  /** The windows of the current query (its error is the filter's). */
  current: RunWindows;
  /** The display layout when grouping (null otherwise). */
  layout: GroupLayout | null;
  /** Rows the table shows (runs, or group headers and runs). */
  count: number;
  /** The run offset a display row shows (-1 for a group header). */
  offsetAt: (display: number) => number;
  onRange: (range: RowRange) => void;
  /** The range last rendered. */
  range: () => RowRange | null;
};

export function useRunData(
  experimentId: string,
  query: Query,
  groupBy: Column | null,
  collapsed: ReadonlySet<string>,
): RunData {
  const [, setVersion] = useState(0);
  const bump = useCallback(() => setVersion((v) => v + 1), []);
  const rangeRef = useRef<RowRange | null>(null);
  const key = JSON.stringify([query, groupBy && columnId(groupBy)]);

  const state = useMemo<State>(() => {
    const windows = new RunWindows(query, search, bump);
    windows.ensure(0, BLOCK);
    const finder = groupBy ? new GroupFinder(groupSource(windows, query, groupBy), (r) => groupValue(r, groupBy), bump) : null;
    return { windows, finder: { current: finder } };
  }, [key]); // the key stands for query and groupBy
  useEffect(
    () => () => {
      state.windows.dispose();
      state.finder.current?.stop();
    },
    [state],
  );

  // Keep the previous rows on screen until the new query has some (no blank flash, and the
  // rows' elements are reused).
  const shownRef = useRef<State>(state);
  if (shownRef.current !== state && isReady(state)) shownRef.current = state;
  const shown = shownRef.current;

  const { windows } = state;
  const layout = layoutOf(state, collapsed);
  const layoutRef = useRef(layout);
  layoutRef.current = layout;
  const shownLayout = shown === state ? layout : layoutOf(shown, collapsed);
  const shownLayoutRef = useRef(shownLayout);
  shownLayoutRef.current = shownLayout;

  const offsetAt = useCallback((display: number) => {
    const l = shownLayoutRef.current;
    if (!l) return display;
    const e = l.entry(display);
    return e.kind === "header" ? -1 : e.offset;
  }, []);

  // Fetch what the range shows; when grouping, find groups down to it first.
  const fetchFor = useCallback(
    (range: RowRange) => {
      const f = state.finder.current;
      if (!f) {
        windows.ensure(range.start, range.end);
        return;
      }
      void f.extend(() => {
        const l = layoutRef.current;
        return !l || l.found < range.end + GROUP_LOOKAHEAD;
      });
      const l = layoutRef.current;
      if (!l) return;
      let lo = Infinity;
      let hi = -1;
      for (let d = range.start; d < range.end; d++) {
        const e = l.entry(d);
        if (e.kind !== "header") {
          lo = Math.min(lo, e.offset);
          hi = Math.max(hi, e.offset);
        }
      }
      if (hi >= 0) windows.ensure(lo, hi + 1);
    },
    [state, windows],
  );

  const timer = useRef<number | undefined>(undefined);
  const onRange = useCallback(
    (range: RowRange) => {
      rangeRef.current = range;
      window.clearTimeout(timer.current);
      if (!windows.answered || state.finder.current) fetchFor(range);
      else timer.current = window.setTimeout(() => fetchFor(range), SCROLL_DEBOUNCE_MS);
    },
    [windows, state, fetchFor],
  );
  useEffect(() => () => window.clearTimeout(timer.current), []);

  // Grouping: find more groups whenever the layout changed (collapsing frees room).
  useEffect(() => {
    if (rangeRef.current && state.finder.current) fetchFor(rangeRef.current);
  });

  useLiveRefresh(experimentId, windows, () => {
    const old = state.finder.current;
    if (!old || !groupBy) return;
    // Find the groups afresh as far as before, then swap, so the rows do not jump meanwhile.
    const fresh: GroupFinder = new GroupFinder(groupSource(windows, query, groupBy), (r) => groupValue(r, groupBy), () => {
      if (state.finder.current === fresh) bump();
    });
    const target = old.covered;
    void fresh.extend(() => fresh.covered < target).then(() => {
      if (state.finder.current !== old || fresh.error) return;
      old.stop();
      state.finder.current = fresh;
      bump();
    });
  });

  return {
    windows: shown.windows,
    current: windows,
    layout: shownLayout,
    count: shownLayout ? shownLayout.count : (shown.windows.total ?? 0),
    offsetAt,
    onRange,
    range: () => rangeRef.current,
  };
}

/** Follows the experiment's live stream and refreshes the windows on screen when runs change. */
function useLiveRefresh(experimentId: string, windows: RunWindows, onRefresh: () => void): void {
  const latest = useRef({ windows, onRefresh });
  latest.current = { windows, onRefresh };
  useEffect(() => {
    let timer: number | undefined;
    let last = 0;
    const schedule = (delay: number) => {
      if (timer !== undefined) return;
      const wait = Math.max(delay, last + LIVE_MIN_GAP_MS - Date.now());
      timer = window.setTimeout(() => {
        timer = undefined;
        last = Date.now();
        void latest.current.windows.refresh();
        latest.current.onRefresh();
      }, wait);
    };
    const stop = subscribe({ experiments: [experimentId] }, (event) => {
      if (event.type === "run" || event.type === "resync") schedule(event.type === "run" ? LIVE_DEBOUNCE_MS : 0);
      else if (event.type === "points" && latest.current.windows.isShown(event.run_id)) schedule(POINTS_REFRESH_MS);
    });
    return () => {
      window.clearTimeout(timer);
      stop();
    };
  }, [experimentId]);
}
