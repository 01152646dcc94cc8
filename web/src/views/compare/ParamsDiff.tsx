// The params diff of the compared runs: with up to 20 runs, runs are columns and params rows
// (differing params first, values that differ from the most common one highlighted, then the
// metrics' last value with min–max); with more, runs are rows (sortable, only the rows in view
// are rendered) and params and metrics columns, scrolling sideways. Constant params are folded.
import { useMemo, useState } from "preact/hooks";
import { seriesColor } from "../../charts/palette";
import { Link } from "../../components/common";
import { formatNumber } from "../../format";
import { useThemeVersion } from "./canvas";
import type { DiffModel, MetricRow } from "./diff";

/** Above this many runs, runs become rows. */
const COLUMN_RUNS = 20;
const ROW_HEIGHT = 30;
const VIEW_HEIGHT = 480;

type Props = { model: DiffModel; bestIndex: number };

const runHref = (id: string) => `/runs/${encodeURIComponent(id)}`;
const isDark = () => document.documentElement.dataset.theme === "dark";

export function ParamsDiff({ model, bestIndex }: Props) {
  const [system, setSystem] = useState(false);
  useThemeVersion();
  const metrics = model.metrics.filter((m) => system || !m.key.startsWith("system/"));
  const hasSystem = model.metrics.some((m) => m.key.startsWith("system/"));
  return (
    <div class="cp-diff-wrap">
      <div class="cp-plot-tools">
        <span class="muted cp-small">
          {model.differing.length} differing and {model.constant.length} constant params · {metrics.length} metrics
        </span>
        <span class="spacer" />
        {hasSystem && (
          <label class="cp-check">
            <input type="checkbox" checked={system} onChange={() => setSystem(!system)} /> System metrics
          </label>
        )}
      </div>
      {model.runs.length <= COLUMN_RUNS ? (
        <RunColumns model={model} metrics={metrics} bestIndex={bestIndex} />
      ) : (
        <RunRows model={model} metrics={metrics} bestIndex={bestIndex} />
      )}
      {model.constant.length > 0 && (
        <details class="cp-constant">
          <summary>
            Constant params <span class="cp-badge">{model.constant.length}</span>
          </summary>
          <dl>
            {model.constant.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd class="mono">{v}</dd>
              </div>
            ))}
          </dl>
        </details>
      )}
    </div>
  );
}

/** Whether a value stands out: it differs from the most common one, among repeated values. */
function marks(d: DiffModel["differing"][number], v: string | null): boolean {
  return v !== d.mode && d.distinct < d.values.length;
}

function RunName(props: { model: DiffModel; i: number; best: boolean }) {
  const run = props.model.runs[props.i];
  return (
    <span class="cp-run-name">
      <span class="cp-dot" style={{ background: seriesColor(props.i, isDark()) }} />
      <Link href={runHref(run.id)} title={run.name}>
        {run.name}
      </Link>
      {props.best && (
        <span class="cp-star" title="Best run">
          ★
        </span>
      )}
    </span>
  );
}

