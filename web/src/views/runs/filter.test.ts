// Tests of the filter language helpers: quoting, tokenizing half-typed text, completions.
import { describe, expect, it } from "vitest";
import { andFilter, applyCompletion, complete, filterKey, identParts, quoteString, tokenize } from "./filter";

const keys = {
  metrics: ["accuracy", "loss", "val/loss", "grad norm"],
  params: ["lr", "model", "optimizer"],
  tags: ["team", "mlflow.runName"],
};

const labels = (text: string, caret = text.length, explicit = false) =>
  complete(text, caret, keys, (kind, key) => (kind === "params" && key === "model" ? ["cnn", "resnet", "o'brien"] : []), explicit).items.map(
    (i) => i.label,
  );

describe("quoting", () => {
  it("leaves bare keys alone and backticks the rest", () => {
    expect(filterKey("metrics", "val/loss")).toBe("metrics.val/loss");
    expect(filterKey("metrics", "grad norm")).toBe("metrics.`grad norm`");
    expect(filterKey("tags", "a`b c")).toBe("tags.`a``b c`");
  });
  it("quotes strings", () => {
    expect(quoteString("o'brien")).toBe("'o''brien'");
    expect(quoteString("C:\\data")).toBe("'C:\\\\data'");
  });
  it("joins conditions with AND", () => {
    expect(andFilter("", "params.a = '1'")).toBe("params.a = '1'");
    expect(andFilter(" metrics.x > 1 ", "params.a = '1'")).toBe("metrics.x > 1 AND params.a = '1'");
    expect(andFilter("metrics.x > 1", "")).toBe("metrics.x > 1");
  });
});

describe("tokenize", () => {
  it("reads a full filter", () => {
    const tokens = tokenize("metrics.loss < 0.5 and params.model = 'cnn'");
    expect(tokens.map((t) => [t.type, t.text])).toEqual([
      ["ident", "metrics.loss"],
      ["op", "<"],
      ["number", "0.5"],
      ["word", "and"],
      ["ident", "params.model"],
      ["op", "="],
      ["string", "'cnn'"],
    ]);
  });
  it("reads quoted keys and unfinished strings", () => {
    const tokens = tokenize("metrics.`grad norm` >= -1e-3 AND tags.team LIKE 'vis");
    expect(tokens.map((t) => t.text)).toEqual(["metrics.`grad norm`", ">=", "-1e-3", "AND", "tags.team", "LIKE", "'vis"]);
    expect(tokens[6].open).toBe(true);
  });
  it("reads IN lists and IS NOT NULL", () => {
    const types = tokenize("params.lr IN ('0.1', '0.01') and tags.x IS NOT NULL").map((t) => t.type);
    expect(types).toEqual(["ident", "word", "paren", "string", "comma", "string", "paren", "word", "ident", "word", "word", "word"]);
  });
  it("splits entity and key", () => {
    expect(identParts("metrics.`grad norm`")).toEqual({ entity: "metrics", key: "grad norm" });
    expect(identParts("param.lr")).toEqual({ entity: "params", key: "lr" });
    expect(identParts("status")).toEqual({ entity: "attributes", key: "status" });
    expect(identParts("foo.bar").entity).toBeNull();
  });
});

describe("complete", () => {
  it("offers entity prefixes on an empty box", () => {
    expect(labels("")).toEqual(["metrics.", "params.", "tags.", "attributes."]);
  });
  it("completes keys of an entity, prefix matches first", () => {
    expect(labels("metrics.lo")).toEqual(["metrics.loss", "metrics.val/loss"]);
    expect(labels("metrics.gr")).toEqual(["metrics.`grad norm`"]);
    expect(labels("metrics.`grad n")).toEqual(["metrics.`grad norm`"]);
  });
  it("finds keys of any kind from a bare word", () => {
    expect(labels("mod")).toEqual(["params.model"]);
    expect(labels("sta")).toEqual(["attributes.status", "attributes.start_time"]);
  });
  it("offers comparators by type", () => {
    expect(labels("metrics.loss ")).toEqual(["=", "!=", "<", "<=", ">", ">="]);
    expect(labels("params.lr ")).toContain("LIKE");
    expect(labels("params.lr ")).toContain("IS NULL");
    expect(labels("params.lr I")).toEqual(["ILIKE", "IN", "IS NULL", "IS NOT NULL"]);
    expect(labels("attributes.start_time ")).not.toContain("LIKE");
  });
  it("offers values it knows", () => {
    expect(labels("attributes.status = ")).toEqual(["'RUNNING'", "'FINISHED'", "'FAILED'", "'KILLED'", "'SCHEDULED'"]);
    expect(labels("status = 'F")).toEqual(["'FINISHED'", "'FAILED'"]);
    expect(labels("params.model = 'o")).toEqual(["'o''brien'"]);
    expect(labels("metrics.loss < ")).toEqual([]);
  });
  it("offers AND only when asked or typed", () => {
    expect(labels("metrics.loss < 0.5 ")).toEqual([]);
    expect(labels("metrics.loss < 0.5 ", undefined, true)).toEqual(["AND"]);
    expect(labels("metrics.loss < 0.5 a")).toEqual(["AND"]);
    expect(labels("metrics.loss < 0.5 and ")).toEqual(["metrics.", "params.", "tags.", "attributes."]);
    expect(labels("metrics.loss < 0.5 and par")).toEqual(["params."]);
    expect(labels("metrics.loss < 0.5 and tim")).toEqual(["params.optimizer", "attributes.start_time", "attributes.end_time"]);
  });
  it("says nothing after a finished string", () => {
    expect(labels("params.model = 'cnn'")).toEqual([]);
  });
  it("completes in the middle of the text", () => {
    const text = "metrics.lo < 1 and params.lr = '0.1'";
    const c = complete(text, 9, keys);
    expect(c.from).toBe(0);
    expect(c.to).toBe(10);
    const applied = applyCompletion(text, c, c.items[0]);
    expect(applied.text).toBe("metrics.loss < 1 and params.lr = '0.1'");
  });
  it("applies a prefix without a trailing space", () => {
    const c = complete("me", 2, keys);
    expect(applyCompletion("me", c, c.items[0])).toEqual({ text: "metrics.", caret: 8 });
  });
  it("applies a key with a trailing space", () => {
    const c = complete("metrics.gr", 10, keys);
    expect(applyCompletion("metrics.gr", c, c.items[0])).toEqual({ text: "metrics.`grad norm` ", caret: 20 });
  });
});
