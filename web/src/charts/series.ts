/**
 * One run's downsampled series as the run charts draw it: the server's buckets
 * (`GET /runs/{id}/metrics/{key}/series`) parsed into typed columns, points from the live stream
 * appended on the same grid, and the columns uPlot draws (line, min–max envelope, log clamp).
 */
import type { RunSeriesResponse } from "../api/client";
import { toFloat64 } from "../api/doubles";

export type XMode = "step" | "time" | "relative";

/** Parallel columns, one entry per non-empty bucket, in x order. Numbers are NaN when absent. */
export type BucketSeries = {
  /** The grid's bucket width (x units); buckets start at multiples of it. */
  width: number;
  start: Float64Array;
  /** Where the bucket is drawn: its point's x when it holds one point, else its middle. */
  x: Float64Array;
  /** The x of the bucket's last point (NaN when unknown). */
  lastX: Float64Array;
  count: Float64Array;
  min: Float64Array;
  max: Float64Array;
  mean: Float64Array;
  last: Float64Array;
};

const COLUMNS = ["start", "x", "lastX", "count", "min", "max", "mean", "last"] as const;

/** The x of a point on the chosen axis (`origin`: the run's start time, for `relative`). */
export function pointX(mode: XMode, step: number, timestamp: number, origin: number | null): number {
  if (mode === "step") return step;
  if (mode === "time") return timestamp;
  return origin === null ? NaN : timestamp - origin;
}

/** The x of many points (a live event's columns) on the chosen axis. */
export function pointXs(
  mode: XMode,
  steps: ArrayLike<number>,
  timestamps: ArrayLike<number>,
  origin: number | null,
): Float64Array {
  const out = new Float64Array(steps.length);
  for (let i = 0; i < out.length; i++) out[i] = pointX(mode, steps[i], timestamps[i], origin);
  return out;
}

/** The largest `lastX` of a series (where a fetched view ends), -Infinity when empty. */
export function lastXOf(s: BucketSeries): number {
  let m = -Infinity;
  for (let i = 0; i < s.lastX.length; i++) if (s.lastX[i] > m) m = s.lastX[i];
  return m;
}

/** Where a bucket is drawn. */
export function bucketX(start: number, width: number, count: number, lastX: number): number {
  if (count === 1 && Number.isFinite(lastX)) return lastX;
  const middle = start + (width - 1) / 2;
  return Number.isFinite(lastX) ? Math.max(start, Math.min(middle, lastX)) : middle;
}

export function emptySeries(width = 1): BucketSeries {
  const e = () => new Float64Array(0);
  return { width, start: e(), x: e(), lastX: e(), count: e(), min: e(), max: e(), mean: e(), last: e() };
}

/** Parses a series response (`origin`: the run's start time, needed for `relative` x). */
export function fromResponse(r: RunSeriesResponse, mode: XMode, origin: number | null): BucketSeries {
  const b = r.buckets;
  const n = b.start.length;
  const s: BucketSeries = {
    width: r.width ?? 1,
    start: Float64Array.from(b.start),
    x: new Float64Array(n),
    lastX: new Float64Array(n),
    count: Float64Array.from(b.count),
    min: toFloat64(b.min),
    max: toFloat64(b.max),
    mean: toFloat64(b.mean),
    last: toFloat64(b.last),
  };
  for (let i = 0; i < n; i++) {
    s.lastX[i] = pointX(mode, b.last_step[i], b.last_timestamp[i], origin);
    s.x[i] = bucketX(s.start[i], s.width, s.count[i], s.lastX[i]);
  }
  return s;
}

function toArrays(s: BucketSeries): Record<(typeof COLUMNS)[number], number[]> {
  const out = {} as Record<(typeof COLUMNS)[number], number[]>;
  for (const c of COLUMNS) out[c] = Array.from(s[c]);
  return out;
}

function fromArrays(width: number, a: Record<(typeof COLUMNS)[number], number[]>): BucketSeries {
  const s = emptySeries(width);
  for (const c of COLUMNS) s[c] = Float64Array.from(a[c]);
  return s;
}

/** Index of the bucket starting at `start`, or -(insertion point) - 1. */
function findStart(starts: number[], start: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] < start) lo = mid + 1;
    else if (starts[mid] > start) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

/**
 * Adds new points (their x on the series' axis, and values) to the buckets they fall in, or to
 * new buckets after the last one. Points outside `[from, to]` are ignored. Returns `null` when a
 * point would need a new bucket before the last one (out of order: refetch instead).
 */
