// Row windowing for the virtualised table: which rows a scroll position shows, and where each
// row sits inside the scroll spacer. Browsers cap an element's height (about 16.7M px in
// Chromium, less elsewhere), so past MAX_SPACER_PX the spacer is capped and scroll positions
// are scaled onto the rows; below that a row's offset is simply `index × rowHeight`.

/** The tallest spacer the table makes; past it, scrolling is scaled. */
export const MAX_SPACER_PX = 15_000_000;

export type Geometry = {
  total: number;
  rowHeight: number;
  /** Height of the visible body (the scroll viewport minus the sticky header). */
  viewport: number;
  /** Spacer height limit (MAX_SPACER_PX unless a test says otherwise). */
  maxSpacer?: number;
};

/** The spacer's height in px: every row, or the cap. */
export function spacerHeight(g: Geometry): number {
  return Math.min(g.total * g.rowHeight, g.maxSpacer ?? MAX_SPACER_PX);
}

/**
 * The scale from spacer scroll positions to "virtual" positions (all rows laid end to end):
 * 1 when nothing is capped.
 */
function scale(g: Geometry): number {
  const full = g.total * g.rowHeight;
  const spacer = spacerHeight(g);
  if (full <= spacer) return 1;
  const scrollable = Math.max(1, spacer - g.viewport);
  return (full - g.viewport) / scrollable;
}

/** The virtual offset (px from the first row's top) at the top of the viewport. */
export function virtualTop(g: Geometry, scrollTop: number): number {
  const max = Math.max(0, g.total * g.rowHeight - g.viewport);
  return Math.min(max, Math.max(0, scrollTop * scale(g)));
}

export type RowRange = {
  /** First row to render (overscan included). */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** First row at least partly in the viewport. */
  firstVisible: number;
  /** One past the last row at least partly in the viewport. */
  endVisible: number;
};

/** The rows to render at `scrollTop`, with `overscan` extra rows above and below. */
export function rowRange(g: Geometry, scrollTop: number, overscan: number): RowRange {
  if (g.total <= 0 || g.rowHeight <= 0) return { start: 0, end: 0, firstVisible: 0, endVisible: 0 };
  const top = virtualTop(g, scrollTop);
  const firstVisible = Math.min(g.total - 1, Math.floor(top / g.rowHeight));
  const endVisible = Math.min(g.total, Math.ceil((top + Math.max(g.viewport, 0)) / g.rowHeight));
  return {
    start: Math.max(0, firstVisible - overscan),
    end: Math.min(g.total, Math.max(endVisible, firstVisible + 1) + overscan),
    firstVisible,
    endVisible: Math.max(endVisible, firstVisible + 1),
  };
}

/** A row's top inside the spacer (px), given the current scroll position. */
export function rowTop(g: Geometry, scrollTop: number, index: number): number {
  if (scale(g) === 1) return index * g.rowHeight;
  return scrollTop + index * g.rowHeight - virtualTop(g, scrollTop);
}

/**
 * The scrollTop that brings row `index` into view with the least movement (unchanged when it is
 * already fully visible).
 */
export function scrollToReveal(g: Geometry, scrollTop: number, index: number): number {
  const s = scale(g);
  const top = virtualTop(g, scrollTop);
  const rowStart = index * g.rowHeight;
  const rowEnd = rowStart + g.rowHeight;
  let target = top;
  if (rowStart < top) target = rowStart;
  else if (rowEnd > top + g.viewport) target = rowEnd - g.viewport;
  else return scrollTop;
  return Math.max(0, target / s);
}
