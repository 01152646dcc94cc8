// The run page's environment tab: what the Cairn SDK recorded in `environment.json` (Python,
// host, GPUs, command, working directory, git state, packages, environment variables), the
// recorded uncommitted diff, and a copyable recipe of shell commands that reproduces the run.
import { useMemo } from "preact/hooks";
import { api, ApiError, type Run } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { formatBytes, formatTime } from "../../format";
import { hasRecipe, parseEnvironment, reproduceRecipe, type EnvDoc } from "./environment";
import { fetchPart } from "./fetchFile";
import { useAsync } from "./hooks";
import { headRange, PREVIEW_MAX_BYTES } from "./preview";
import { Card, Collapsible, CopyButton, KVTable } from "./widgets";

const DIFF_PATH = "git/diff.patch";
const DIFF_MAX_BYTES = 1024 * 1024;

/** The environment document, or null when the run has no environment.json. */
async function loadEnvironment(runId: string, signal: AbortSignal): Promise<EnvDoc | null> {
  const root = await api.artifacts(runId, {}, signal);
  const file = root.files.find((f) => f.path === "environment.json");
  if (!file) return null;
  const part = await fetchPart(api.fileUrl(runId, "environment.json"), {
    range: headRange(file.size ?? 0, PREVIEW_MAX_BYTES),
    signal,
  });
  const doc = parseEnvironment(part.text);
  if (doc instanceof Error) throw doc;
  return doc;
}

/** Whether the run has a recorded diff (a 404 listing means no `git/` folder). */
async function hasDiff(runId: string, signal: AbortSignal): Promise<boolean> {
  try {
    const list = await api.artifacts(runId, { path: "git" }, signal);
    return list.files.some((f) => f.path === DIFF_PATH);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return false;
    throw e;
  }
}

export function EnvironmentTab(props: { run: Run; tags: Record<string, string> }) {
  const runId = props.run.info.run_id;
  const env = useAsync((signal) => loadEnvironment(runId, signal), [runId]);
  const diff = useAsync((signal) => hasDiff(runId, signal), [runId]);
  const recipe = useMemo(
    () =>
      env.data === undefined || diff.data === undefined || !hasRecipe(env.data, props.tags)
        ? null
        : reproduceRecipe({
            runId,
            runName: props.run.info.run_name,
            doc: env.data,
            tags: props.tags,
            diffUrl: diff.data ? location.origin + api.fileUrl(runId, DIFF_PATH) : null,
          }),
    [env.data, diff.data, props.tags, runId],
  );
  if (env.error) return <ErrorBox error={env.error} />;
  if (env.data === undefined) return <Loading what="the environment" />;
  const doc = env.data;
  return (
    <div class="rp-env">
      {doc === null && (
        <p class="rp-banner">
          This run has no <code>environment.json</code>: it was not started with the Cairn SDK (or environment capture
          was off), so its interpreter, machine and packages are unknown.
          {recipe ? " The recipe below uses what its tags say." : " Its tags name no source or command either."}
        </p>
      )}
      {doc && <Summary doc={doc} />}
      {recipe && (
        <Card title="Reproduce" actions={<CopyButton text={recipe} label="Copy commands" />}>
          <p class="muted rp-note">
            Shell commands to get the same code (the commit{diff.data ? " plus the uncommitted diff" : ""}), the same
            packages and the same command line.
          </p>
          <pre class="rp-text rp-recipe">{recipe}</pre>
        </Card>
      )}
      {diff.data && <DiffCard runId={runId} />}
      {doc && (
        <div class="rp-grid">
          <Card title={<>Installed packages <span class="rp-count">{Object.keys(doc.distributions ?? {}).length}</span></>}>
            <KVTable
              pairs={Object.entries(doc.distributions ?? {}).sort(([a], [b]) => a.toLowerCase().localeCompare(b.toLowerCase()))}
              empty="No packages recorded."
              searchLabel="Search packages"
              mono
            />
          </Card>
          <Card title={<>Environment variables <span class="rp-count">{Object.keys(doc.environment ?? {}).length}</span></>}>
            <KVTable
              pairs={Object.entries(doc.environment ?? {}).sort(([a], [b]) => a.localeCompare(b))}
              empty="No environment variables recorded."
              searchLabel="Search variables"
              mono
            />
          </Card>
        </div>
      )}
    </div>
  );
}

