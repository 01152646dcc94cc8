// Tests of the compare view's statistics helpers.
import { describe as group, expect, it } from "vitest";
import { describe, formatP, groupChoices, lowerIsBetter } from "./stats";

group("describe", () => {
  it("gives n, mean, sample std, min, max and median of finite values", () => {
    const d = describe([4, null, 1, 3, 2, NaN])!;
    expect(d).toMatchObject({ n: 4, mean: 2.5, min: 1, max: 4, median: 2.5 });
    expect(d.std).toBeCloseTo(1.2909944);
    expect(describe([5])).toMatchObject({ n: 1, median: 5 });
    expect(describe([5])!.std).toBeNaN();
    expect(describe([null])).toBeNull();
  });
});

group("formatP", () => {
  it("shows small p-values as a bound", () => {
    expect(formatP(0.00001)).toBe("< 0.001");
    expect(formatP(0.04567)).toBe("0.046");
    expect(formatP(null)).toBe("—");
  });
});

group("groupChoices", () => {
  it("offers differing params and tags that tell runs apart", () => {
    const tags: Record<string, string>[] = [
      { team: "a", sweep: "s1", "mlflow.runName": "x", "mlflow.user": "u1", only: "1" },
      { team: "b", sweep: "s1", "mlflow.runName": "y", "mlflow.user": "u1" },
    ];
    expect(groupChoices(["lr"], tags)).toEqual(["params.lr", "tags.only", "tags.team"]);
  });
});

group("lowerIsBetter", () => {
  it("guesses the direction from the name", () => {
    expect(lowerIsBetter("val/loss")).toBe(true);
    expect(lowerIsBetter("test_rmse")).toBe(true);
    expect(lowerIsBetter("train/acc")).toBe(false);
    expect(lowerIsBetter("f1")).toBe(false);
  });
});
