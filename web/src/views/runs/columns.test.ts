// Tests of the runs table's column model.
import { describe, expect, it } from "vitest";
import type { RunRow } from "../../api/client";
import {
  cellText,
  columnId,
  defaultColumns,
  exportHeader,
  keysOfRows,
  nextSort,
  orderClause,
  readColumns,
  readSort,
  summaryKeys,
  writeColumns,
  writeSort,
  type Column,
} from "./columns";

const keys = {
  metrics: ["a", "b", "c", "d", "e", "f", "g"],
  params: ["lr", "model"],
  tags: ["team"],
};

const m = (key: string, agg: Column["agg"] = "last"): Column => ({ kind: "metrics", key, agg });

const row: RunRow = {
  info: {
    run_id: "abc",
    run_name: "run, one",
    experiment_id: "1",
    user_id: "alice",
    status: "RUNNING",
    start_time: 1_000,
    lifecycle_stage: "active",
  },
  params: { lr: "0.1" },
  tags: { team: "vision" },
  metrics: { loss: 0.123456789, bad: "NaN" },
  summaries: {
    loss: { key: "loss", count: 3, nan_count: 0, min: 0.1, max: 2, mean: 1, last: 0.12, last_step: 2, last_timestamp: 5 },
  },
};

describe("columns", () => {
  it("round-trips ids and URL lists", () => {
    const cols: Column[] = [
      { kind: "attributes", key: "run_name", agg: "last" },
      m("loss", "min"),
      m("a@b"),
      { kind: "params", key: "x,y%z", agg: "last" },
    ];
    expect(columnId(cols[1])).toBe("metrics.loss@min");
    expect(readColumns(writeColumns(cols))).toEqual(cols);
    expect(readColumns("bogus,attributes.nope,metrics.loss,metrics.loss")).toEqual([m("loss")]);
  });

  it("defaults to attributes, six metrics and the params", () => {
    const ids = defaultColumns(keys).map(columnId);
    expect(ids).toEqual([
      "attributes.run_name",
      "attributes.status",
      "attributes.start_time",
      "attributes.duration",
      "metrics.a",
      "metrics.b",
      "metrics.c",
      "metrics.d",
      "metrics.e",
      "metrics.f",
      "params.lr",
      "params.model",
    ]);
    expect(defaultColumns(null).length).toBe(4);
  });

  it("asks for summaries of min/max columns only", () => {
    expect(summaryKeys([m("loss"), m("loss", "max"), m("acc", "min"), m("loss", "min")])).toEqual(["acc", "loss"]);
  });

  it("sorts: clauses, URL form and the click cycle", () => {
    expect(orderClause(m("grad norm"), true)).toBe("metrics.`grad norm` ASC");
    expect(orderClause({ kind: "attributes", key: "start_time", agg: "last" }, false)).toBe("attributes.start_time DESC");
    const sort = { column: m("loss"), ascending: true };
    expect(readSort(writeSort(sort))).toEqual(sort);
    expect(readSort("metrics.loss@min:asc")).toBeNull();
    expect(readSort("attributes.duration:asc")).toBeNull();
    expect(readSort("garbage")).toBeNull();
    const first = nextSort(null, m("loss"));
    expect(first).toEqual({ column: m("loss"), ascending: true });
    const second = nextSort(first, m("loss"));
    expect(second).toEqual({ column: m("loss"), ascending: false });
    expect(nextSort(second, m("loss"))).toBeNull();
    expect(nextSort(second, m("acc"))).toEqual({ column: m("acc"), ascending: true });
  });

  it("renders cells for the table and for export", () => {
    const now = 61_000;
    expect(cellText(row, m("loss"), now)).toBe("0.123457");
    expect(cellText(row, m("loss"), now, true)).toBe("0.123456789");
    expect(cellText(row, m("loss", "max"), now)).toBe("2");
    expect(cellText(row, m("bad"), now)).toBe("NaN");
    expect(cellText(row, m("missing"), now)).toBe("");
    expect(cellText(row, { kind: "attributes", key: "duration", agg: "last" }, now)).toBe("1 min 0 s");
    expect(cellText(row, { kind: "attributes", key: "duration", agg: "last" }, now, true)).toBe("60");
    expect(cellText(row, { kind: "attributes", key: "start_time", agg: "last" }, now, true)).toBe("1970-01-01T00:00:01.000Z");
    expect(cellText(row, { kind: "tags", key: "team", agg: "last" }, now)).toBe("vision");
    expect(exportHeader(m("loss", "min"))).toBe("metrics.loss (min)");
    expect(exportHeader({ kind: "attributes", key: "duration", agg: "last" })).toBe("duration_s");
  });
});

describe("keysOfRows", () => {
  it("unions and sorts the keys of rows", () => {
    const other: RunRow = { ...row, params: { z: "1", lr: "2" }, metrics: {}, tags: { a: "x" } };
    expect(keysOfRows([row, other])).toEqual({ params: ["lr", "z"], metrics: ["bad", "loss"], tags: ["a", "team"] });
    expect(keysOfRows([])).toEqual({ params: [], metrics: [], tags: [] });
  });
});