function Summary({ doc }: { doc: EnvDoc }) {
  const { python, host, git, command } = doc;
  const gpus = doc.gpus ?? [];
  const rows = (pairs: [string, string | number | boolean | undefined | null][]) =>
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [k, String(v)] as [string, string]);
  return (
    <div class="rp-grid rp-grid-3">
      <Card title="Python">
        <KVTable
          pairs={rows([
            ["Version", python && `${python.implementation ?? "Python"} ${python.version ?? ""}`],
            ["Executable", python?.executable],
            ["Virtualenv", python?.virtualenv === undefined ? undefined : python.virtualenv ? "yes" : "no"],
            ["Prefix", python?.prefix],
            ["Build", python?.build],
          ])}
          empty="Not recorded."
          searchLabel=""
        />
      </Card>
      <Card title="Machine">
        <KVTable
          pairs={rows([
            ["Host", host?.hostname],
            ["User", host?.user],
            ["Platform", host?.platform],
            ["CPU", host?.cpu_model && `${host.cpu_model}${host.cpu_count ? ` × ${host.cpu_count}` : ""}`],
            ["Memory", host?.memory_total_bytes !== undefined ? formatBytes(host.memory_total_bytes) : undefined],
            [
              "GPUs",
              gpus.length
                ? gpus
                    .map((g) => `${g.name ?? "GPU"}${g.memory_total_bytes ? ` (${formatBytes(g.memory_total_bytes)})` : ""}`)
                    .join(", ")
                : "none",
            ],
            ["GPU driver", gpus[0]?.driver_version],
            ["Captured", doc.captured_at && formatTime(Date.parse(doc.captured_at))],
          ])}
          empty="Not recorded."
          searchLabel=""
        />
      </Card>
      <Card title="Code">
        <KVTable
          pairs={rows([
            ["Command", command?.line],
            ["Working dir", doc.cwd],
            ["Commit", git?.commit],
            ["Branch", git?.branch],
            ["Remote", git?.remote],
            ["Uncommitted", git?.dirty === undefined ? undefined : git.dirty ? `yes (${formatBytes(git.diff_bytes ?? 0)} diff)` : "no"],
            ["Untracked files", git?.untracked_count],
          ])}
          empty="Not recorded."
          searchLabel=""
          mono
        />
      </Card>
    </div>
  );
}

function DiffCard(props: { runId: string }) {
  const url = api.fileUrl(props.runId, DIFF_PATH);
  return (
    <Card
      title="Uncommitted changes"
      actions={
        <a class="button" href={url} download="diff.patch">
          Download diff.patch
        </a>
      }
    >
      <Collapsible summary="Show the diff">
        <DiffText url={url} />
      </Collapsible>
    </Card>
  );
}

function DiffText(props: { url: string }) {
  const diff = useAsync((signal) => fetchPart(props.url, { range: `bytes=0-${DIFF_MAX_BYTES - 1}`, signal }), [props.url]);
  if (diff.error) return <ErrorBox error={diff.error} />;
  if (!diff.data) return <Loading />;
  return (
    <pre class="rp-text rp-diff">
      {diff.data.text.split("\n").map((line, i) => (
        <div
          key={i}
          class={
            line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")
              ? "d-file"
              : line.startsWith("+")
                ? "d-add"
                : line.startsWith("-")
                  ? "d-del"
                  : line.startsWith("@@")
                    ? "d-hunk"
                    : undefined
          }
        >
          {line || " "}
        </div>
      ))}
    </pre>
  );
}
