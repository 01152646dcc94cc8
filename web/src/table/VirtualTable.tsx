// A virtualised table: fixed row height, only the rows in view (plus overscan) in the DOM, each
// absolutely placed inside a spacer as tall as every row (scaled past the browsers' height
// limit, see ./windowing). The header is sticky; columns are a CSS grid whose template lives in
// one custom property, so resizing a column restyles the rows without re-rendering them.
// Columns may be pinned to the left: their cells (class `vt-pin`) follow the horizontal scroll
// through a transform driven by the `--vt-x` property, not `position: sticky`, which would give
// every pinned cell its own compositing layer and make scrolling slow without a GPU.
import type { ComponentChildren, JSX, VNode } from "preact";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { rowRange, rowTop, scrollToReveal, spacerHeight, type Geometry, type RowRange } from "./windowing";
import "./table.css";

export type TableColumn = {
  id: string;
  width: number;
  /** Smallest width a drag may give (px); the column is not resizable when `resizable` is false. */
  minWidth?: number;
  resizable?: boolean;
  /** Pinned to the left edge (pinned columns must come first). */
  pinned?: boolean;
  header: ComponentChildren;
  /** Extra class on the header cell. */
  headerClass?: string;
  /** Accessible name of the column (the header's text when absent). */
  title?: string;
};

/** What the owner can ask of the table. */
export type TableHandle = {
  /** Scrolls the least amount that shows row `index` whole. */
  reveal(index: number): void;
  scrollToTop(): void;
};

type Props = {
  columns: TableColumn[];
  total: number;
  rowHeight: number;
  overscan?: number;
  /**
   * One row: an element with class `vt-row`, style `rowStyle(top, rowHeight)` and one child
   * per column (or one spanning child with class `vt-span`).
   */
  renderRow: (index: number, top: number) => VNode;
  /** Called with the rendered range whenever it changes. */
  onRange?: (range: RowRange) => void;
  /** A column's new width after a drag of its header's edge. */
  onResize?: (id: string, width: number) => void;
  handle?: { current: TableHandle | null };
  testId?: string;
  /** Shown in the body when there are no rows. */
  empty?: ComponentChildren;
  label?: string;
};

const SAME_RANGE = (a: RowRange, b: RowRange) => a.start === b.start && a.end === b.end && a.firstVisible === b.firstVisible && a.endVisible === b.endVisible;

/** The grid template and the rows' width as CSS custom properties. */
function gridVars(columns: TableColumn[], widths: Map<string, number>): Record<string, string> {
  const vars: Record<string, string> = {};
  let total = 0;
  const template: string[] = [];
  for (const c of columns) {
    const w = widths.get(c.id) ?? c.width;
    template.push(`${w}px`);
    total += w;
  }
  vars["--vt-cols"] = template.join(" ");
  vars["--vt-width"] = `${total}px`;
  return vars;
}

export function VirtualTable(props: Props) {
  const { columns, total, rowHeight, overscan = 8 } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const header = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState(600);
  const [scrollTop, setScrollTop] = useState(0);
  const [dragWidths, setDragWidths] = useState<Map<string, number>>(new Map());
  const geometry: Geometry = { total, rowHeight, viewport };
  const range = rowRange(geometry, scrollTop, overscan);
  const lastRange = useRef<RowRange | null>(null);
  const scrollLeft = useRef(0);
  const onRangeRef = useRef(props.onRange);
  onRangeRef.current = props.onRange;

  // Follow the viewport's size.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return undefined;
    const measure = () => setViewport(Math.max(0, el.clientHeight - (header.current?.offsetHeight ?? 0)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // Re-render only when the rendered range changes (or always, when the spacer is scaled and
  // row offsets follow the scroll position).
  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const top = el.scrollTop;
    const left = el.scrollLeft;
    // Only a horizontal scroll restyles the pinned cells (setting the property restyles the rows).
    if (left !== scrollLeft.current) {
      scrollLeft.current = left;
      el.style.setProperty("--vt-x", `${left}px`);
    }
    const g = { total, rowHeight, viewport };
    const scaled = total * rowHeight > spacerHeight(g);
    const next = rowRange(g, top, overscan);
    const changed = !lastRange.current || !SAME_RANGE(next, lastRange.current);
    if (changed) {
      // Tell the owner now (it starts fetching), not after the render.
      lastRange.current = next;
      onRangeRef.current?.(next);
    }
    if (scaled || changed) setScrollTop(top);
  }, [total, rowHeight, viewport, overscan]);

  // A shorter table may have clamped the scroll position.
  useLayoutEffect(() => onScroll(), [onScroll]);

  useEffect(() => {
    if (lastRange.current && SAME_RANGE(range, lastRange.current)) return;
    lastRange.current = range;
    props.onRange?.(range);
  });

  if (props.handle) {
    props.handle.current = {
      reveal(index: number) {
        const el = scroller.current;
        if (!el) return;
        const target = scrollToReveal({ total, rowHeight, viewport }, el.scrollTop, index);
        if (target !== el.scrollTop) el.scrollTop = target;
      },
      scrollToTop() {
        if (scroller.current) scroller.current.scrollTop = 0;
      },
    };
  }

  const vars = useMemo(() => gridVars(columns, dragWidths), [columns, dragWidths]);

  const startResize = (column: TableColumn, event: PointerEvent) => {
    event.preventDefault();
    event.stopPropagation();
    const target = event.currentTarget as HTMLElement;
    target.setPointerCapture(event.pointerId);
    const startX = event.clientX;
    const startWidth = dragWidths.get(column.id) ?? column.width;
    const min = column.minWidth ?? 48;
    let width = startWidth;
    const move = (e: PointerEvent) => {
      width = Math.max(min, Math.round(startWidth + e.clientX - startX));
      setDragWidths((m) => new Map(m).set(column.id, width));
    };
    const up = () => {
      target.removeEventListener("pointermove", move);
      target.removeEventListener("pointerup", up);
      target.removeEventListener("pointercancel", up);
      props.onResize?.(column.id, width);
      setDragWidths((m) => {
        const next = new Map(m);
        next.delete(column.id);
        return next;
      });
    };
    target.addEventListener("pointermove", move);
    target.addEventListener("pointerup", up);
    target.addEventListener("pointercancel", up);
  };

  const rows: VNode[] = [];
  for (let i = range.start; i < range.end; i++) {
    rows.push(props.renderRow(i, rowTop(geometry, scrollTop, i)));
  }

  return (
    <div
      class="vt"
      ref={scroller}
      onScroll={onScroll}
      style={vars}
      data-testid={props.testId}
      role="table"
      aria-label={props.label}
      aria-rowcount={total + 1}
    >
      <div class="vt-head" ref={header} role="row">
        {columns.map((c) => (
          <div
            key={c.id}
            class={`vt-hcell${c.pinned ? " vt-pin" : ""}${c.headerClass ? " " + c.headerClass : ""}`}
            role="columnheader"
            title={c.title}
          >
            {c.header}
            {c.resizable !== false && (
              <span
                class="vt-resize"
                aria-hidden="true"
                onPointerDown={(e) => startResize(c, e)}
                onClick={(e) => e.stopPropagation()}
              />
            )}
          </div>
        ))}
      </div>
      <div class="vt-body" style={{ height: spacerHeight(geometry) }} role="rowgroup">
        {rows}
      </div>
      {total === 0 && props.empty ? <div class="vt-empty">{props.empty}</div> : null}
    </div>
  );
}

/** The style of a row whose top is `top` px into the body. */
export function rowStyle(top: number, height: number): JSX.CSSProperties {
  return { transform: `translateY(${top}px)`, height };
}
