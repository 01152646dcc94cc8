// Tests of the delimited-text parser used by artifact previews.
import { describe, expect, it } from "vitest";
import { delimiterFor, parseDelimited } from "./csv";

describe("parseDelimited", () => {
  it("splits plain rows", () => {
    expect(parseDelimited("a,b,c\n1,2,3\n", ",", 10)).toEqual({
      rows: [
        ["a", "b", "c"],
        ["1", "2", "3"],
      ],
      truncated: false,
    });
  });

  it("handles quotes, doubled quotes, delimiters and newlines inside quotes", () => {
    const text = 'id,comment\n1,"has, comma and ""quotes"""\n2,"two\nlines"\n';
    expect(parseDelimited(text, ",", 10).rows).toEqual([
      ["id", "comment"],
      ["1", 'has, comma and "quotes"'],
      ["2", "two\nlines"],
    ]);
  });

  it("accepts CRLF and CR line endings and a missing final newline", () => {
    expect(parseDelimited("a,b\r\n1,2\r3,4", ",", 10).rows).toEqual([
      ["a", "b"],
      ["1", "2"],
      ["3", "4"],
    ]);
  });

  it("keeps empty fields", () => {
    expect(parseDelimited(",x,\n", ",", 10).rows).toEqual([["", "x", ""]]);
  });

  it("stops at the row limit and says so", () => {
    const text = Array.from({ length: 50 }, (_, i) => `${i},v`).join("\n");
    const out = parseDelimited(text, ",", 5);
    expect(out.rows.length).toBe(5);
    expect(out.rows[4]).toEqual(["4", "v"]);
    expect(out.truncated).toBe(true);
  });

  it("drops the cut last row of an incomplete text", () => {
    const out = parseDelimited("a,b\n1,2\n3,", ",", 10, false);
    expect(out.rows).toEqual([
      ["a", "b"],
      ["1", "2"],
    ]);
    expect(out.truncated).toBe(true);
  });

  it("parses tab-separated text and skips a BOM", () => {
    expect(parseDelimited("\ufeffa\tb\n1\t2\n", "\t", 10).rows).toEqual([
      ["a", "b"],
      ["1", "2"],
    ]);
  });
});

describe("delimiterFor", () => {
  it("picks tab for .tsv and comma otherwise", () => {
    expect(delimiterFor("eval/table.TSV")).toBe("\t");
    expect(delimiterFor("eval/p.csv")).toBe(",");
  });
});
