import { describe, expect, it } from "vitest";
import type { RunSeriesResponse } from "../api/client";
import {
  appendPoints,
  bucketX,
  edgeOf,
  fromResponse,
  lastXOf,
  lineOf,
  pointX,
  pointXs,
  LOG_DECADES,
  positiveFloor,
  toColumn,
  toLineColumn,
} from "./series";

function response(): RunSeriesResponse {
  return {
    run_id: "r",
    key: "loss",
    x: "step",
    width: 4,
    from: 0,
    to: 9,
    thinned: null,
    buckets: {
      start: [0, 4, 8],
      end: [3, 7, 11],
      count: [4, 4, 1],
      min: [1, 0.5, 0.2],
      max: [4, 2, 0.2],
      mean: [2.5, 1, 0.2],
      last: [1, 0.5, "NaN"],
      last_step: [3, 7, 9],
      last_timestamp: [1003, 1007, 1009],
    },
  };
}

describe("bucket series", () => {
  it("parses buckets and places single points at their own x", () => {
    const s = fromResponse(response(), "step", null);
    expect(s.width).toBe(4);
    expect([...s.x]).toEqual([1.5, 5.5, 9]);
    expect(s.last[2]).toBeNaN();
    expect([...lineOf(s)].slice(0, 2)).toEqual([2.5, 1]);
  });

  it("maps x on the relative axis with the run's start", () => {
    expect(pointX("relative", 3, 1500, 1000)).toBe(500);
    expect(pointX("relative", 3, 1500, null)).toBeNaN();
    expect(pointX("time", 3, 1500, null)).toBe(1500);
    const s = fromResponse({ ...response(), x: "relative" }, "relative", 1000);
    expect(s.x[2]).toBe(9);
    expect([...pointXs("relative", [1, 2], [1100, 1200], 1000)]).toEqual([100, 200]);
    expect(lastXOf(s)).toBe(9);
  });

  it("keeps a bucket's middle within its points", () => {
    expect(bucketX(1024, 1024, 10, 1030)).toBe(1030);
    expect(bucketX(1024, 1024, 10, 2000)).toBe(1024 + 511.5);
    expect(bucketX(8, 4, 1, NaN)).toBe(9.5);
  });

  it("draws the envelope where buckets hold several points", () => {
    const s = fromResponse(response(), "step", null);
    const line = lineOf(s);
    expect([...edgeOf(s, s.min, line)].slice(0, 2)).toEqual([1, 0.5]);
    expect(edgeOf(s, s.max, line)[0]).toBe(4);
    expect(edgeOf(s, s.max, line)[2]).toBeNaN();
  });

  it("appends live points to the last bucket and to new buckets", () => {
    const s = fromResponse(response(), "step", null);
    const t = appendPoints(s, [10, 12, 13], [0.4, 0.1, 0.3])!;
    expect([...t.start]).toEqual([0, 4, 8, 12]);
    expect(t.count[2]).toBe(2);
    expect(t.min[2]).toBeCloseTo(0.2);
    expect(t.max[2]).toBeCloseTo(0.4);
    expect(t.mean[2]).toBeCloseTo(0.3);
    expect(t.count[3]).toBe(2);
    expect(t.last[3]).toBe(0.3);
    expect(t.mean[3]).toBeCloseTo(0.2);
    expect(t.x[3]).toBe(13);
    expect(s.start.length).toBe(3);
  });

  it("ignores points outside the view and asks for a refetch when out of order", () => {
    const s = fromResponse(response(), "step", null);
    expect(appendPoints(s, [20], [1], { to: 11 })!.start.length).toBe(3);
    const gap = fromResponse(
      { ...response(), buckets: { ...response().buckets, start: [0, 8], count: [4, 1], min: [1, 1], max: [1, 1], mean: [1, 1], last: [1, 1], last_step: [3, 9], last_timestamp: [0, 0], end: [3, 11] } },
      "step",
      null,
    );
    expect(appendPoints(gap, [5], [1])).toBeNull();
  });

  it("makes uPlot columns with gaps and a log clamp", () => {
    const v = new Float64Array([1, NaN, -1, 0, 0.5, Infinity]);
    expect(toColumn(v)).toEqual([1, null, -1, 0, 0.5, null]);
    const floor = positiveFloor([v]);
    expect(floor).toBe(0.5);
    expect(toColumn(v, floor)).toEqual([1, null, 0.5, 0.5, 0.5, null]);
    expect(toColumn(new Float64Array([-1]), positiveFloor([new Float64Array([-1])]))).toEqual([null]);
    // A value decaying to 1e-36 is held LOG_DECADES below the largest value.
    const decay = new Float64Array([1e-3, 1e-9, 3.7e-36, 0]);
    const held = positiveFloor([decay]);
    expect(held).toBeCloseTo(1e-3 / 10 ** LOG_DECADES, 20);
    expect(toColumn(decay, held)).toEqual([1e-3, 1e-9, held, held]);
  });

  it("makes line columns that match, with NaN for gaps and no copy when nothing changes", () => {
    const v = new Float64Array([1, NaN, -1, 0, 0.5, Infinity]);
    expect(toLineColumn(v)).toBe(v);
    const floor = positiveFloor([v]);
    const clamped = toLineColumn(v, floor);
    expect([...clamped]).toEqual([1, NaN, 0.5, 0.5, 0.5, Infinity]);
    expect([...v]).toEqual([1, NaN, -1, 0, 0.5, Infinity]);
    const positive = new Float64Array([1, 2, NaN]);
    expect(toLineColumn(positive, positiveFloor([positive]))).toBe(positive);
    // No positive value at all: nothing can be drawn on a log scale.
    expect([...toLineColumn(new Float64Array([-1, 2]), positiveFloor([new Float64Array([-1])]))]).toEqual([NaN, 2]);
    const decay = new Float64Array([1e-3, 1e-9, 3.7e-36, 0]);
    const held = positiveFloor([decay]);
    expect([...toLineColumn(decay, held)]).toEqual([1e-3, 1e-9, held, held]);
  });
});
