// Axes of the compare view's own canvas plots (parallel coordinates, scatter): a column of
// values becomes a numeric axis (linear, or logarithmic for positive values spanning decades)
// or a categorical one (distinct values in natural order), mapping each value to [0, 1], with
// tick positions and labels.
import { formatNumber } from "../../format";

export type Value = string | number | null;

export type Axis =
  | { kind: "numeric"; min: number; max: number; log: boolean }
  | { kind: "categorical"; categories: string[] };

export type Tick = { pos: number; label: string };

/** A value as a finite number, or null (missing, NaN, not a number). */
export function asNumber(v: Value): number | null {
  if (v === null || v === "") return null;
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/**
 * The axis for a column: numeric when every present value is a finite number, else categorical.
 * `log` "auto" takes a log scale for positive values whose max/min is at least 100.
 */
export function buildAxis(values: Value[], log: "auto" | boolean = "auto"): Axis {
  const present = values.filter((v) => v !== null && v !== "" && !(typeof v === "number" && Number.isNaN(v)));
  const numbers = present.map(asNumber);
  if (present.length > 0 && numbers.every((n) => n !== null)) {
    const ns = numbers as number[];
    let min = Infinity;
    let max = -Infinity;
    for (const n of ns) {
      if (n < min) min = n;
      if (n > max) max = n;
    }
    const canLog = min > 0;
    const useLog = log === "auto" ? canLog && max / min >= 100 : log && canLog;
    return { kind: "numeric", min, max, log: useLog };
  }
  const categories = [...new Set(present.map(String))].sort(natural.compare);
  return { kind: "categorical", categories };
}

/** Where `v` sits on the axis, in [0, 1]; null when it is missing or does not fit the axis. */
export function position(axis: Axis, v: Value): number | null {
  if (axis.kind === "categorical") {
    if (v === null) return null;
    const i = axis.categories.indexOf(String(v));
    return i < 0 ? null : (i + 0.5) / axis.categories.length;
  }
  const n = asNumber(v);
  if (n === null) return null;
  if (axis.log) {
    if (n <= 0) return null;
    const lo = Math.log10(axis.min);
    const hi = Math.log10(axis.max);
    return hi === lo ? 0.5 : (Math.log10(n) - lo) / (hi - lo);
  }
  return axis.max === axis.min ? 0.5 : (n - axis.min) / (axis.max - axis.min);
}

/** The value at position `p` of a numeric axis (inverse of `position`). */
export function valueAt(axis: Axis & { kind: "numeric" }, p: number): number {
  if (axis.log) {
    const lo = Math.log10(axis.min);
    const hi = Math.log10(axis.max);
    return Math.pow(10, lo + p * (hi - lo));
  }
  return axis.min + p * (axis.max - axis.min);
}

/** About `count` round numbers (steps of 1, 2 or 5 × 10^k) between min and max. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

/** Powers of ten within [min, max] (with 2× and 5× when there are few decades). */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const mults = hi - lo <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of mults) {
      const v = m * Math.pow(10, e);
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(Number(v.toPrecision(12)));
    }
  }
  return out;
}

/** Ticks of an axis (categorical axes: every category, thinned to about `max` labels). */
export function axisTicks(axis: Axis, count = 5, max = 12): Tick[] {
  if (axis.kind === "categorical") {
    const n = axis.categories.length;
    const every = Math.max(1, Math.ceil(n / max));
    return axis.categories
      .map((label, i) => ({ pos: (i + 0.5) / n, label }))
      .filter((_, i) => i % every === 0);
  }
  const values = axis.log ? logTicks(axis.min, axis.max) : niceTicks(axis.min, axis.max, count);
  const ticks = values.map((v) => ({ pos: position(axis, v) ?? 0, label: formatNumber(v) }));
  // A flat axis, or a log range without a round value inside: label its ends.
  if (ticks.length < 2 && axis.min !== axis.max) {
    return [
      { pos: 0, label: formatNumber(axis.min) },
      { pos: 1, label: formatNumber(axis.max) },
    ];
  }
  return ticks;
}
