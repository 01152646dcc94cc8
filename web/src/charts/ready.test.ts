import { describe, expect, it } from "vitest";
import { ReadyTracker } from "./ready";

function tracker() {
  const state = { fired: 0, queued: [] as (() => void)[] };
  const t = new ReadyTracker(
    () => state.fired++,
    (fn) => state.queued.push(fn),
  );
  const flush = () => state.queued.splice(0).forEach((fn) => fn());
  return { t, state, flush };
}

describe("ReadyTracker", () => {
  it("fires once every chart on screen has drawn", () => {
    const { t, state, flush } = tracker();
    t.report("a", true);
    t.report("b", true);
    t.report("c", false);
    flush();
    t.drawn("a");
    t.drawn("c");
    expect(state.fired).toBe(0);
    t.drawn("b");
    expect(state.fired).toBe(1);
    t.report("d", true);
    t.drawn("d");
    t.finish();
    expect(state.fired).toBe(1);
  });

  it("fires after the first batch when no chart is on screen", () => {
    const { t, state, flush } = tracker();
    t.report("a", false);
    t.report("b", false);
    expect(state.fired).toBe(0);
    flush();
    expect(state.fired).toBe(1);
  });

  it("can be finished directly when there is nothing to draw", () => {
    const { t, state } = tracker();
    t.finish();
    t.finish();
    expect(state.fired).toBe(1);
  });
});
