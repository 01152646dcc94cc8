/**
 * Performance marks read by the browser benchmark (bench/ui) and the end-to-end tests. Each view
 * marks the moment its main content is on screen; names are part of the benchmark's contract.
 *
 * - `cairn:experiments:ready` — the experiments list is rendered
 * - `cairn:runs:rows` — the runs table shows rows for the current filter/sort (marked again on
 *   every new result; `window.__cairnRowsVersion` counts them)
 * - `cairn:run:ready` — the run page is interactive (overview rendered, first charts drawn)
 * - `cairn:compare:ready` — the compare view's charts have painted
 * - `cairn:chart:zoomed` — a chart finished redrawing after a zoom
 */
declare global {
  interface Window {
    __cairnMarks?: Record<string, number>;
  }
}

export function mark(name: string): void {
  const now = performance.now();
  performance.mark(name);
  const marks = (window.__cairnMarks ??= {});
  marks[name] = now;
  const counter = name + ":count";
  marks[counter] = (marks[counter] ?? 0) + 1;
}
