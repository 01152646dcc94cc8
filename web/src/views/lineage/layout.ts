// Pure layout of a lineage graph: each node gets a column (its distance upstream, negative, or
// downstream, positive, from the centre node, along the edges as they point) and a row within
// its column, so the graph reads left (where things came from) to right (what came of them).
import type { LineageEdge, LineageNode } from "../../api/client";

export type Placed = { node: LineageNode; column: number; row: number };

export type Layout = {
  placed: Placed[];
  /** Columns from the leftmost (most upstream) to the rightmost. */
  minColumn: number;
  maxColumn: number;
  /** The most nodes in one column. */
  rows: number;
  edges: LineageEdge[];
};

/** Order of kinds within a column: runs first, then what they touch. */
const KIND_ORDER = ["run", "dataset", "model", "model_version", "artifact", "commit"];

/** Breadth-first distances from `start` following `next`. */
function distances(start: string, next: Map<string, string[]>): Map<string, number> {
  const seen = new Map<string, number>([[start, 0]]);
  let frontier = [start];
  for (let depth = 1; frontier.length > 0; depth++) {
    const following: string[] = [];
    for (const id of frontier) {
      for (const far of next.get(id) ?? []) {
        if (!seen.has(far)) {
          seen.set(far, depth);
          following.push(far);
        }
      }
    }
    frontier = following;
  }
  return seen;
}

/**
 * Places every node of the graph around `centre`. Nodes reached upstream sit left of it, nodes
 * reached downstream right of it (the nearer side wins when both reach a node); nodes reached
 * neither way (a sibling reached through a shared input) sit one column right of the node that
 * links them. Within a column nodes are sorted by kind, then label.
 */
export function layoutGraph(nodes: LineageNode[], edges: LineageEdge[], centre: string): Layout {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const kept = edges.filter((e) => byId.has(e.from) && byId.has(e.to));
  const down = new Map<string, string[]>();
  const up = new Map<string, string[]>();
  for (const e of kept) {
    down.set(e.from, [...(down.get(e.from) ?? []), e.to]);
    up.set(e.to, [...(up.get(e.to) ?? []), e.from]);
  }
  const downstream = distances(centre, down);
  const upstream = distances(centre, up);
  const column = new Map<string, number>();
  for (const n of nodes) {
    const d = downstream.get(n.id);
    const u = upstream.get(n.id);
    if (d !== undefined && (u === undefined || d <= u)) column.set(n.id, d);
    else if (u !== undefined) column.set(n.id, -u);
  }
  // Whatever is left hangs off a placed neighbour (repeat: a chain of them).
  for (let changed = true; changed; ) {
    changed = false;
    for (const e of kept) {
      if (column.has(e.from) && !column.has(e.to)) {
        column.set(e.to, column.get(e.from)! + 1);
        changed = true;
      } else if (column.has(e.to) && !column.has(e.from)) {
        column.set(e.from, column.get(e.to)! - 1);
        changed = true;
      }
    }
  }
  const columns = new Map<number, LineageNode[]>();
  for (const n of nodes) {
    const c = column.get(n.id);
    if (c === undefined) continue;
    columns.set(c, [...(columns.get(c) ?? []), n]);
  }
  const placed: Placed[] = [];
  let rows = 0;
  for (const [c, members] of columns) {
    members.sort(
      (a, b) =>
        KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.label.localeCompare(b.label) || a.id.localeCompare(b.id),
    );
    members.forEach((node, row) => placed.push({ node, column: c, row }));
    rows = Math.max(rows, members.length);
  }
  const used = [...columns.keys()];
  return {
    placed,
    minColumn: used.length ? Math.min(...used) : 0,
    maxColumn: used.length ? Math.max(...used) : 0,
    rows,
    edges: kept,
  };
}

/** Where a click on a node leads: runs and model versions to their pages, the rest re-centre. */
export function nodeHref(node: LineageNode): string {
  if (node.kind === "run") return `/runs/${encodeURIComponent(node.key)}?tab=lineage`;
  if (node.kind === "model_version") {
    const slash = node.key.lastIndexOf("/");
    return `/models/${encodeURIComponent(node.key.slice(0, slash))}`;
  }
  return `/lineage?node=${encodeURIComponent(node.id)}`;
}

/** How a relation reads on an edge. */
export const RELATION_TEXT: Record<LineageEdge["relation"], string> = {
  input: "used by",
  output: "produced",
  registered_as: "registered as",
  parent_of: "parent of",
  forked_into: "forked into",
  reproduced_as: "reproduced as",
  code_of: "code of",
};
