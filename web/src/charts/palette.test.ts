import { describe, expect, it } from "vitest";
import { seriesColor } from "./palette";

describe("palette", () => {
  it("is deterministic and distinct for many series", () => {
    const colors = Array.from({ length: 1000 }, (_, i) => seriesColor(i, false));
    expect(seriesColor(3, false)).toBe(colors[3]);
    expect(new Set(colors).size).toBe(1000);
  });

  it("lightens on the dark theme and takes an alpha", () => {
    expect(seriesColor(0, false)).toBe("hsl(211.0 72% 47%)");
    expect(seriesColor(0, true)).toBe("hsl(211.0 72% 63%)");
    expect(seriesColor(0, false, 0.25)).toBe("hsl(211.0 72% 47% / 0.25)");
  });
});
