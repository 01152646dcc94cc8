// The run page's inputs tab: the datasets the run used (name, digest, source, context, schema,
// profile) and the logged models it read or produced.
import { Fragment } from "preact";
import type { Run } from "../../api/client";
import { datasetRows, modelRefs, type DatasetRow, type ModelRef } from "./inputs";
import { Card, Collapsible, CopyButton } from "./widgets";

export function InputsTab(props: { run: Run }) {
  const datasets = datasetRows(props.run.inputs);
  const modelInputs = modelRefs(props.run.inputs, "model_inputs");
  const modelOutputs = modelRefs(props.run.outputs, "model_outputs");
  return (
    <div class="rp-inputs">
      <h2>
        Datasets <span class="rp-count">{datasets.length}</span>
      </h2>
      {datasets.length === 0 ? (
        <p class="muted rp-empty">
          No datasets were logged with this run (MLflow's <code>mlflow.log_input</code> records them).
        </p>
      ) : (
        <div class="rp-grid">
          {datasets.map((d, i) => (
            <Dataset key={i} d={d} />
          ))}
        </div>
      )}
      <div class="rp-grid">
        <Models title="Models used" refs={modelInputs} empty="No logged models were inputs of this run." />
        <Models title="Models logged" refs={modelOutputs} empty="This run logged no models." />
      </div>
    </div>
  );
}

function Dataset({ d }: { d: DatasetRow }) {
  return (
    <Card
      title={
        <>
          {d.name || "(unnamed dataset)"} {d.context && <span class="badge rp-context">{d.context}</span>}
        </>
      }
    >
      <dl class="rp-dl">
        <dt>Digest</dt>
        <dd class="mono">{d.digest || "—"}</dd>
        <dt>Source</dt>
        <dd>
          <span class="mono rp-wrap">{d.source || "—"}</span>
          {d.sourceType && <span class="muted"> ({d.sourceType})</span>}
        </dd>
        {d.profile.map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd class="mono">{v}</dd>
          </Fragment>
        ))}
        {d.tags.map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </Fragment>
        ))}
      </dl>
      {d.columns.length > 0 && (
        <table class="rp-table rp-schema">
          <thead>
            <tr>
              <th>Column</th>
              <th>Type</th>
            </tr>
          </thead>
          <tbody>
            {d.columns.map(([name, type]) => (
              <tr key={name}>
                <td class="mono">{name}</td>
                <td class="mono muted">{type}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {d.schema && (
        <Collapsible summary="Raw schema">
          <pre class="rp-text">{d.schema}</pre>
        </Collapsible>
      )}
    </Card>
  );
}

function Models(props: { title: string; refs: ModelRef[]; empty: string }) {
  return (
    <Card title={<>{props.title} <span class="rp-count">{props.refs.length}</span></>}>
      {props.refs.length === 0 ? (
        <p class="muted rp-empty">{props.empty}</p>
      ) : (
        <table class="rp-table">
          <thead>
            <tr>
              <th>Model id</th>
              <th class="num">Step</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.refs.map((m) => (
              <tr key={m.modelId}>
                <td class="mono">{m.modelId}</td>
                <td class="num mono">{m.step ?? "—"}</td>
                <td class="num">
                  <CopyButton text={m.modelId} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
