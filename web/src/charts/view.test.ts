import { describe, expect, it } from "vitest";
import {
  compareBuckets,
  filterKeys,
  formatZoom,
  groupByPrefix,
  nearestSeries,
  parseSmooth,
  parseXMode,
  parseZoom,
  wholeRange,
} from "./view";

describe("view state", () => {
  it("parses the x axis and smoothing", () => {
    expect(parseXMode("relative")).toBe("relative");
    expect(parseXMode("bogus")).toBe("step");
    expect(parseSmooth("0.6")).toBe(0.6);
    expect(parseSmooth("3")).toBe(0.99);
    expect(parseSmooth("x")).toBe(0);
  });

  it("round-trips zoom entries, keys with colons and commas included", () => {
    const zoom = new Map<string, [number, number]>([
      ["train/loss", [10, 200]],
      ["a:b,c%", [-5, 5.5]],
    ]);
    const text = formatZoom(zoom);
    expect(text).toBe("train/loss:10:200,a:b%2Cc%25:-5:5.5");
    expect(parseZoom(text)).toEqual(zoom);
    expect(parseZoom("bad,k:5:1,k:x:2").size).toBe(0);
    expect(parseZoom("")).toEqual(new Map());
  });

  it("rounds a range outwards to whole numbers", () => {
    expect(wholeRange([1.5, 9.2])).toEqual([1, 10]);
  });

  it("filters keys by every term", () => {
    const keys = ["train/loss", "val/loss", "train/acc", "lr"];
    expect(filterKeys(keys, "")).toEqual(keys);
    expect(filterKeys(keys, "LOSS")).toEqual(["train/loss", "val/loss"]);
    expect(filterKeys(keys, "train loss")).toEqual(["train/loss"]);
  });

  it("groups keys by prefix, ungrouped first and system last", () => {
    const sections = groupByPrefix(["system/cpu_percent", "val/acc", "train/loss", "lr", "train/acc", "epoch"]);
    expect(sections).toEqual([
      { name: "metrics", keys: ["epoch", "lr"] },
      { name: "val", keys: ["val/acc"] },
      { name: "train", keys: ["train/acc", "train/loss"] },
      { name: "system", keys: ["system/cpu_percent"] },
    ]);
  });

  it("asks for fewer buckets per run when there are many runs", () => {
    expect(compareBuckets(800, 1)).toBe(800);
    expect(compareBuckets(800, 500)).toBe(200);
    expect(compareBuckets(800, 1000)).toBe(100);
    expect(compareBuckets(800, 5000)).toBe(100);
    expect(compareBuckets(50, 1000)).toBe(50);
  });

  it("lists the nearest series sorted by value", () => {
    expect(nearestSeries([3, null, 1, 2], NaN, 5)).toEqual([0, 3, 2]);
    expect(nearestSeries([10, 1, 5, 4, 6, NaN], 5.2, 3)).toEqual([4, 2, 3]);
  });
});
