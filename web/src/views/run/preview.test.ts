// Tests of the artifact preview helpers.
import { describe, expect, it } from "vitest";
import { ancestors, baseName, dropPartialFirstLine, headRange, mlmodelFlavors, previewKind, shortDigest, tailRange } from "./preview";

describe("previewKind", () => {
  it("recognises files by name", () => {
    expect(previewKind("plots/a.PNG")).toBe("image");
    expect(previewKind("model/MLmodel", "text/plain")).toBe("mlmodel");
    expect(previewKind("eval/report.html")).toBe("html");
    expect(previewKind("config.json")).toBe("json");
    expect(previewKind("rows.jsonl")).toBe("text");
    expect(previewKind("eval/p.csv")).toBe("csv");
    expect(previewKind("eval/t.tsv")).toBe("csv");
    expect(previewKind("README.md")).toBe("markdown");
    expect(previewKind("logs/train.log")).toBe("text");
    expect(previewKind("git/diff.patch")).toBe("text");
    expect(previewKind("model/requirements.txt")).toBe("text");
  });

  it("falls back on the content type, then on no preview", () => {
    expect(previewKind("blob", "image/jpeg")).toBe("image");
    expect(previewKind("blob", "application/json")).toBe("json");
    expect(previewKind("blob", "text/plain; charset=utf-8")).toBe("text");
    expect(previewKind("weights.bin", "application/octet-stream")).toBe("none");
  });
});

describe("ranges", () => {
  it("asks for the tail only of a larger file", () => {
    expect(tailRange(1000, 256)).toBe("bytes=-256");
    expect(tailRange(100, 256)).toBeUndefined();
    expect(headRange(1000, 100)).toBe("bytes=0-99");
    expect(headRange(50, 100)).toBeUndefined();
  });

  it("drops the partial first line of a tail", () => {
    expect(dropPartialFirstLine("ial line\nnext\nlast")).toBe("next\nlast");
    expect(dropPartialFirstLine("no break")).toBe("no break");
  });
});

describe("mlmodelFlavors", () => {
  it("lists the flavors block's keys", () => {
    const yaml = [
      "artifact_path: model",
      "flavors:",
      "  python_function:",
      "    loader_module: mlflow.sklearn",
      "    env:",
      "      conda: conda.yaml",
      "  sklearn:",
      "    pickled_model: model.pkl",
      "mlflow_version: 2.14.1",
    ].join("\n");
    expect(mlmodelFlavors(yaml)).toEqual(["python_function", "sklearn"]);
    expect(mlmodelFlavors("a: 1\n")).toEqual([]);
  });
});

describe("shortDigest", () => {
  it("keeps the algorithm and 12 hex digits", () => {
    expect(shortDigest("blake3:cb0baa8261f1170a6f71caef56c3")).toBe("blake3:cb0baa8261f1");
    expect(shortDigest(undefined)).toBe("");
  });
});

describe("paths", () => {
  it("lists a file's folders and its name", () => {
    expect(ancestors("a/b/c.txt")).toEqual(["a", "a/b"]);
    expect(ancestors("c.txt")).toEqual([]);
    expect(baseName("a/b/c.txt")).toBe("c.txt");
  });
});
