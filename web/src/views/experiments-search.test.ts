// Tests of the experiments list's helpers.
import { describe, expect, it } from "vitest";
import { nameFilter, parseTag, relativeTime, visibleTags } from "./experiments-search";

describe("nameFilter", () => {
  it("is empty for blank text", () => {
    expect(nameFilter("  ")).toBe("");
  });
  it("makes a case-insensitive contains filter", () => {
    expect(nameFilter(" vision ")).toBe("name ILIKE '%vision%'");
  });
  it("escapes quotes and backslashes and tames wildcards", () => {
    expect(nameFilter("nlp baseline's")).toBe("name ILIKE '%nlp baseline''s%'");
    expect(nameFilter("a\\b")).toBe("name ILIKE '%a\\\\b%'");
    expect(nameFilter("50%_x")).toBe("name ILIKE '%50__x%'");
  });
});

describe("relativeTime", () => {
  const now = Date.UTC(2026, 0, 31, 12);
  it("counts back", () => {
    expect(relativeTime(now - 10_000, now)).toBe("just now");
    expect(relativeTime(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(relativeTime(now - 3 * 3600_000, now)).toBe("3 h ago");
    expect(relativeTime(now - 2 * 86400_000, now)).toBe("2 d ago");
  });
  it("gives the date past a month", () => {
    expect(relativeTime(Date.UTC(2025, 5, 1, 12), now)).toMatch(/^2025-06-0[12]$/);
  });
});

describe("tags", () => {
  it("parses key=value", () => {
    expect(parseTag(" team = vision ")).toEqual({ key: "team", value: "vision" });
    expect(parseTag("flag")).toEqual({ key: "flag", value: "" });
    expect(parseTag("a=b=c")).toEqual({ key: "a", value: "b=c" });
    expect(parseTag(" =x")).toBeNull();
  });
  it("hides system tags", () => {
    expect(visibleTags([{ key: "mlflow.note.content" }, { key: "team" }])).toEqual([{ key: "team" }]);
  });
});
