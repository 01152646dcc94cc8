import { describe, expect, it } from "vitest";
import { ema } from "./ema";

describe("ema", () => {
  it("is the identity at weight 0", () => {
    const v = new Float64Array([1, 5, -2]);
    expect([...ema(v, 0)]).toEqual([1, 5, -2]);
  });

  it("debiases: the first value is kept and a constant stays constant", () => {
    const out = ema(new Float64Array([3, 3, 3, 3]), 0.9);
    for (const v of out) expect(v).toBeCloseTo(3, 12);
  });

  it("matches TensorBoard's formula", () => {
    const w = 0.6;
    const out = ema(new Float64Array([1, 2, 4]), w);
    const l1 = (1 - w) * 1;
    const l2 = l1 * w + (1 - w) * 2;
    const l3 = l2 * w + (1 - w) * 4;
    expect(out[0]).toBeCloseTo(l1 / (1 - w), 12);
    expect(out[1]).toBeCloseTo(l2 / (1 - w * w), 12);
    expect(out[2]).toBeCloseTo(l3 / (1 - w ** 3), 12);
  });

  it("passes non-finite values through without updating the average", () => {
    const out = ema(new Float64Array([2, NaN, Infinity, 2]), 0.5);
    expect(out[0]).toBe(2);
    expect(out[1]).toBeNaN();
    expect(out[2]).toBe(Infinity);
    expect(out[3]).toBeCloseTo(2, 12);
  });

  it("smooths a step towards the new level", () => {
    const out = ema(new Float64Array([0, 0, 0, 10, 10, 10]), 0.5);
    expect(out[3]).toBeGreaterThan(0);
    expect(out[3]).toBeLessThan(10);
    expect(out[5]).toBeGreaterThan(out[4]);
  });
});
