// Tests of the compare view's data shaping.
import { describe, expect, it } from "vitest";
import type { CompareResponse } from "../../api/client";
import { defaultAxes, defaultChartKeys, isIdLike, modeOf, parseList, shapeDiff, sortMetricKeys } from "./diff";
import { parseRunIds } from "./request";

const response: CompareResponse = {
  runs: [
    { run_id: "a", run_name: "A", experiment_id: "1", status: "FINISHED", params: { lr: "0.1", opt: "adam" } },
    { run_id: "b", run_name: "B", experiment_id: "1", status: "FAILED", params: { lr: "0.01", opt: "adam" } },
    { run_id: "c", run_name: "C", experiment_id: "1", status: "FINISHED", params: { lr: "0.1" } },
  ],
  params: { constant: { model: "resnet", epochs: "5" }, differing: ["opt", "lr"] },
  metric_keys: [
    { key: "acc", runs: 3 },
    { key: "loss", runs: 2 },
    { key: "system/cpu", runs: 1 },
  ],
  metrics: {
    "system/cpu": [null, null, { count: 1, nan_count: 0, min: 1, max: 1, mean: 1, last: 1, last_step: 0 }],
    loss: [
      { count: 3, nan_count: 0, min: 0.1, max: 1, mean: 0.5, last: 0.2, last_step: 2 },
      { count: 3, nan_count: 1, min: null, max: null, mean: null, last: "NaN", last_step: 2 },
      null,
    ],
    acc: [
      { count: 3, nan_count: 0, min: 0.1, max: 0.9, mean: 0.5, last: 0.9, last_step: 2 },
      { count: 3, nan_count: 0, min: 0.2, max: 0.8, mean: 0.5, last: 0.8, last_step: 2 },
      { count: 3, nan_count: 0, min: 0.3, max: 0.7, mean: 0.5, last: 0.7, last_step: 2 },
    ],
  },
};

describe("shapeDiff", () => {
  const model = shapeDiff(response);

  it("lists runs and constant params sorted", () => {
    expect(model.runs.map((r) => r.name)).toEqual(["A", "B", "C"]);
    expect(model.constant).toEqual([
      ["epochs", "5"],
      ["model", "resnet"],
    ]);
  });

  it("gives each differing param its values per run, distinct count and mode", () => {
    expect(model.differing).toEqual([
      { key: "lr", values: ["0.1", "0.01", "0.1"], distinct: 2, mode: "0.1" },
      { key: "opt", values: ["adam", "adam", null], distinct: 2, mode: "adam" },
    ]);
  });

  it("orders metrics with system keys last and decodes doubles", () => {
    expect(model.metrics.map((m) => m.key)).toEqual(["acc", "loss", "system/cpu"]);
    const loss = model.metrics[1];
    expect(loss.last[0]).toBe(0.2);
    expect(loss.last[1]).toBeNaN();
    expect(loss.last[2]).toBeNull();
    expect(loss.present).toBe(2);
  });

  it("charts the keys most runs have first", () => {
    expect(defaultChartKeys(model.keys, 2)).toEqual(["acc", "loss"]);
    expect(defaultChartKeys(model.keys)).toEqual(["acc", "loss", "system/cpu"]);
  });

  it("keeps the keys and their counts in an answer without summaries", () => {
    const light = shapeDiff({ ...response, metric_keys: [{ key: "system/cpu", runs: 3 }, { key: "b", runs: 1 }, { key: "a", runs: 2 }], metrics: {} });
    expect(light.metrics).toEqual([]);
    expect(light.keys).toEqual([
      { key: "a", present: 2 },
      { key: "b", present: 1 },
      { key: "system/cpu", present: 3 },
    ]);
    expect(defaultChartKeys(light.keys, 2)).toEqual(["a", "b"]);
  });
});

describe("helpers", () => {
  it("finds the mode", () => {
    expect(modeOf(["x", "y", "y", null])).toEqual({ mode: "y", distinct: 3 });
    expect(modeOf([])).toEqual({ mode: null, distinct: 0 });
  });

  it("sorts metric keys", () => {
    expect(sortMetricKeys(["system/gpu", "b", "a"])).toEqual(["a", "b", "system/gpu"]);
  });

  it("parses the runs parameter", () => {
    expect(parseRunIds(" a,b,,a ,c")).toEqual(["a", "b", "c"]);
    expect(parseRunIds("a,b,c", 2)).toEqual(["a", "b"]);
    expect(parseList("")).toEqual([]);
    expect(parseList("x,y")).toEqual(["x", "y"]);
  });
});

describe("default axes", () => {
  it("leaves seeds, ids and paths out", () => {
    expect(isIdLike("seed")).toBe(true);
    expect(isIdLike("data.random_state")).toBe(true);
    expect(isIdLike("output_dir")).toBe(true);
    expect(isIdLike("lr")).toBe(false);
    expect(isIdLike("seedling_rate")).toBe(false);
    const d = (key: string) => ({ key, values: [], distinct: 2, mode: null });
    expect(defaultAxes([d("lr"), d("seed"), d("wd"), d("opt")], 2)).toEqual(["lr", "wd"]);
  });
});
