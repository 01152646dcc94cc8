import { describe, expect, it } from "vitest";
import { createLimiter } from "./limit";

function deferred() {
  let resolve!: (v: number) => void;
  const promise = new Promise<number>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("createLimiter", () => {
  it("runs at most n tasks at once, in order", async () => {
    const limit = createLimiter(2);
    const started: number[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((g, i) =>
      limit(() => {
        started.push(i);
        return g.promise;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    gates[1].resolve(11);
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0].resolve(10);
    gates[2].resolve(12);
    expect(await Promise.all(results)).toEqual([10, 11, 12]);
  });

  it("drops tasks aborted while waiting and frees the slot on failure", async () => {
    const limit = createLimiter(1);
    const gate = deferred();
    const first = limit(() => gate.promise.then(() => Promise.reject(new Error("boom"))));
    const controller = new AbortController();
    let ran = false;
    const second = limit(async () => {
      ran = true;
      return 2;
    }, controller.signal);
    const third = limit(async () => 3);
    controller.abort();
    gate.resolve(0);
    await expect(first).rejects.toThrow("boom");
    await expect(second).rejects.toBeTruthy();
    expect(await third).toBe(3);
    expect(ran).toBe(false);
  });
});
