import { describe, expect, it } from "vitest";
import { preload, take } from "./preload";

describe("preload", () => {
  it("hands a preloaded promise out once", async () => {
    let calls = 0;
    preload("k", async () => ++calls);
    expect(calls).toBe(1);
    await expect(take<number>("k")).resolves.toBe(1);
    expect(take("k")).toBeUndefined();
  });

  it("drops a stale answer and knows no other keys", () => {
    preload("old", async () => 1);
    expect(take("other")).toBeUndefined();
    expect(take("old", Date.now() + 60_000)).toBeUndefined();
    expect(take("old")).toBeUndefined();
  });

  it("keeps a failure for the taker", async () => {
    preload("bad", () => Promise.reject(new Error("boom")));
    await expect(take("bad")).rejects.toThrow("boom");
  });
});
