/**
 * Doubles on the wire: JSON cannot carry NaN or infinities, so the API sends the strings
 * "NaN", "Infinity" and "-Infinity" in their place (the `Double` schema).
 */
export type WireDouble = number | "NaN" | "Infinity" | "-Infinity";

/** A wire double as a JS number (`null` stays `null`). */
export function toNumber(value: WireDouble | string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  switch (value) {
    case "NaN":
      return NaN;
    case "Infinity":
      return Infinity;
    case "-Infinity":
      return -Infinity;
    default: {
      const parsed = Number(value);
      return Number.isNaN(parsed) ? NaN : parsed;
    }
  }
}

/** A column of wire doubles as a Float64Array (`null` becomes NaN). */
export function toFloat64(values: ReadonlyArray<WireDouble | null>): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = typeof v === "number" ? v : v === null ? NaN : (toNumber(v) ?? NaN);
  }
  return out;
}
