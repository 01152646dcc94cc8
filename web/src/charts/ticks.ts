/**
 * Axis tick and tooltip labels: steps (1.5k, 2M), metric values (precision from the tick
 * spacing), relative times (durations on round increments: 30s, 2m, 1h30m). Wall-clock ticks use
 * uPlot's own time axis.
 */
import { formatDuration, formatNumber, formatTime } from "../format";
import type { XMode } from "./series";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Tick spacings for the relative-time axis: round durations, from a millisecond to years. */
export const DURATION_INCRS: number[] = [
  1, 2, 5, 10, 20, 50, 100, 200, 500,
  SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 90 * DAY, 180 * DAY, 365 * DAY,
];

function trim(v: number, digits: number): string {
  return String(Number(v.toFixed(digits)));
}

/**
 * Step ticks, one unit for the whole axis so neighbours read alike: 0, 2k, 4k … 10k (from 10k
 * up), 1.5M, 2M (from 10M up); as many decimals as the tick spacing needs.
 */
export function formatStepTicks(splits: ArrayLike<number | null>, incr: number): string[] {
  let top = 0;
  for (let i = 0; i < splits.length; i++) top = Math.max(top, Math.abs(splits[i] ?? 0));
  const [unit, suffix] = top >= 1e10 ? [1e9, "G"] : top >= 1e7 ? [1e6, "M"] : top >= 1e4 ? [1e3, "k"] : [1, ""];
  const decimals = Math.max(0, Math.min(6, Math.ceil(Math.log10(unit / incr) - 1e-9)));
  return Array.from(splits, (v) => (v === null ? "" : v === 0 ? "0" : trim(v / unit, decimals) + suffix));
}

/** A y tick: as many decimals as the tick spacing needs, exponent form at the extremes. */
export function formatValueTick(v: number, incr: number): string {
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-4 || incr < 1e-4) {
    const digits = Math.max(0, Math.min(6, Math.ceil(Math.log10(abs / incr)) - 1));
    return v.toExponential(digits).replace(/\.?0+e/, "e");
  }
  const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(incr) + 1e-9)));
  return trim(v, decimals);
}

/** A log-scale y tick (1, 2, 5 × powers of ten): plain near 1, `2e-5` beyond. */
export function formatLogTick(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1e-3 && abs < 1e4) return trim(v, 6);
  const e = Math.floor(Math.log10(abs) + 1e-9);
  return `${trim(v / Math.pow(10, e), 1)}e${e}`;
}

/** A relative-time tick: a duration rounded to the tick spacing (90s → "1m30s"). */
export function formatDurationTick(ms: number, incr: number): string {
  if (ms === 0) return "0";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (incr < SECOND) return sign + (rest >= SECOND ? trim(rest / SECOND, 3) + "s" : trim(rest, 0) + "ms");
  const units: [number, string][] = [
    [DAY, "d"],
    [HOUR, "h"],
    [MINUTE, "m"],
    [SECOND, "s"],
  ];
  const parts: string[] = [];
  for (const [size, name] of units) {
    if (rest >= size) {
      const whole = Math.floor(rest / size + 1e-9);
      parts.push(whole + name);
      rest -= whole * size;
    }
    if (parts.length === 2 || size <= incr) break;
  }
  return sign + (parts.join("") || "0");
}

/** The tooltip's x heading. */
export function formatX(mode: XMode, v: number): string {
  if (mode === "step") return "step " + formatNumber(Math.round(v));
  if (mode === "time") return formatTime(v);
  return formatDuration(v) || "0 s";
}

/** The x axis's title. */
export function xAxisLabel(mode: XMode): string {
  return mode === "step" ? "step" : mode === "time" ? "wall time" : "relative time";
}
