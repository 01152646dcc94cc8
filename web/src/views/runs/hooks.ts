// Small hooks of the runs table: the experiment's keys (fetched late and cached), the
// `cairn:runs:rows` performance mark, and the keyboard (j/k or arrows move the cursor, Enter
// opens, x selects, / focuses the filter).
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, type ExperimentKeys } from "../../api/client";
import { mark } from "../../perf";
import type { TableHandle } from "../../table/VirtualTable";
import type { RunData } from "./useRunData";

/** Keys fetched this session, per experiment, with when. */
const keysCache = new Map<string, { keys: ExperimentKeys; at: number }>();
const KEYS_TTL_MS = 5 * 60_000;

/**
 * The experiment's param, metric and tag keys, fetched once `ready` (after the first rows are
 * on screen: over many runs the server takes a while, and the rows come first) and kept for a
 * few minutes.
 */
export function useExperimentKeys(experimentId: string, ready: boolean): ExperimentKeys | null {
  const cached = keysCache.get(experimentId);
  const fresh = cached && Date.now() - cached.at < KEYS_TTL_MS ? cached.keys : null;
  const [keys, setKeys] = useState<ExperimentKeys | null>(fresh);
  useEffect(() => {
    if (!ready || fresh) return undefined;
    const controller = new AbortController();
    api.experimentKeys(experimentId, controller.signal).then(
      (k) => {
        keysCache.set(experimentId, { keys: k, at: Date.now() });
        setKeys(k);
      },
      () => undefined,
    );
    return () => controller.abort();
  }, [experimentId, ready, !!fresh]); // a fresh cache entry needs no fetch
  return keys ?? fresh;
}

/**
 * Marks `cairn:runs:rows` once the first rows of each new query are on screen: checked right
 * after the commit that put them in the DOM, marked in the animation frame that paints them.
 */
export function useRowsMark(data: RunData): void {
  const markedFor = useRef<unknown>(null);
  useLayoutEffect(() => {
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

/** j/k or arrows move the row cursor, Enter opens the run, x selects it, / focuses the filter. */
export function useKeyboard(
  data: RunData,
  cursor: number,
  setCursor: (d: number) => void,
  table: { current: TableHandle | null },
  filterInput: { current: HTMLInputElement | null },
  toggleAt: (display: number) => void,
  open: (display: number) => void,
): void {
  const latest = useRef({ data, cursor, open });
  latest.current = { data, cursor, open };
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
      else if (e.key === "Enter" && cursor >= 0 && !target.closest("button, a")) latest.current.open(cursor);
      else return;
      e.preventDefault();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [setCursor, table, filterInput, toggleAt]);
}

