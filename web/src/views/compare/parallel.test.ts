// Tests of the parallel-coordinates data: columns, brushes and colours.
import { describe, expect, it } from "vitest";
import { brushMask, brushOf, buildColumn, formatBrushes, parseBrushes, posOfY, viridis, yOf } from "./parallel";

describe("buildColumn", () => {
  it("places numeric and categorical values, NaN where missing", () => {
    const num = buildColumn("lr", "lr", ["0", "5", "10", null]);
    expect(Array.from(num.pos.slice(0, 3))).toEqual([0, 0.5, 1]);
    expect(num.pos[3]).toBeNaN();
    const cat = buildColumn("opt", "opt", ["sgd", "adam", "sgd"]);
    expect(Array.from(cat.pos)).toEqual([0.75, 0.25, 0.75]);
  });
});

describe("brushes", () => {
  const lr = buildColumn("lr", "lr", [0, 5, 10, null]);
  const opt = buildColumn("opt", "opt", ["a", "b", "a", "b"]);

  it("round-trip through the URL parameter, skipping what is malformed", () => {
    const brushes = new Map([
      ["params.lr", brushOf(0.1234567, 0.5)],
      ["metrics.val/loss:x;y", brushOf(0, 0.25)],
    ]);
    const param = formatBrushes(brushes);
    expect(param).toBe("params.lr:0.1235:0.5;metrics.val%2Floss%3Ax%3By:0:0.25");
    expect([...parseBrushes(param)]).toEqual([
      ["params.lr", [0.1235, 0.5]],
      ["metrics.val/loss:x;y", [0, 0.25]],
    ]);
    expect(formatBrushes(new Map())).toBe("");
    expect([...parseBrushes("")]).toEqual([]);
    expect([...parseBrushes("a:0.9:0.1;b:x:1;c:1;:0:1;%E0%A4%A:0:1;d::1;e:-2:3")]).toEqual([
      ["a", [0.1, 0.9]],
      ["e", [0, 1]],
    ]);
  });

  it("normalise a drag either way and clamp it", () => {
    expect(brushOf(0.8, 0.2)).toEqual([0.2, 0.8]);
    expect(brushOf(-1, 2)).toEqual([0, 1]);
  });

  it("keep the runs inside every brush", () => {
    expect(Array.from(brushMask([lr, opt], new Map(), 4))).toEqual([1, 1, 1, 1]);
    expect(Array.from(brushMask([lr, opt], new Map([["lr", [0.4, 1] as [number, number]]]), 4))).toEqual([0, 1, 1, 0]);
    const both = new Map([
      ["lr", [0.4, 1] as [number, number]],
      ["opt", [0, 0.5] as [number, number]],
    ]);
    expect(Array.from(brushMask([lr, opt], both, 4))).toEqual([0, 0, 1, 0]);
  });

  it("ignore brushes of axes not shown", () => {
    expect(Array.from(brushMask([lr], new Map([["gone", [0, 0.1] as [number, number]]]), 4))).toEqual([1, 1, 1, 1]);
  });
});

describe("geometry and colours", () => {
  it("maps positions to pixels and back", () => {
    expect(yOf(1, 10, 110)).toBe(10);
    expect(yOf(0, 10, 110)).toBe(110);
    expect(posOfY(60, 10, 110)).toBe(0.5);
    expect(posOfY(0, 10, 110)).toBe(1);
  });

  it("runs the colour map from purple to yellow", () => {
    expect(viridis(0)).toBe("rgb(68, 1, 84)");
    expect(viridis(1)).toBe("rgb(253, 231, 37)");
    expect(viridis(NaN)).toBe("rgb(68, 1, 84)");
    expect(viridis(0.5, 0.5)).toBe("rgba(33, 144, 141, 0.5)");
  });
});
