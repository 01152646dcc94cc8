// The statistics panel of the compare view: for a chosen metric and aggregate (each run's
// last, min, max or mean), a describe table per group of runs (grouped by a param or tag, or
// all runs together), and a two-sample test between two groups, or two runs when ungrouped
// (Welch's t, Mann–Whitney U, effect sizes and the test's assumptions, from `POST /compare`).
import { api, type CompareResponse } from "../../api/client";
import { toNumber, type WireDouble } from "../../api/doubles";
import { ErrorBox, Loading } from "../../components/common";
import { formatNumber } from "../../format";
import { useQueryParam } from "../../router";
import { useAsync } from "../run/hooks";
import type { DiffModel } from "./diff";
import { describe, formatP, type Description } from "./stats";

type Aggregate = "last" | "min" | "max" | "mean";
const AGGREGATES: Aggregate[] = ["last", "min", "max", "mean"];
type Test = NonNullable<CompareResponse["test"]>;
type Describe = Test["a"]["describe"];

const groupLabel = (value: string | null) => (value === null ? "(no value)" : value);

export function Stats(props: {
  runIds: string[];
  model: DiffModel;
  group: string;
  groupChoices: string[];
  setGroup: (group: string) => void;
  defaultMetric: string;
}) {
  const { runIds, model, group } = props;
  const keys = model.metrics.map((m) => m.key);
  const [metricParam, setMetric] = useQueryParam("sm", "");
  const [aggParam, setAgg] = useQueryParam("agg", "last");
  const [ta, setA] = useQueryParam("ta", "");
  const [tb, setB] = useQueryParam("tb", "");
  const metric = keys.includes(metricParam) ? metricParam : keys.includes(props.defaultMetric) ? props.defaultMetric : keys[0];
  const agg: Aggregate = AGGREGATES.includes(aggParam as Aggregate) ? (aggParam as Aggregate) : "last";
  const runsKey = runIds.join(",");

  // Groups describe each run's aggregate of the `best` request (its direction is irrelevant here).
  const groups = useAsync(
    (signal) =>
      group && metric
        ? api
            .compare(
              { run_ids: runIds, metrics: [metric], summaries: false, group_by: group, best: { metric, direction: "min", aggregate: agg } },
              signal,
            )
            .then((r) => r.groups ?? [])
        : Promise.resolve(null),
    [runsKey, metric, group, agg],
  );
  // The two samples: group values when grouped, else run ids.
  const choices: [string, string][] = group
    ? (groups.data ?? []).filter((g) => g.value !== null).map((g) => [g.value!, g.value!])
    : model.runs.map((r) => [r.id, r.name]);
  const a = choices.some(([v]) => v === ta) ? ta : choices[0]?.[0];
  const b = choices.some(([v]) => v === tb) && tb !== a ? tb : choices.find(([v]) => v !== a)?.[0];
  const test = useAsync(
    (signal) =>
      metric && a && b && (!group || groups.data)
        ? api
            .compare(
              {
                run_ids: runIds,
                metrics: [metric],
                summaries: false,
                group_by: group || undefined,
                test: group ? { metric, aggregate: agg, groups: [a, b] } : { metric, a: [a], b: [b] },
              },
              signal,
            )
            .then((r) => r.test ?? null)
        : Promise.resolve(null),
    [runsKey, metric, group, agg, a, b, !!groups.data],
  );

  if (!metric) {
    return (
      <div class="cp-stats" data-testid="compare-stats">
        <p class="muted cp-empty">These runs have no metrics.</p>
      </div>
    );
  }
  const row = model.metrics.find((m) => m.key === metric)!;
  const label = (v: string | undefined) => choices.find(([c]) => c === v)?.[1] ?? v ?? "";
  const sample = (label: string, value: string | undefined, set: (v: string) => void) => (
    <label class="cp-field">
      {label}
      <select value={value} onChange={(e) => set((e.currentTarget as HTMLSelectElement).value)}>
        {choices.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div class="cp-stats" data-testid="compare-stats">
      <div class="cp-plot-tools">
        <label class="cp-field">
          Metric
          <select value={metric} onChange={(e) => setMetric((e.currentTarget as HTMLSelectElement).value)}>
            {keys.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label class="cp-field" title="Groups of runs to describe and test (also the charts' bands)">
          Group by
          <select value={group} onChange={(e) => props.setGroup((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">none (all runs)</option>
            {props.groupChoices.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label class="cp-field" title="Each run's value of the metric">
          Per run
          <select value={agg} onChange={(e) => setAgg((e.currentTarget as HTMLSelectElement).value)}>
            {AGGREGATES.map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </label>
      </div>
      <h3 class="cp-sub">
        {group ? (
          <>
            By <span class="mono">{group}</span>
          </>
        ) : (
          "All runs"
        )}
      </h3>
      {group && groups.error ? (
        <ErrorBox error={groups.error} />
      ) : group && !groups.data ? (
        <Loading />
      ) : (
        <DescribeTable
          rows={
            group
              ? (groups.data ?? []).map((g) => ({ label: groupLabel(g.value), d: fromWire(g.metrics[metric] ?? null) }))
              : [{ label: `all ${model.runs.length} runs`, d: describe(row[agg]) }]
          }
        />
      )}
      <h3 class="cp-sub">Two-sample test</h3>
      {choices.length < 2 ? (
        <p class="muted cp-small">Needs two {group ? "groups" : "runs"}.</p>
      ) : (
        <>
          <div class="cp-plot-tools">
            {sample("A", a, setA)}
            {sample("B", b, setB)}
          </div>
          {test.error ? (
            <ErrorBox error={test.error} />
          ) : test.data ? (
            <TestResult test={test.data} labels={[label(a), label(b)]} />
          ) : (
            <Loading />
          )}
        </>
      )}
    </div>
  );
}

/** A wire describe as numbers. */
function fromWire(d: Describe | null | undefined): Description | null {
  if (!d) return null;
  const n = (v: WireDouble) => toNumber(v) ?? NaN;
  return { n: d.n, mean: n(d.mean), std: n(d.std), min: n(d.min), max: n(d.max), median: n(d.median) };
}

function DescribeTable(props: { rows: { label: string; d: Description | null }[] }) {
  return (
    <table class="cp-table cp-describe">
      <thead>
        <tr>
          <th>Group</th>
          <th class="num">n</th>
          <th class="num">mean</th>
          <th class="num">std</th>
          <th class="num">min</th>
          <th class="num">median</th>
          <th class="num">max</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map(({ label, d }) => (
          <tr key={label}>
            <td>{label}</td>
            <td class="num mono">{d?.n ?? 0}</td>
            <td class="num mono">{d ? formatNumber(d.mean) : "—"}</td>
            <td class="num mono">{d && !Number.isNaN(d.std) ? formatNumber(d.std) : "—"}</td>
            <td class="num mono">{d ? formatNumber(d.min) : "—"}</td>
            <td class="num mono">{d ? formatNumber(d.median) : "—"}</td>
            <td class="num mono">{d ? formatNumber(d.max) : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TestResult(props: { test: Test; labels: [string, string] }) {
  const { test } = props;
  const w = test.welch;
  const mw = test.mann_whitney;
  const num = (v: WireDouble | undefined) => (v === undefined ? "—" : formatNumber(toNumber(v)));
  const p = (v: WireDouble | undefined) => (v === undefined ? null : toNumber(v));
  const verdict = (pv: number | null) =>
    pv === null || Number.isNaN(pv) ? null : pv < 0.05 ? (
      <span class="badge cp-sig">significant at 5%</span>
    ) : (
      <span class="badge">not significant at 5%</span>
    );
  const side = (s: Test["a"], which: string, name: string) => {
    const runs = s.run_ids?.length ?? 0;
    const d = fromWire(s.describe);
    return (
      <div class="cp-side">
        <strong>{which}</strong> {name}{" "}
        <span class="muted">
          {runs > 1 && runs !== d?.n ? `· ${runs} runs ` : ""}
          {d && `· n = ${d.n}, mean ${formatNumber(d.mean)}${Number.isNaN(d.std) ? "" : ` ± ${formatNumber(d.std)}`}`}
        </span>
      </div>
    );
  };
  return (
    <div class="cp-test">
      <p class="muted cp-small">
        {test.samples === "runs"
          ? `One value per run (${test.aggregate ?? "last"} of ${test.metric}).`
          : `Every point of ${test.metric} of one run against the other's.`}
      </p>
      {side(test.a, "A", props.labels[0])}
      {side(test.b, "B", props.labels[1])}
      <div class="cp-tests">
        <table class="cp-table">
          <caption>Welch's t-test {verdict(p(w?.p_value))}</caption>
          <tbody>
            {w ? (
              <>
                <Row k="t" v={num(w.t)} />
                <Row k="degrees of freedom" v={num(w.df)} />
                <Row k="p-value" v={formatP(p(w.p_value))} />
                <Row k="mean difference (A − B)" v={num(w.mean_difference)} />
                <Row k="Cohen's d" v={num(w.cohens_d)} />
                <Row k="Hedges' g" v={num(w.hedges_g)} />
              </>
            ) : (
              <tr>
                <td class="muted">Too few samples.</td>
              </tr>
            )}
          </tbody>
        </table>
        <table class="cp-table">
          <caption>Mann–Whitney U {verdict(p(mw?.p_value))}</caption>
          <tbody>
            {mw ? (
              <>
                <Row k="U" v={num(mw.u)} />
                <Row k="p-value" v={`${formatP(p(mw.p_value))}${mw.method ? ` (${mw.method})` : ""}`} />
                <Row k="rank-biserial r" v={num(mw.rank_biserial)} />
                <Row k="common-language effect" v={num(mw.common_language)} />
              </>
            ) : (
              <tr>
                <td class="muted">Too few samples.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {test.assumptions.length > 0 && (
        <div class="cp-assumptions">
          <strong>Assumptions</strong>
          <ul>
            {test.assumptions.map((s) => (
              <li key={s}>{s}</li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

function Row(props: { k: string; v: string }) {
  return (
    <tr>
      <th scope="row">{props.k}</th>
      <td class="num mono">{props.v}</td>
    </tr>
  );
}
