// The model registry pages: `/models` lists registered models (name filter in `?q=`),
// `/models/:name` shows one model with its versions, stages and aliases, its access (owning team
// and visibility; with authentication on), and the lineage of the selected version
// (`?version=`), which traces it back to its run and data. `/lineage?node=` shows the lineage
// graph around any node.
import { useEffect } from "preact/hooks";
import { api, ApiError, authEnabled, type ModelVersion, type RegisteredModel } from "../api/client";
import { ErrorBox, Link, Loading } from "../components/common";
import { formatTime } from "../format";
import { useQueryParam } from "../router";
import { LineageView } from "./lineage/LineageView";
import { useAsync } from "./run/hooks";
import { Popover } from "./runs/Popover";
import { ModelAccessPanel } from "./teams/ModelAccessPanel";
import "./lineage/lineage.css";

/** A case-insensitive substring match on model names (quotes escaped). */
export function nameFilter(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return "";
  const escaped = trimmed.replace(/'/g, "''");
  return `name ILIKE '%${escaped}%'`;
}

export function ModelsPage() {
  const [q, setQ] = useQueryParam("q");
  const models = useAsync(
    (signal) => api.registeredModels({ filter: nameFilter(q), order_by: "name ASC", max_results: 1000 }, signal),
    [q],
  );
  useEffect(() => {
    document.title = "Models · Cairn";
  }, []);
  const list = models.data?.registered_models ?? [];
  return (
    <div class="page">
      <h1>Models</h1>
      <div class="md-search">
        <input
          aria-label="Filter models by name"
          placeholder="Filter by name"
          value={q}
          onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)}
        />
      </div>
      <ErrorBox error={models.error} />
      {!models.data && !models.error ? (
        <Loading what="models" />
      ) : list.length === 0 ? (
        <p class="muted" data-testid="models-empty">
          {q ? "No registered model matches." : "No registered models yet: "}
          {!q && (
            <>
              register one with <code>mlflow.register_model("runs:/&lt;run id&gt;/model", "name")</code>.
            </>
          )}
        </p>
      ) : (
        <table class="md-table" data-testid="models-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Latest version</th>
              <th>Aliases</th>
              <th>Updated</th>
              <th>Description</th>
            </tr>
          </thead>
          <tbody>
            {list.map((m) => (
              <tr key={m.name} data-testid="model-row" data-name={m.name}>
                <td>
                  <Link href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link>
                </td>
                <td>{latest(m)}</td>
                <td>
                  <Aliases aliases={(m.aliases ?? []).map((a) => `${a.alias} → v${a.version}`)} />
                </td>
                <td class="muted">{formatTime(m.last_updated_timestamp)}</td>
                <td class="muted">{m.description ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function latest(m: RegisteredModel): string {
  const versions = (m.latest_versions ?? []).map((v) => Number(v.version));
  return versions.length ? `v${Math.max(...versions)}` : "—";
}

function Aliases(props: { aliases: string[] }) {
  return (
    <span class="md-aliases">
      {props.aliases.map((a) => (
        <span key={a} class="md-alias">
          {a}
        </span>
      ))}
    </span>
  );
}

export function ModelPage(props: { name: string }) {
  const model = useAsync((signal) => api.registeredModel(props.name, signal), [props.name]);
  const [selected, setSelected] = useQueryParam("version");
  useEffect(() => {
    document.title = `${props.name} · Models · Cairn`;
  }, [props.name]);
  if (model.error && !model.data) {
    const missing = model.error instanceof ApiError && model.error.status === 404;
    return (
      <div class="page">
        <h1>{missing ? "Model not found" : "Could not load the model"}</h1>
        {missing ? (
          <p>
            There is no registered model <code>{props.name}</code>. <Link href="/models">Models</Link>
          </p>
        ) : (
          <ErrorBox error={model.error} />
        )}
      </div>
    );
  }
  if (!model.data) return <Loading what="the model" />;
  const { registered_model: m, versions } = model.data;
  const version = versions.find((v) => v.version === selected) ?? versions[0];
  return (
    <div class="page">
      <div class="rp-crumbs">
        <Link href="/models">Models</Link>
        <span class="muted"> / </span>
      </div>
      <div class="md-header">
        <h1 data-testid="model-name">{m.name}</h1>
        <Aliases aliases={(m.aliases ?? []).map((a) => `@${a.alias} → v${a.version}`)} />
        {authEnabled() && (
          <div class="md-actions">
            <Popover label="Access ▾" testId="access-button" title="Who owns and sees this model" alignRight>
              {() => <ModelAccessPanel name={m.name} />}
            </Popover>
          </div>
        )}
      </div>
      {m.description && <p>{m.description}</p>}
      {(m.tags ?? []).length > 0 && (
        <p class="muted">
          {(m.tags ?? []).map((t) => (
            <span key={t.key} class="md-alias">
              {t.key}={t.value}
            </span>
          ))}
        </p>
      )}
      <h2>
        Versions <span class="rp-count">{versions.length}</span>
      </h2>
      <table class="md-table" data-testid="versions-table">
        <thead>
          <tr>
            <th>Version</th>
            <th>Stage</th>
            <th>Aliases</th>
            <th>Registered</th>
            <th>Source run</th>
            <th>Description</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <VersionRow key={v.version} v={v} selected={v === version} onSelect={() => setSelected(v.version)} />
          ))}
        </tbody>
      </table>
      {version && (
        <section class="md-section">
          <h2>Lineage of v{version.version}</h2>
          <LineageView node={`model_version:${m.name}/${version.version}`} />
        </section>
      )}
    </div>
  );
}

function VersionRow(props: { v: ModelVersion; selected: boolean; onSelect: () => void }) {
  const { v } = props;
  return (
    <tr
      class={props.selected ? "md-selected" : undefined}
      data-testid="version-row"
      data-version={v.version}
      onClick={props.onSelect}
      style={{ cursor: "pointer" }}
    >
      <td>v{v.version}</td>
      <td class="md-stage">{v.current_stage === "None" ? "—" : v.current_stage}</td>
      <td>
        <Aliases aliases={(v.aliases ?? []).map((a) => `@${a}`)} />
      </td>
      <td class="muted">{formatTime(v.creation_timestamp)}</td>
      <td>{v.run_id ? <Link href={`/runs/${encodeURIComponent(v.run_id)}`}>{v.run_id.slice(0, 8)}</Link> : "—"}</td>
      <td class="muted">{v.description ?? ""}</td>
    </tr>
  );
}

export function LineagePage() {
  const [node] = useQueryParam("node");
  useEffect(() => {
    document.title = "Lineage · Cairn";
  }, []);
  return (
    <div class="page">
      <h1>Lineage</h1>
      {node ? (
        <>
          <p class="muted">
            Around <code>{node}</code>
          </p>
          <LineageView node={node} />
        </>
      ) : (
        <p class="muted">
          Open a run's lineage tab or a model version to see where it came from and what came of it.
        </p>
      )}
    </div>
  );
}
