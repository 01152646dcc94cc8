// Tests of the run overview's data shaping.
import { describe, expect, it } from "vitest";
import { commitUrl, filterPairs, gitInfo, headlineKeys, splitTags } from "./overview";

describe("splitTags", () => {
  it("puts mlflow.* and cairn.* tags apart", () => {
    expect(splitTags({ team: "core", "mlflow.user": "a", "cairn.host": "h", alpha: "1" })).toEqual({
      user: [
        ["alpha", "1"],
        ["team", "core"],
      ],
      system: [
        ["cairn.host", "h"],
        ["mlflow.user", "a"],
      ],
    });
  });
});

describe("gitInfo", () => {
  it("prefers MLflow's tags and falls back on Cairn's", () => {
    expect(gitInfo({ "mlflow.source.git.commit": "a", "cairn.git.commit": "b", "cairn.git.branch": "main", "cairn.git.dirty": "true" })).toEqual({
      commit: "a",
      branch: "main",
      remote: undefined,
      dirty: true,
    });
  });
});

describe("commitUrl", () => {
  it("links commits on known hosts", () => {
    expect(commitUrl("https://github.com/x/y.git", "7bdbe75")).toBe("https://github.com/x/y/commit/7bdbe75");
    expect(commitUrl("git@github.com:x/y.git", "7bdbe75")).toBe("https://github.com/x/y/commit/7bdbe75");
    expect(commitUrl("https://gitlab.com/g/s/p", "abcdef1")).toBe("https://gitlab.com/g/s/p/-/commit/abcdef1");
    expect(commitUrl("https://example.com/x/y.git", "abcdef1")).toBeNull();
    expect(commitUrl("https://github.com/x/y", "not-a-sha")).toBeNull();
  });
});

describe("headlineKeys", () => {
  it("charts losses and accuracies first, validation before training, no system metrics", () => {
    const keys = ["lr", "system/cpu", "train/loss", "val/loss", "train/acc", "epoch", "val/acc", "grad_norm", "z"];
    expect(headlineKeys(keys, 6)).toEqual(["val/loss", "train/loss", "val/acc", "train/acc", "epoch", "grad_norm"]);
  });
});

describe("filterPairs", () => {
  it("matches keys or values", () => {
    const pairs: [string, string][] = [
      ["lr", "0.1"],
      ["model", "resnet"],
    ];
    expect(filterPairs(pairs, "RES")).toEqual([["model", "resnet"]]);
    expect(filterPairs(pairs, " ")).toEqual(pairs);
  });
});
