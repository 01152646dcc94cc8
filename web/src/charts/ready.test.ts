import { describe, expect, it } from "vitest";
import { ReadyTracker } from "./ready";

describe("ReadyTracker", () => {
  it("fires once every chart on screen has drawn", () => {
    let fired = 0;
    const t = new ReadyTracker(() => fired++);
    t.visible("a");
    t.visible("b");
    t.drawn("a");
    expect(fired).toBe(0);
    t.drawn("c");
    expect(fired).toBe(0);
    t.drawn("b");
    expect(fired).toBe(1);
    t.visible("d");
    t.drawn("d");
    t.finish();
    expect(fired).toBe(1);
  });

  it("can be finished directly when there is nothing to draw", () => {
    let fired = 0;
    const t = new ReadyTracker(() => fired++);
    t.finish();
    t.finish();
    expect(fired).toBe(1);
  });
});
