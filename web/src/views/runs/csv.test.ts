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
  it("makes formulas inert and leaves numbers alone", () => {
    expect(csvField("=HYPERLINK(\"x\")")).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField("+1+1")).toBe("'+1+1");
    expect(csvField("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvField("-cmd")).toBe("'-cmd");
    expect(csvField("\tx")).toBe("'\tx");
    expect(csvField("-0.5")).toBe("-0.5");
    expect(csvField("+3")).toBe("+3");
    expect(csvField("-Infinity")).toBe("'-Infinity");
  });
  it("builds a table with CRLF records", () => {
    expect(toCsv(["name", "metrics.loss"], [["run, 1", "0.5"], ["b", ""]])).toBe('name,metrics.loss\r\n"run, 1",0.5\r\nb,\r\n');
  });
});
