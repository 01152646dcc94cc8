import { describe, expect, it } from "vitest";
import type { LineageEdge, LineageNode } from "../../api/client";
import { layoutGraph, nodeHref } from "./layout";

const node = (id: string, label = id): LineageNode => {
  const [kind, ...rest] = id.split(":");
  return { id, kind: kind as LineageNode["kind"], key: rest.join(":"), label };
};
const edge = (from: string, relation: LineageEdge["relation"], to: string): LineageEdge => ({ from, relation, to });

describe("layoutGraph", () => {
  it("puts upstream left and downstream right of the centre", () => {
    const nodes = ["dataset:d@1", "run:train", "model:m", "model_version:fraud/1", "commit:abc"].map((id) => node(id));
    const edges = [
      edge("dataset:d@1", "input", "run:train"),
      edge("commit:abc", "code_of", "run:train"),
      edge("run:train", "output", "model:m"),
      edge("model:m", "registered_as", "model_version:fraud/1"),
    ];
    const layout = layoutGraph(nodes, edges, "run:train");
    const column = Object.fromEntries(layout.placed.map((p) => [p.node.id, p.column]));
    expect(column).toEqual({
      "dataset:d@1": -1,
      "commit:abc": -1,
      "run:train": 0,
      "model:m": 1,
      "model_version:fraud/1": 2,
    });
    expect([layout.minColumn, layout.maxColumn, layout.rows]).toEqual([-1, 2, 2]);
    // Within a column: by kind (dataset before commit).
    const left = layout.placed.filter((p) => p.column === -1).sort((a, b) => a.row - b.row);
    expect(left.map((p) => p.node.id)).toEqual(["dataset:d@1", "commit:abc"]);
  });

  it("places siblings reached through a shared input and drops dangling edges", () => {
    const nodes = ["run:a", "artifact:f", "run:b", "run:c"].map((id) => node(id));
    const edges = [
      edge("run:a", "output", "artifact:f"),
      edge("artifact:f", "input", "run:b"),
      edge("artifact:f", "input", "run:c"),
      edge("artifact:f", "input", "run:gone"),
    ];
    const layout = layoutGraph(nodes, edges, "run:b");
    const column = Object.fromEntries(layout.placed.map((p) => [p.node.id, p.column]));
    expect(column).toEqual({ "run:a": -2, "artifact:f": -1, "run:b": 0, "run:c": 0 });
    expect(layout.edges).toHaveLength(3);
  });

  it("handles a lone node and cycles", () => {
    expect(layoutGraph([node("run:x")], [], "run:x").placed).toEqual([{ node: node("run:x"), column: 0, row: 0 }]);
    const cyc = layoutGraph([node("run:x"), node("run:y")], [edge("run:x", "parent_of", "run:y"), edge("run:y", "parent_of", "run:x")], "run:x");
    expect(cyc.placed.map((p) => p.column).sort()).toEqual([0, 1]);
  });
});

describe("nodeHref", () => {
  it("links runs and versions to their pages and re-centres on the rest", () => {
    expect(nodeHref(node("run:abc"))).toBe("/runs/abc?tab=lineage");
    expect(nodeHref(node("model_version:fraud/detector/3"))).toBe("/models/fraud%2Fdetector");
    expect(nodeHref(node("dataset:train@d1"))).toBe("/lineage?node=dataset%3Atrain%40d1");
  });
});
