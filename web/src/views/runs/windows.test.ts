// Tests of the runs table's window cache against a fake search.
import { describe, expect, it } from "vitest";
import type { RunRow, RunSearchRequest, RunSearchResponse } from "../../api/client";
import { BLOCK, RunWindows, type Query } from "./windows";

const Q: Query = { experiment_ids: ["1"], view: "active_only" };

function fakeRow(i: number): RunRow {
  return {
    info: { run_id: `r${i}`, run_name: `run-${i}`, experiment_id: "1", user_id: "u", status: "FINISHED", start_time: i, lifecycle_stage: "active" },
    params: {},
    tags: {},
    metrics: {},
  };
}

/** A search over `total` rows that answers when told to; records every request. */
function fakeSearch(total: number) {
  const calls: Array<{ body: RunSearchRequest; signal: AbortSignal; resolve: () => void }> = [];
  const search = (body: RunSearchRequest, signal: AbortSignal) =>
    new Promise<RunSearchResponse>((ok, fail) => {
      const offset = body.offset ?? 0;
      const limit = body.limit ?? 100;
      const runs: RunRow[] = [];
      for (let i = offset; i < Math.min(total, offset + limit); i++) runs.push(fakeRow(i));
      signal.addEventListener("abort", () => fail(new DOMException("aborted", "AbortError")));
      calls.push({ body, signal, resolve: () => ok({ total, offset, runs }) });
    });
  return { search, calls };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("RunWindows", () => {
  it("fetches the blocks in view in one request and serves their rows", async () => {
    const { search, calls } = fakeSearch(1000);
    let changes = 0;
    const w = new RunWindows(Q, search, () => changes++);
    w.ensure(150, 260);
    expect(calls.map((c) => [c.body.offset, c.body.limit])).toEqual([[150, 150]]);
    expect(w.row(150)).toBeUndefined();
    calls[0].resolve();
    await flush();
    expect(w.total).toBe(1000);
    expect(w.row(150)?.info.run_id).toBe("r150");
    expect(w.row(299)?.info.run_id).toBe("r299");
    expect(changes).toBe(1);
    // already cached or in flight: no new request
    w.ensure(160, 290);
    expect(calls.length).toBe(1);
  });

  it("aborts requests for blocks scrolled far away", async () => {
    const { search, calls } = fakeSearch(100_000);
    const w = new RunWindows(Q, search, () => {});
    w.ensure(0, 50);
    w.ensure(50_000, 50_040);
    expect(calls[0].signal.aborted).toBe(true);
    expect(calls[1].body.offset).toBe(50_000);
    calls[0].resolve();
    calls[1].resolve();
    await flush();
    expect(w.row(0)).toBeUndefined();
    expect(w.row(50_000)?.info.run_id).toBe("r50000");
  });

  it("splits long ranges into requests of at most 1,000 rows", () => {
    const { search, calls } = fakeSearch(100_000);
    const w = new RunWindows(Q, search, () => {});
    w.ensure(0, 2500);
    expect(calls.map((c) => [c.body.offset, c.body.limit])).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 10 * BLOCK],
    ]);
  });

  it("keeps a bounded number of blocks", async () => {
    const { search, calls } = fakeSearch(100_000);
    const w = new RunWindows(Q, search, () => {}, 3);
    for (const start of [0, 1000, 2000, 3000, 4000]) {
      w.ensure(start, start + 10);
      calls[calls.length - 1].resolve();
      await flush();
    }
    expect(w.row(4000)).toBeDefined();
    expect(w.row(0)).toBeUndefined();
  });

  it("loads ranges off screen and reports errors", async () => {
    const { search, calls } = fakeSearch(5000);
    const w = new RunWindows(Q, search, () => {});
    w.ensure(0, 10);
    const loading = w.load(3000, 3300);
    w.ensure(0, 20); // does not abort the pinned load
    for (const c of calls) c.resolve();
    await loading;
    expect(w.row(3299)?.info.run_id).toBe("r3299");

    const failing = new RunWindows(Q, () => Promise.reject(new Error("bad filter")), () => {});
    failing.ensure(0, 10);
    await flush();
    expect((failing.error as Error).message).toBe("bad filter");
    expect(failing.answered).toBe(true);
  });

  it("refreshes the blocks in view and drops the rest", async () => {
    const { search, calls } = fakeSearch(1000);
    const w = new RunWindows(Q, search, () => {});
    w.ensure(500, 520);
    calls[0].resolve();
    await flush();
    w.ensure(0, 20);
    calls[1].resolve();
    await flush();
    const refreshing = w.refresh();
    expect(w.row(0)).toBeDefined(); // still shown while refetching
    expect(w.row(500)).toBeUndefined();
    expect(calls[2].body.offset).toBe(0);
    calls[2].resolve();
    await refreshing;
    expect(w.row(5)?.info.run_id).toBe("r5");
  });
});
