// The lineage graph around one node: columns from what it came from (left) to what came of it
// (right), nodes as links (runs and model versions open their pages, other nodes re-centre the
// graph), edges drawn underneath with their relation on hover. Direction and depth are kept in
// the URL (`?ldir=`, `?ldepth=`).
import { useMemo } from "preact/hooks";
import { api, type LineageDirection, type LineageNode } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { onLinkClick, useQueryParam } from "../../router";
import { useAsync } from "../run/hooks";
import { layoutGraph, nodeHref, RELATION_TEXT } from "./layout";
import "./lineage.css";

const NODE_W = 200;
const NODE_H = 46;
const COL_GAP = 70;
const ROW_GAP = 14;

const KIND_TEXT: Record<LineageNode["kind"], string> = {
  run: "run",
  dataset: "dataset",
  model: "logged model",
  model_version: "model version",
  artifact: "file",
  commit: "commit",
};

export function LineageView(props: { node: string }) {
  const [direction, setDirection] = useQueryParam("ldir", "both");
  const [depthParam, setDepth] = useQueryParam("ldepth", "3");
  const depth = Math.min(10, Math.max(1, Number(depthParam) || 3));
  const graph = useAsync(
    (signal) => api.lineage(props.node, { direction: direction as LineageDirection, depth }, signal),
    [props.node, direction, depth],
  );
  const layout = useMemo(
    () => (graph.data ? layoutGraph(graph.data.nodes, graph.data.edges, props.node) : null),
    [graph.data, props.node],
  );
  return (
    <div class="lg-view">
      <div class="lg-controls">
        <label>
          Show{" "}
          <select
            aria-label="Direction"
            value={direction}
            onChange={(e) => setDirection((e.currentTarget as HTMLSelectElement).value)}
          >
            <option value="both">upstream and downstream</option>
            <option value="upstream">upstream (where it came from)</option>
            <option value="downstream">downstream (what came of it)</option>
          </select>
        </label>
        <label>
          Depth{" "}
          <select aria-label="Depth" value={String(depth)} onChange={(e) => setDepth((e.currentTarget as HTMLSelectElement).value)}>
            {[1, 2, 3, 4, 5, 6, 8, 10].map((d) => (
              <option key={d} value={String(d)}>
                {d}
              </option>
            ))}
          </select>
        </label>
        {graph.data?.truncated && <span class="badge status-killed">more nodes than shown</span>}
      </div>
      {graph.error ? <ErrorBox error={graph.error} /> : null}
      {!layout ? (
        graph.error ? null : <Loading what="lineage" />
      ) : layout.placed.length <= 1 ? (
        <p class="muted" data-testid="lineage-empty">
          Nothing is linked to this yet: datasets and models a run logs (<code>mlflow.log_input</code>,{" "}
          <code>log_model</code>), its parent run, its git commit, the files it stores or uses (
          <code>run.use_artifact</code>) and registered versions show here.
        </p>
      ) : (
        <Graph layout={layout} centre={props.node} />
      )}
    </div>
  );
}

function Graph(props: { layout: ReturnType<typeof layoutGraph>; centre: string }) {
  const { layout } = props;
  const x = (column: number) => (column - layout.minColumn) * (NODE_W + COL_GAP);
  const y = (row: number) => row * (NODE_H + ROW_GAP);
  const width = x(layout.maxColumn) + NODE_W;
  const height = layout.rows * (NODE_H + ROW_GAP);
  const at = new Map(layout.placed.map((p) => [p.node.id, p]));
  return (
    <div class="lg-scroll">
      <div class="lg-canvas" style={{ width: `${width}px`, height: `${height}px` }} data-testid="lineage-graph">
        <svg class="lg-edges" width={width} height={height} aria-hidden="true">
          {layout.edges.map((e) => {
            const a = at.get(e.from)!;
            const b = at.get(e.to)!;
            const forward = a.column <= b.column;
            const x1 = x(a.column) + (forward ? NODE_W : 0);
            const x2 = x(b.column) + (forward ? 0 : NODE_W);
            const y1 = y(a.row) + NODE_H / 2;
            const y2 = y(b.row) + NODE_H / 2;
            const bend = Math.max(30, Math.abs(x2 - x1) / 2) * (forward ? 1 : -1);
            return (
              <path
                key={`${e.from}>${e.to}>${e.relation}`}
                data-testid="lineage-edge"
                data-from={e.from}
                data-to={e.to}
                class={`lg-edge lg-rel-${e.relation}`}
                d={`M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`}
              >
                <title>{RELATION_TEXT[e.relation]}</title>
              </path>
            );
          })}
        </svg>
        {layout.placed.map((p) => (
          <a
            key={p.node.id}
            href={nodeHref(p.node)}
            onClick={onLinkClick}
            class={`lg-node lg-kind-${p.node.kind}${p.node.id === props.centre ? " lg-centre" : ""}`}
            style={{ left: `${x(p.column)}px`, top: `${y(p.row)}px`, width: `${NODE_W}px`, height: `${NODE_H}px` }}
            title={p.node.id}
            data-testid="lineage-node"
            data-id={p.node.id}
          >
            <span class="lg-kind">{KIND_TEXT[p.node.kind]}</span>
            <span class="lg-label">{p.node.label}</span>
          </a>
        ))}
      </div>
    </div>
  );
}
