/**
 * Many runs on one x array, as uPlot needs it: the many-series view (`POST /api/v1/series`) and
 * the compare bands (`POST /api/v1/compare`) put every run (or group) on one shared bucket grid,
 * so the union of their bucket starts is a run of consecutive grid cells; each run's column
 * holds NaN where it has no bucket (drawn as a gap that the line spans).
 */
import type { CompareResponse, ManySeriesResponse } from "../api/client";
import { toFloat64, type WireDouble } from "../api/doubles";

export type AlignedRuns = {
  x: Float64Array;
  /** Per run (request order): bucket means on `x`. */
  mean: Float64Array[];
  /** Per run, when min/max were asked for: the envelope edges on `x`. */
  min?: Float64Array[];
  max?: Float64Array[];
  /** Runs with at least one bucket. */
  drawn: number;
};

export type AlignedGroups = {
  x: Float64Array;
  groups: { value: string | null; runs: number; mean: Float64Array; lo: Float64Array; hi: Float64Array }[];
};

type Column = ReadonlyArray<WireDouble | null>;

/** The grid cells spanned by sets of bucket starts: first start and count. */
function span(starts: ReadonlyArray<ReadonlyArray<number>>, width: number): { first: number; n: number } {
  let first = Infinity;
  let last = -Infinity;
  for (const s of starts) {
    if (s.length === 0) continue;
    first = Math.min(first, s[0]);
    last = Math.max(last, s[s.length - 1]);
  }
  if (first > last) return { first: 0, n: 0 };
  return { first, n: Math.round((last - first) / width) + 1 };
}

/** The drawn x of each grid cell: its middle, kept inside the view's `[from, to]`. */
function gridX(first: number, n: number, width: number, from: number | null, to: number | null): Float64Array {
  const x = new Float64Array(n);
  const lo = from ?? -Infinity;
  const hi = to ?? Infinity;
  for (let i = 0; i < n; i++) x[i] = Math.max(lo, Math.min(hi, first + i * width + (width - 1) / 2));
  return x;
}

/** Spreads one run's column onto the grid. */
function place(starts: ReadonlyArray<number>, values: Column, first: number, width: number, n: number): Float64Array {
  const out = new Float64Array(n).fill(NaN);
  const v = toFloat64(values);
  for (let j = 0; j < starts.length; j++) out[Math.round((starts[j] - first) / width)] = v[j];
  return out;
}

/** Aligns a many-series response (fields `start`, `mean`, and optionally `min`/`max`). */
export function alignRuns(r: ManySeriesResponse): AlignedRuns {
  const width = r.width ?? 1;
  const starts = r.runs.map((run) => run.buckets.start ?? []);
  const { first, n } = span(starts, width);
  const x = gridX(first, n, width, r.from, r.to);
  const column = (name: "mean" | "min" | "max") =>
    r.runs.map((run, i) => place(starts[i], (run.buckets[name] ?? []) as Column, first, width, n));
  const withEnvelope = r.runs.some((run) => run.buckets.min !== undefined && run.buckets.max !== undefined);
  return {
    x,
    mean: column("mean"),
    min: withEnvelope ? column("min") : undefined,
    max: withEnvelope ? column("max") : undefined,
    drawn: starts.filter((s) => s.length > 0).length,
  };
}

/** The buffers of an aligned view, to transfer it between threads without copying. */
export function transferables(a: AlignedRuns): ArrayBuffer[] {
  const columns = [a.x, ...a.mean, ...(a.min ?? []), ...(a.max ?? [])];
  return [...new Set(columns.map((c) => c.buffer as ArrayBuffer))];
}

/** Aligns the per-group bands of a compare response: mean ± std, or the runs' min–max. */
export function alignGroups(r: CompareResponse, spread: "std" | "range"): AlignedGroups {
  const width = r.bands?.width ?? 1;
  const groups = (r.groups ?? []).filter((g) => g.band);
  const starts = groups.map((g) => g.band!.start);
  const { first, n } = span(starts, width);
  const x = gridX(first, n, width, r.bands?.from ?? null, r.bands?.to ?? null);
  return {
    x,
    groups: groups.map((g, i) => {
      const band = g.band!;
      const mean = place(starts[i], band.mean, first, width, n);
      let lo: Float64Array;
      let hi: Float64Array;
      if (spread === "std") {
        const std = place(starts[i], band.std, first, width, n);
        lo = mean.map((m, k) => m - (Number.isFinite(std[k]) ? std[k] : 0));
        hi = mean.map((m, k) => m + (Number.isFinite(std[k]) ? std[k] : 0));
      } else {
        lo = place(starts[i], band.min, first, width, n);
        hi = place(starts[i], band.max, first, width, n);
      }
      return { value: g.value, runs: g.run_ids.length, mean, lo, hi };
    }),
  };
}
