// Tests of the table's row windowing (plain and scaled spacers).
import { describe, expect, it } from "vitest";
import { rowRange, rowTop, scrollToReveal, spacerHeight, virtualTop } from "./windowing";

const plain = { total: 100_000, rowHeight: 28, viewport: 560 };

describe("rowRange", () => {
  it("is empty without rows", () => {
    expect(rowRange({ ...plain, total: 0 }, 0, 5)).toEqual({ start: 0, end: 0, firstVisible: 0, endVisible: 0 });
  });

  it("covers the viewport plus overscan", () => {
    const r = rowRange(plain, 28 * 100 + 10, 5);
    expect(r.firstVisible).toBe(100);
    expect(r.endVisible).toBe(121); // 560 px = 20 rows, the first one partly hidden
    expect(r.start).toBe(95);
    expect(r.end).toBe(126);
  });

  it("clamps at both ends", () => {
    expect(rowRange(plain, 0, 10).start).toBe(0);
    const last = rowRange(plain, 1e12, 10);
    expect(last.end).toBe(100_000);
    expect(last.endVisible).toBe(100_000);
  });

  it("fits a table shorter than its viewport", () => {
    expect(rowRange({ total: 3, rowHeight: 28, viewport: 560 }, 0, 5)).toEqual({
      start: 0,
      end: 3,
      firstVisible: 0,
      endVisible: 3,
    });
  });
});

describe("scaled spacer", () => {
  const huge = { total: 10_000_000, rowHeight: 28, viewport: 500, maxSpacer: 1_000_000 };

  it("caps the spacer", () => {
    expect(spacerHeight(plain)).toBe(2_800_000);
    expect(spacerHeight(huge)).toBe(1_000_000);
  });

  it("maps the end of the scroll range to the last rows", () => {
    const bottom = 1_000_000 - 500;
    expect(virtualTop(huge, bottom)).toBe(10_000_000 * 28 - 500);
    const r = rowRange(huge, bottom, 0);
    expect(r.endVisible).toBe(10_000_000);
    // the last row's bottom is the viewport's bottom
    expect(rowTop(huge, bottom, 9_999_999) + 28).toBeCloseTo(bottom + 500, 6);
  });

  it("places the first visible row at the viewport top", () => {
    const scrollTop = 123_456;
    const r = rowRange(huge, scrollTop, 0);
    const top = rowTop(huge, scrollTop, r.firstVisible);
    expect(top).toBeLessThanOrEqual(scrollTop);
    expect(top + 28).toBeGreaterThan(scrollTop);
  });

  it("reveals a far row", () => {
    const s = scrollToReveal(huge, 0, 5_000_000);
    const r = rowRange(huge, s, 0);
    expect(r.firstVisible).toBeLessThanOrEqual(5_000_000);
    expect(r.endVisible).toBeGreaterThan(5_000_000);
  });
});

describe("scrollToReveal", () => {
  it("keeps a visible row where it is", () => {
    expect(scrollToReveal(plain, 280, 12)).toBe(280);
  });
  it("scrolls up to a row above", () => {
    expect(scrollToReveal(plain, 2800, 50)).toBe(1400);
  });
  it("scrolls down just enough for a row below", () => {
    expect(scrollToReveal(plain, 0, 20)).toBe(21 * 28 - 560);
  });
});
