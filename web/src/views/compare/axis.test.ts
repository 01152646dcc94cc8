// Tests of the compare plots' axes.
import { describe, expect, it } from "vitest";
import { asNumber, axisTicks, buildAxis, logTicks, niceTicks, position, valueAt } from "./axis";

describe("buildAxis", () => {
  it("is numeric when every present value is a number", () => {
    expect(buildAxis(["1", "3", null, 2])).toEqual({ kind: "numeric", min: 1, max: 3, log: false });
  });

  it("takes a log scale for positive values spanning decades", () => {
    expect(buildAxis(["0.0001", "0.01", "0.1"])).toEqual({ kind: "numeric", min: 0.0001, max: 0.1, log: true });
    expect(buildAxis(["0.0001", "0.1"], false)).toMatchObject({ log: false });
    expect(buildAxis(["-1", "1000"], true)).toMatchObject({ log: false });
  });

  it("is categorical otherwise, in natural order", () => {
    expect(buildAxis(["sgd", "adam", null, "adam", "10", "9"])).toEqual({
      kind: "categorical",
      categories: ["9", "10", "adam", "sgd"],
    });
    expect(buildAxis([null, null])).toEqual({ kind: "categorical", categories: [] });
  });
});

describe("position", () => {
  it("maps numbers linearly or logarithmically", () => {
    const lin = buildAxis([0, 10]);
    expect(position(lin, 5)).toBe(0.5);
    expect(position(lin, "x")).toBeNull();
    expect(position(lin, null)).toBeNull();
    const log = buildAxis([0.001, 1]);
    expect(position(log, Math.sqrt(0.001))).toBeCloseTo(0.5);
    expect(valueAt(log as never, 0.5)).toBeCloseTo(0.0316227766);
    expect(valueAt(lin as never, 0.25)).toBe(2.5);
  });

  it("centres a flat axis and places categories in slots", () => {
    expect(position(buildAxis([3, 3]), 3)).toBe(0.5);
    const cat = buildAxis(["a", "b"]);
    expect(position(cat, "a")).toBe(0.25);
    expect(position(cat, "b")).toBe(0.75);
    expect(position(cat, "z")).toBeNull();
  });
});

describe("ticks", () => {
  it("are round numbers", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.47, 4)).toEqual([0.2, 0.3, 0.4]);
    expect(niceTicks(5, 5)).toEqual([5]);
  });

  it("are powers of ten on log axes", () => {
    expect(logTicks(0.0001, 0.1)).toEqual([0.0001, 0.001, 0.01, 0.1]);
    expect(logTicks(1, 30)).toEqual([1, 2, 5, 10, 20]);
  });

  it("label categories, thinned when many", () => {
    expect(axisTicks(buildAxis(["a", "b"]))).toEqual([
      { pos: 0.25, label: "a" },
      { pos: 0.75, label: "b" },
    ]);
    const many = buildAxis(Array.from({ length: 30 }, (_, i) => `c${i}`));
    expect(axisTicks(many, 5, 10).length).toBe(10);
  });

  it("label the ends when no round value falls inside", () => {
    expect(axisTicks(buildAxis([0.2, 0.3]), 1)).toEqual([
      { pos: 0, label: "0.2" },
      { pos: 1, label: "0.3" },
    ]);
  });
});

describe("asNumber", () => {
  it("accepts finite numbers only", () => {
    expect(asNumber("1e-3")).toBe(0.001);
    expect(asNumber("")).toBeNull();
    expect(asNumber("NaN")).toBeNull();
    expect(asNumber(Infinity)).toBeNull();
  });
});
