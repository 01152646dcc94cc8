// Tests of grouping: splitting values, the display layout, and finding groups step by step.
import { describe, expect, it } from "vitest";
import type { RunRow } from "../../api/client";
import { GroupFinder, GroupLayout, groupId, splitGroups, type Group } from "./groups";

describe("splitGroups", () => {
  it("makes runs of equal values", () => {
    expect(splitGroups(["a", "a", "b", null, null], 10)).toEqual([
      { value: "a", start: 10, count: 2 },
      { value: "b", start: 12, count: 1 },
      { value: null, start: 13, count: 2 },
    ]);
    expect(splitGroups([], 0)).toEqual([]);
  });
});

describe("GroupLayout", () => {
  const groups: Group[] = [
    { value: "a", start: 0, count: 3 },
    { value: "b", start: 3, count: 2 },
  ];

  it("interleaves headers and runs, then pending rows", () => {
    const layout = new GroupLayout(groups, new Set(), 10);
    expect(layout.count).toBe(2 + 5 + 5);
    expect(layout.entry(0)).toEqual({ kind: "header", group: 0 });
    expect(layout.entry(1)).toEqual({ kind: "run", offset: 0, group: 0 });
    expect(layout.entry(3)).toEqual({ kind: "run", offset: 2, group: 0 });
    expect(layout.entry(4)).toEqual({ kind: "header", group: 1 });
    expect(layout.entry(6)).toEqual({ kind: "run", offset: 4, group: 1 });
    expect(layout.entry(7)).toEqual({ kind: "pending", offset: 5 });
  });

  it("hides the runs of collapsed groups", () => {
    const layout = new GroupLayout(groups, new Set([groupId("a")]), 5);
    expect(layout.count).toBe(4);
    expect(layout.entry(0)).toEqual({ kind: "header", group: 0 });
    expect(layout.entry(1)).toEqual({ kind: "header", group: 1 });
    expect(layout.entry(2)).toEqual({ kind: "run", offset: 3, group: 1 });
  });
});

function row(value: string | null): RunRow {
  return {
    info: { run_id: "x", run_name: "x", experiment_id: "1", user_id: "", status: "FINISHED", start_time: 0, lifecycle_stage: "active" },
    params: value === null ? {} : { model: value },
    tags: {},
    metrics: {},
  };
}

describe("GroupFinder", () => {
  // 1,000 rows: "a" × 450, "b" × 10, "c" × 530, then 10 without a value
  const values = [...Array(450).fill("a"), ...Array(10).fill("b"), ...Array(530).fill("c"), ...Array(10).fill(null)];
  const source = () => {
    const counts: Array<string | null> = [];
    const loads: Array<[number, number]> = [];
    return {
      counts,
      loads,
      total: null as number | null,
      async load(start: number, end: number) {
        loads.push([start, end]);
        this.total = values.length;
      },
      row: (i: number) => row(values[i]),
      async count(value: string | null) {
        counts.push(value);
        return values.filter((v) => v === value).length;
      },
    };
  };

  it("finds groups as far as needed", async () => {
    const s = source();
    const finder = new GroupFinder(s, (r) => r.params.model ?? null, () => {});
    await finder.extend(() => finder.groups.length === 0);
    expect(finder.groups).toEqual([{ value: "a", start: 0, count: 450 }]);
    await finder.extend(() => finder.covered < 500);
    expect(finder.groups.map((g) => [g.value, g.start, g.count])).toEqual([
      ["a", 0, 450],
      ["b", 450, 10],
      ["c", 460, 530],
    ]);
    await finder.extend(() => true);
    expect(finder.done).toBe(true);
    expect(finder.groups[3]).toEqual({ value: null, start: 990, count: 10 });
    // the last window ended at the total: no count was needed for it
    expect(s.counts).toEqual(["a", "c"]);
  });
});
