// The runs table's selection: run ids (in the URL while there are few), toggling, shift-click
// ranges (loading the rows between when needed) and the select-all box.
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { CheckBox } from "./cells";
import type { RunData } from "./useRunData";

/** Most runs the compare view takes. */
export const MAX_COMPARE = 1000;
/** Most selected ids kept in the URL. */
const MAX_URL_SELECTION = 50;
/** Most rows a shift-click range selects. */
const MAX_RANGE = 5000;
export type Selection = {
  ids: ReadonlySet<string>;
  onSelect: (offset: number, display: number, shift: boolean) => void;
  toggleAt: (display: number) => void;
  set: (ids: ReadonlySet<string>) => void;
  selectAll: () => Promise<void>;
};

/** The selected run ids: in the URL while there are few of them. */
export function useSelection(selParam: string, setSelParam: (v: string) => void, data: RunData): Selection {
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

export function SelectAllBox({ selection, total }: { selection: Selection; total: number }) {
  const n = selection.ids.size;
  return (
    <CheckBox
      label="Select all"
      title="Select all matching runs (up to 1,000), or the runs in view"
      checked={n > 0 && n >= total}
      indeterminate={n > 0 && n < total}
      onClick={() => void selection.selectAll()}
    />
  );
}
