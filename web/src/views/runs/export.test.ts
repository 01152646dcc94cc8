// Tests of the CSV export's paging and columns (against a fake search).
import { describe, expect, it } from "vitest";
import type { RunRow, RunSearchRequest } from "../../api/client";
import type { Column } from "./columns";
import { EXPORT_CAP, exportColumns, exportCsv } from "./export";

const row = (i: number): RunRow => ({
  info: { run_id: `r${i}`, run_name: `run ${i}`, experiment_id: "1", user_id: "u", status: "FINISHED", start_time: 0, end_time: 2000, lifecycle_stage: "active" },
  params: { lr: i % 2 ? "0.1" : "a,b" },
  tags: {},
  metrics: { loss: i / 10 },
});

const columns: Column[] = [
  { kind: "attributes", key: "run_name", agg: "last" },
  { kind: "attributes", key: "duration", agg: "last" },
  { kind: "metrics", key: "loss", agg: "last" },
  { kind: "params", key: "lr", agg: "last" },
];

function fakeSearch(total: number) {
  const calls: RunSearchRequest[] = [];
  const search = async (body: RunSearchRequest) => {
    calls.push(body);
    const offset = body.offset ?? 0;
    const runs: RunRow[] = [];
    for (let i = offset; i < Math.min(total, offset + (body.limit ?? 100)); i++) runs.push(row(i));
    return { total, offset, runs };
  };
  return { search, calls };
}

describe("exportCsv", () => {
  it("puts the run id first unless shown", () => {
    expect(exportColumns(columns)[0]).toEqual({ kind: "attributes", key: "run_id", agg: "last" });
    const withId: Column[] = [{ kind: "attributes", key: "run_id", agg: "last" }];
    expect(exportColumns(withId)).toBe(withId);
  });

  it("pages through every run, 1,000 at a time", async () => {
    const { search, calls } = fakeSearch(2500);
    const progress: number[] = [];
    const result = await exportCsv({ experiment_ids: ["1"], view: "active_only" }, columns, search, new AbortController().signal, (done) =>
      progress.push(done),
    );
    expect(calls.map((c) => [c.offset, c.limit])).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
    ]);
    expect(progress).toEqual([1000, 2000, 2500]);
    expect(result.rows).toBe(2500);
    expect(result.capped).toBe(false);
    const lines = result.csv.split("\r\n");
    expect(lines[0]).toBe("run_id,run_name,duration_s,metrics.loss,params.lr");
    expect(lines[1]).toBe('r0,run 0,2,0,"a,b"');
    expect(lines[2]).toBe("r1,run 1,2,0.1,0.1");
  });

  it("stops at the cap", async () => {
    const { search, calls } = fakeSearch(EXPORT_CAP + 5);
    const result = await exportCsv({ experiment_ids: ["1"], view: "active_only" }, columns.slice(0, 1), search, new AbortController().signal, () => {});
    expect(result.rows).toBe(EXPORT_CAP);
    expect(result.capped).toBe(true);
    expect(calls.length).toBe(EXPORT_CAP / 1000);
  });
});
