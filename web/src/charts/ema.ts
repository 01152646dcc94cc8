/**
 * Exponential moving average smoothing, debiased the way TensorBoard does it: the running
 * average starts at zero and is divided by `1 - weight^n` (n = finite values seen so far), so
 * the first points are not dragged towards zero. Non-finite values (gaps, NaN, ±Infinity) pass
 * through unchanged and do not update the average.
 */
export function ema(values: Float64Array, weight: number): Float64Array {
  const out = new Float64Array(values.length);
  if (!(weight > 0)) {
    out.set(values);
    return out;
  }
  const w = Math.min(weight, 0.999);
  let last = 0;
  let seen = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * w + (1 - w) * v;
    seen++;
    out[i] = last / (1 - Math.pow(w, seen));
  }
  return out;
}