export function appendPoints(
  s: BucketSeries,
  xs: ArrayLike<number>,
  values: ArrayLike<number>,
  range: { from?: number; to?: number } = {},
): BucketSeries | null {
  const a = toArrays(s);
  const w = s.width;
  for (let p = 0; p < xs.length; p++) {
    const x = xs[p];
    const v = values[p];
    if (!Number.isFinite(x)) continue;
    if ((range.from !== undefined && x < range.from) || (range.to !== undefined && x > range.to)) continue;
    const start = Math.floor(x / w) * w;
    let i = findStart(a.start, start);
    if (i < 0) {
      if (-i - 1 !== a.start.length) return null;
      i = a.start.length;
      a.start.push(start);
      a.count.push(0);
      a.min.push(NaN);
      a.max.push(NaN);
      a.mean.push(NaN);
      a.last.push(NaN);
      a.x.push(x);
      a.lastX.push(x);
    }
    const n = a.count[i];
    a.count[i] = n + 1;
    a.last[i] = v;
    a.lastX[i] = x;
    if (Number.isFinite(v)) {
      a.min[i] = Number.isNaN(a.min[i]) ? v : Math.min(a.min[i], v);
      a.max[i] = Number.isNaN(a.max[i]) ? v : Math.max(a.max[i], v);
      a.mean[i] = Number.isNaN(a.mean[i]) ? v : (a.mean[i] * n + v) / (n + 1);
    }
    a.x[i] = bucketX(start, w, n + 1, x);
  }
  return fromArrays(w, a);
}

/** The drawn line: a bucket's mean when it holds several points, else its point's value. */
export function lineOf(s: BucketSeries): Float64Array {
  const out = new Float64Array(s.count.length);
  for (let i = 0; i < out.length; i++) out[i] = s.count[i] > 1 ? s.mean[i] : s.last[i];
  return out;
}

/** The envelope's edge: `ext` (min or max) of buckets with several points, else the line. */
export function edgeOf(s: BucketSeries, ext: Float64Array, line: Float64Array): Float64Array {
  const out = new Float64Array(line.length);
  for (let i = 0; i < out.length; i++) out[i] = s.count[i] > 1 && Number.isFinite(ext[i]) ? ext[i] : line[i];
  return out;
}

/** Decades a log scale spans at most below the largest value; smaller values sit on the floor. */
export const LOG_DECADES = 10;

/**
 * Where a log scale's clamp goes: the smallest positive finite value among the columns, but not
 * more than `LOG_DECADES` decades below the largest (a schedule decaying to 1e-36 would
 * otherwise squash every line into the top of the chart).
 */
export function positiveFloor(columns: Iterable<ArrayLike<number>>): number {
  let floor = Infinity;
  let top = 0;
  for (const col of columns) {
    for (let i = 0; i < col.length; i++) {
      const v = col[i];
      if (v > 0 && v < floor) floor = v;
      if (v > top && v < Infinity) top = v;
    }
  }
  return Number.isFinite(floor) ? Math.max(floor, top / 10 ** LOG_DECADES) : floor;
}

/**
 * `toColumn` for lines drawn outside uPlot (`LineChart`'s `fastLines`): the same values as a
 * typed array with NaN for gaps, `values` itself when nothing changes (no copy, and no boxed
 * numbers to collect for the hundreds of columns of a compare chart).
 */
export function toLineColumn(values: Float64Array, logFloor?: number): Float64Array {
  if (logFloor === undefined) return values;
  const clamp = Number.isFinite(logFloor);
  let out: Float64Array | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || !(v <= 0 || (clamp && v < logFloor))) continue;
    out ??= Float64Array.from(values);
    out[i] = clamp && Number.isFinite(v) ? logFloor : NaN;
  }
  return out ?? values;
}

/**
 * A column as uPlot data: non-finite values become gaps (`null`); on a log scale values below
 * `floor` (see `positiveFloor`), zero and negatives included, are clamped to it.
 */
export function toColumn(values: ArrayLike<number>, logFloor?: number): (number | null)[] {
  const out = new Array<number | null>(values.length);
  const clamp = logFloor !== undefined && Number.isFinite(logFloor);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) out[i] = null;
    else if (logFloor !== undefined && (v <= 0 || (clamp && v < logFloor))) out[i] = clamp ? logFloor : null;
    else out[i] = v;
  }
  return out;
}
