// Tests of Content-Range parsing for ranged previews.
import { describe, expect, it } from "vitest";
import { parseContentRange } from "./fetchFile";

describe("parseContentRange", () => {
  it("reads the start and the total", () => {
    expect(parseContentRange("bytes 866746-1128889/1128890")).toEqual([866746, 1128890]);
    expect(parseContentRange("bytes 0-9/*")).toEqual([0, null]);
    expect(parseContentRange(null)).toEqual([0, null]);
  });
});
