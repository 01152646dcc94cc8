// Data of the parallel-coordinates plot: one column per chosen axis (a param or the metric)
// holding each run's position on it, brushes (a range on an axis) and which runs pass them
// all, and the colour of each run from the metric through a viridis-like colour map.
import { buildAxis, position, type Axis, type Value } from "./axis";

export type Column = {
  /** Identity of the axis (brushes are kept by it): `params.<key>` or `metrics.<key>`. */
  id: string;
  /** Its label. */
  name: string;
  axis: Axis;
  /** Per run: position in [0, 1], NaN where the run has no value. */
  pos: Float64Array;
};

/** A brushed range of an axis, as positions [lo, hi] with lo ≤ hi. */
export type Brush = [lo: number, hi: number];

export function buildColumn(id: string, name: string, values: Value[], log: "auto" | boolean = "auto"): Column {
  const axis = buildAxis(values, log);
  const pos = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) pos[i] = position(axis, values[i]) ?? NaN;
  return { id, name, axis, pos };
}

/** The brush a vertical drag between two positions makes. */
export function brushOf(a: number, b: number): Brush {
  const clamp = (v: number) => Math.max(0, Math.min(1, v));
  return a <= b ? [clamp(a), clamp(b)] : [clamp(b), clamp(a)];
}

/** Brushes as a URL parameter: `id:lo:hi` per brushed axis (id URI-encoded), `;`-separated. */
export function formatBrushes(brushes: Map<string, Brush>): string {
  const round = (v: number) => String(Math.round(v * 10_000) / 10_000);
  return [...brushes].map(([id, [lo, hi]]) => `${encodeURIComponent(id)}:${round(lo)}:${round(hi)}`).join(";");
}

/** The brushes of a `formatBrushes` parameter; malformed entries are skipped. */
export function parseBrushes(param: string): Map<string, Brush> {
  const out = new Map<string, Brush>();
  for (const entry of param.split(";")) {
    const parts = entry.split(":");
    if (parts.length !== 3 || !parts[0]) continue;
    const lo = Number(parts[1]);
    const hi = Number(parts[2]);
    if (!parts[1] || !parts[2] || !Number.isFinite(lo) || !Number.isFinite(hi)) continue;
    let id: string;
    try {
      id = decodeURIComponent(parts[0]);
    } catch {
      continue;
    }
    out.set(id, brushOf(lo, hi));
  }
  return out;
}

/**
 * 1 for each run inside every brush (a run with no value on a brushed axis is outside), else 0.
 * Brushes are keyed by column id; those of absent columns are ignored.
 */
export function brushMask(columns: Column[], brushes: Map<string, Brush>, runs: number): Uint8Array {
  const mask = new Uint8Array(runs).fill(1);
  for (const col of columns) {
    const brush = brushes.get(col.id);
    if (!brush) continue;
    const [lo, hi] = brush;
    for (let i = 0; i < runs; i++) {
      const p = col.pos[i];
      if (!(p >= lo && p <= hi)) mask[i] = 0;
    }
  }
  return mask;
}

// Viridis, sampled at 9 stops.
const STOPS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** The colour map at t in [0, 1] as an `rgb()` string. */
export function viridis(t: number, alpha = 1): string {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + (STOPS[i + 1][k] - v) * f));
  return alpha < 1 ? `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})` : `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Vertical pixel of position `p` on an axis from `top` to `bottom` (high values at the top). */
export function yOf(p: number, top: number, bottom: number): number {
  return bottom - p * (bottom - top);
}

/** Position on an axis of a vertical pixel (inverse of `yOf`, clamped to [0, 1]). */
export function posOfY(y: number, top: number, bottom: number): number {
  return Math.max(0, Math.min(1, (bottom - y) / (bottom - top)));
}
