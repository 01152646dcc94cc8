import { describe, expect, it } from "vitest";
import type { CompareResponse, ManySeriesResponse } from "../api/client";
import { alignGroups, alignRuns } from "./merge";

type Buckets = ManySeriesResponse["runs"][number]["buckets"];

function run(id: string, start: number[], mean: (number | null | "NaN")[], extra: Partial<Buckets> = {}) {
  return { run_id: id, found: true, thinned: null, buckets: { start, mean, ...extra } as Buckets };
}

describe("alignRuns", () => {
  it("puts runs on one x array with gaps where a run has no bucket", () => {
    const r: ManySeriesResponse = {
      key: "loss",
      x: "step",
      width: 10,
      from: 0,
      to: 45,
      runs: [run("a", [0, 10, 30], [1, 2, 3]), run("b", [20, 40], [5, "NaN"]), run("c", [], [])],
    };
    const a = alignRuns(r);
    expect([...a.x]).toEqual([4.5, 14.5, 24.5, 34.5, 44.5]);
    expect([...a.mean[0]]).toEqual([1, 2, NaN, 3, NaN]);
    expect([...a.mean[1]]).toEqual([NaN, NaN, 5, NaN, NaN]);
    expect(a.mean[2].length).toBe(5);
    expect(a.drawn).toBe(2);
    expect(a.min).toBeUndefined();
  });

  it("keeps bucket middles inside a zoomed range and carries the envelope", () => {
    const r: ManySeriesResponse = {
      key: "loss",
      x: "step",
      width: 8,
      from: 5,
      to: 20,
      runs: [run("a", [0, 8, 16], [1, 2, 3], { min: [0, 1, 2], max: [2, 3, 4] })],
    };
    const a = alignRuns(r);
    expect([...a.x]).toEqual([5, 11.5, 19.5]);
    expect([...a.min![0]]).toEqual([0, 1, 2]);
    expect([...a.max![0]]).toEqual([2, 3, 4]);
  });

  it("handles an empty view", () => {
    const a = alignRuns({ key: "k", x: "step", width: null, from: null, to: null, runs: [run("a", [], [])] });
    expect(a.x.length).toBe(0);
    expect(a.drawn).toBe(0);
  });
});

describe("alignGroups", () => {
  const response = {
    runs: [],
    params: { constant: {}, differing: [] },
    metrics: {},
    bands: { metric: "loss", x: "step", width: 1, value: "each run's bucket mean" },
    groups: [
      { value: "0.1", run_ids: ["a", "b"], metrics: {}, band: { start: [0, 1], n: [2, 2], mean: [1, 2], std: [0.5, "NaN"], min: [0, 1], max: [2, 3] } },
      { value: "0.2", run_ids: ["c"], metrics: {}, band: { start: [1, 2], n: [1, 1], mean: [4, 5], std: [0, 0], min: [4, 5], max: [4, 5] } },
    ],
  } as unknown as CompareResponse;

  it("aligns group means with a std band", () => {
    const g = alignGroups(response, "std");
    expect([...g.x]).toEqual([0, 1, 2]);
    expect(g.groups.map((x) => x.value)).toEqual(["0.1", "0.2"]);
    expect([...g.groups[0].lo]).toEqual([0.5, 2, NaN]);
    expect([...g.groups[0].hi]).toEqual([1.5, 2, NaN]);
    expect([...g.groups[1].mean]).toEqual([NaN, 4, 5]);
    expect(g.groups[0].runs).toBe(2);
  });

  it("or with the runs' range", () => {
    const g = alignGroups(response, "range");
    expect([...g.groups[0].lo]).toEqual([0, 1, NaN]);
    expect([...g.groups[0].hi]).toEqual([2, 3, NaN]);
  });
});
