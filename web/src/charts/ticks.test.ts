import { describe, expect, it } from "vitest";
import { formatDurationTick, formatLogTick, formatStepTicks, formatValueTick, formatX } from "./ticks";

describe("ticks", () => {
  it("writes step ticks in one unit per axis", () => {
    expect(formatStepTicks([0, 250, 500, 750], 250)).toEqual(["0", "250", "500", "750"]);
    expect(formatStepTicks([2000, 4000, 8000, 10000], 2000)).toEqual(["2k", "4k", "8k", "10k"]);
    expect(formatStepTicks([382000, 382500, 383000], 500)).toEqual(["382k", "382.5k", "383k"]);
    expect(formatStepTicks([1e7, 1.5e7, null], 5e6)).toEqual(["10M", "15M", ""]);
    expect(formatStepTicks([20000, 20001], 1)).toEqual(["20k", "20.001k"]);
  });

  it("gives values the precision of the tick spacing", () => {
    expect(formatValueTick(0.5, 0.1)).toBe("0.5");
    expect(formatValueTick(0.25, 0.05)).toBe("0.25");
    expect(formatValueTick(20, 10)).toBe("20");
    expect(formatValueTick(1.2, 0.2)).toBe("1.2");
    expect(formatValueTick(0.00002, 0.00001)).toBe("2e-5");
    expect(formatValueTick(3_000_000, 1_000_000)).toBe("3e+6");
    expect(formatValueTick(0, 1)).toBe("0");
  });

  it("writes log ticks short", () => {
    expect(formatLogTick(0.01)).toBe("0.01");
    expect(formatLogTick(1000)).toBe("1000");
    expect(formatLogTick(1e-5)).toBe("1e-5");
    expect(formatLogTick(2e-7)).toBe("2e-7");
    expect(formatLogTick(5e6)).toBe("5e6");
  });

  it("writes durations on round increments", () => {
    expect(formatDurationTick(0, 1000)).toBe("0");
    expect(formatDurationTick(500, 100)).toBe("500ms");
    expect(formatDurationTick(1500, 500)).toBe("1.5s");
    expect(formatDurationTick(30_000, 15_000)).toBe("30s");
    expect(formatDurationTick(90_000, 30_000)).toBe("1m30s");
    expect(formatDurationTick(120_000, 60_000)).toBe("2m");
    expect(formatDurationTick(5_400_000, 1_800_000)).toBe("1h30m");
    expect(formatDurationTick(2 * 86_400_000 + 3_600_000, 3_600_000)).toBe("2d1h");
    expect(formatDurationTick(-60_000, 60_000)).toBe("-1m");
  });

  it("heads tooltips by axis", () => {
    expect(formatX("step", 1200)).toBe("step 1200");
    expect(formatX("step", 2991.5)).toBe("step 2992");
    expect(formatX("relative", 90_000)).toBe("1 min 30 s");
  });
});
