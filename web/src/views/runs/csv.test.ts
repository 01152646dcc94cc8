// Tests of the CSV builder's quoting.
import { describe, expect, it } from "vitest";
import { csvField, toCsv } from "./csv";

describe("csv", () => {
  it("leaves plain fields alone", () => {
    expect(csvField("abc")).toBe("abc");
    expect(csvField("")).toBe("");
    expect(csvField("-1.5e-3")).toBe("-1.5e-3");
  });
  it("quotes what needs it", () => {
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField("cr\r")).toBe('"cr\r"');
    expect(csvField(" padded")).toBe('" padded"');
  });
  it("builds a table with CRLF records", () => {
    expect(toCsv(["name", "metrics.loss"], [["run, 1", "0.5"], ["b", ""]])).toBe('name,metrics.loss\r\n"run, 1",0.5\r\nb,\r\n');
  });
});