function RunColumns(props: { model: DiffModel; metrics: MetricRow[]; bestIndex: number }) {
  const { model, metrics, bestIndex } = props;
  const cols = model.runs.length + 1;
  const cls = (i: number) => (i === bestIndex ? "cp-best" : undefined);
  return (
    <div class="cp-diff-scroll">
      <table class="cp-table cp-diff cp-cols" data-testid="params-diff">
        <thead>
          <tr>
            <th class="cp-sticky">Param</th>
            {model.runs.map((r, i) => (
              <th key={r.id} class={cls(i)}>
                <RunName model={model} i={i} best={i === bestIndex} />
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr class="cp-section">
            <td colSpan={cols}>Differing params</td>
          </tr>
          {model.differing.length === 0 && (
            <tr>
              <td colSpan={cols} class="muted">
                Every param has the same value in these runs.
              </td>
            </tr>
          )}
          {model.differing.map((d) => (
            <tr key={d.key}>
              <th scope="row" class="cp-sticky">
                {d.key}
              </th>
              {d.values.map((v, i) => (
                <td key={i} class={(marks(d, v) ? "cp-differs " : "") + (cls(i) ?? "")} title={v ?? "missing"}>
                  {v ?? <span class="muted">—</span>}
                </td>
              ))}
            </tr>
          ))}
          {metrics.length > 0 && (
            <tr class="cp-section">
              <td colSpan={cols}>Metrics · last value (min – max)</td>
            </tr>
          )}
          {metrics.map((m) => (
            <tr key={m.key}>
              <th scope="row" class="cp-sticky">
                {m.key}
              </th>
              {m.last.map((v, i) => (
                <td key={i} class={"mono cp-metric " + (cls(i) ?? "")}>
                  {v === null ? (
                    <span class="muted">—</span>
                  ) : (
                    <>
                      {formatNumber(v)}
                      <span class="cp-range">
                        {formatNumber(m.min[i])} – {formatNumber(m.max[i])}
                      </span>
                    </>
                  )}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type Sort = { col: string; desc: boolean };

/** Sorted run indices by a column (`run`, `params.<key>` or `metrics.<key>`); missing values last. */
function sortRuns(model: DiffModel, sort: Sort | null): number[] {
  const order = model.runs.map((_, i) => i);
  if (!sort) return order;
  const dir = sort.desc ? -1 : 1;
  const collator = new Intl.Collator(undefined, { numeric: true });
  if (sort.col === "run") return order.sort((a, b) => dir * collator.compare(model.runs[a].name, model.runs[b].name));
  if (sort.col.startsWith("params.")) {
    const values = model.differing.find((d) => "params." + d.key === sort.col)?.values ?? [];
    return order.sort((a, b) => {
      const va = values[a];
      const vb = values[b];
      if (va === null || vb === null) return (va === null ? 1 : 0) - (vb === null ? 1 : 0);
      return dir * collator.compare(va, vb);
    });
  }
  const values = model.metrics.find((m) => "metrics." + m.key === sort.col)?.last ?? [];
  const missing = (v: number | null | undefined) => v === null || v === undefined || Number.isNaN(v);
  return order.sort((a, b) => {
    const va = values[a];
    const vb = values[b];
    if (missing(va) || missing(vb)) return (missing(va) ? 1 : 0) - (missing(vb) ? 1 : 0);
    return dir * (va! - vb!);
  });
}

function RunRows(props: { model: DiffModel; metrics: MetricRow[]; bestIndex: number }) {
  const { model, metrics, bestIndex } = props;
  const [sort, setSort] = useState<Sort | null>(null);
  const [scroll, setScroll] = useState(0);
  const order = useMemo(() => sortRuns(model, sort), [model, sort]);
  const first = Math.max(0, Math.floor(scroll / ROW_HEIGHT) - 10);
  const last = Math.min(order.length, Math.ceil((scroll + VIEW_HEIGHT) / ROW_HEIGHT) + 10);
  const header = (col: string, label: string, numeric = false) => (
    <th
      key={col}
      class={(numeric ? "num " : "") + "cp-sortable"}
      aria-sort={sort?.col === col ? (sort.desc ? "descending" : "ascending") : undefined}
      onClick={() => setSort(sort?.col === col ? (sort.desc ? null : { col, desc: true }) : { col, desc: false })}
      title={`Sort by ${label}`}
    >
      {label}
      {sort?.col === col ? (sort.desc ? " ↓" : " ↑") : ""}
    </th>
  );
  const cols = 1 + model.differing.length + metrics.length;
  return (
    <div
      class="cp-diff-scroll cp-rows"
      style={{ maxHeight: `${VIEW_HEIGHT}px` }}
      onScroll={(e) => setScroll((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <table class="cp-table cp-diff" data-testid="params-diff">
        <thead>
          <tr>
            {header("run", "Run")}
            {model.differing.map((d) => header("params." + d.key, d.key))}
            {metrics.map((m) => header("metrics." + m.key, m.key, true))}
          </tr>
        </thead>
        <tbody>
          {first > 0 && (
            <tr style={{ height: `${first * ROW_HEIGHT}px` }}>
              <td colSpan={cols} />
            </tr>
          )}
          {order.slice(first, last).map((i) => (
            <tr key={model.runs[i].id} class={i === bestIndex ? "cp-best" : undefined} style={{ height: `${ROW_HEIGHT}px` }}>
              <th scope="row" class="cp-sticky">
                <RunName model={model} i={i} best={i === bestIndex} />
              </th>
              {model.differing.map((d) => {
                const v = d.values[i];
                return (
                  <td key={d.key} title={v ?? "missing"}>
                    {v ?? <span class="muted">—</span>}
                  </td>
                );
              })}
              {metrics.map((m) => (
                <td
                  key={m.key}
                  class="num mono"
                  title={m.last[i] === null ? undefined : `min ${formatNumber(m.min[i])} · max ${formatNumber(m.max[i])}`}
                >
                  {m.last[i] === null ? <span class="muted">—</span> : formatNumber(m.last[i])}
                </td>
              ))}
            </tr>
          ))}
          {last < order.length && (
            <tr style={{ height: `${(order.length - last) * ROW_HEIGHT}px` }}>
              <td colSpan={cols} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
