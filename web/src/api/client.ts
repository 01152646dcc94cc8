/**
 * The UI's only way to the server: typed calls to documented routes of the native API
 * (`/api/v1`, described by crates/cairn-server/openapi.yaml, from which ./schema.d.ts is
 * generated — `npm run gen:api`; CI fails when the two drift).
 */
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Experiment = Schemas["Experiment"];
export type Run = Schemas["Run"];
export type RunRow = Schemas["RunRow"];
export type RunSearchRequest = Schemas["RunSearchRequest"];
export type RunSearchResponse = Schemas["RunSearchResponse"];
export type Summary = Schemas["Summary"];
export type ArtifactFile = Schemas["ArtifactFile"];
export type CompareRequest = Schemas["CompareRequest"];
export type CompareResponse = Schemas["CompareResponse"];
export type ManySeriesRequest = Schemas["ManySeriesRequest"];
export type ManySeriesResponse = Schemas["ManySeriesResponse"];
export type RunSeriesResponse = Schemas["RunSeriesResponse"];
export type PointsResponse = Schemas["PointsResponse"];
export type XAxis = Schemas["XAxis"];
export type KeyValue = Schemas["KeyValue"];
export type ExperimentKeys =
  paths["/api/v1/experiments/{experiment_id}/keys"]["get"]["responses"]["200"]["content"]["application/json"];
export type ExperimentPatch = NonNullable<
  paths["/api/v1/experiments/{experiment_id}"]["patch"]["requestBody"]
>["content"]["application/json"];
export type RunPatch = NonNullable<
  paths["/api/v1/runs/{run_id}"]["patch"]["requestBody"]
>["content"]["application/json"];
export type RunMetrics =
  paths["/api/v1/runs/{run_id}/metrics"]["get"]["responses"]["200"]["content"]["application/json"];
export type BlobInfo =
  paths["/api/v1/blobs/{digest}"]["get"]["responses"]["200"]["content"]["application/json"];
export type ArtifactList =
  paths["/api/v1/runs/{run_id}/artifacts"]["get"]["responses"]["200"]["content"]["application/json"];
export type RegisteredModel = Schemas["RegisteredModel"];
export type ModelVersion = Schemas["ModelVersion"];
export type LineageNode = Schemas["LineageNode"];
export type LineageEdge = Schemas["LineageEdge"];
export type LineageGraph =
  paths["/api/v1/lineage"]["get"]["responses"]["200"]["content"]["application/json"];
export type LineageDirection = "upstream" | "downstream" | "both";
export type View = "active_only" | "deleted_only" | "all";
export type Team = Schemas["Team"];
export type TeamMember = Schemas["TeamMember"];
export type TeamRole = Schemas["TeamRole"];
export type Visibility = Schemas["Visibility"];
export type ShareLevel = Schemas["ShareLevel"];
export type ExperimentAccess = Schemas["ExperimentAccess"];
export type RegisteredModelAccess = Schemas["RegisteredModelAccess"];
export type AuditQuery = NonNullable<paths["/api/v1/audit"]["get"]["parameters"]["query"]>;
export type AuditEntry =
  paths["/api/v1/audit"]["get"]["responses"]["200"]["content"]["application/json"]["entries"][number];
export type AccessChange = NonNullable<
  paths["/api/v1/experiments/{experiment_id}/access"]["patch"]["requestBody"]
>["content"]["application/json"];
export type ModelAccessChange = NonNullable<
  paths["/api/v1/registered-models/{name}/access"]["patch"]["requestBody"]
>["content"]["application/json"];

/** An error answer of the API: its HTTP status, MLflow error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The error a failed answer stands for (its JSON `error_code` and `message` when it has them). */
export async function apiError(response: Response): Promise<ApiError> {
  let code = "HTTP_" + response.status;
  let message = response.statusText;
  try {
    const error = (await response.json()) as { error_code?: string; message?: string };
    code = error.error_code ?? code;
    message = error.message ?? message;
  } catch {
    // not a JSON error body; keep the status text
  }
  return new ApiError(response.status, code, message);
}

/** The signed-in session's CSRF token, echoed on writes (authentication on, browser signed in). */
let csrfToken: string | null = null;
const unauthenticatedListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Who is signed in (null: nobody, or authentication is off), for views that show "yours". */
let signedIn: { authEnabled: boolean; user: Schemas["SessionUser"] | null } = { authEnabled: false, user: null };

export function setSignedIn(authEnabled: boolean, user: Schemas["SessionUser"] | null): void {
  signedIn = { authEnabled, user };
}

/** Whether the server wants credentials (teams and experiment access exist only then). */
export function authEnabled(): boolean {
  return signedIn.authEnabled;
}

/** The signed-in user (null: nobody, or authentication is off). */
export function currentUser(): Schemas["SessionUser"] | null {
  return signedIn.user;
}

/** Whether the caller may change something `author` wrote (anyone, without authentication). */
export function mayChange(author: string | null | undefined): boolean {
  if (!signedIn.authEnabled) return true;
  return !!signedIn.user && (signedIn.user.is_admin || signedIn.user.username === author);
}

/** Calls `listener` whenever the server answers 401 (the session ended or was never started). */
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

async function call<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrfToken && method !== "GET") headers["X-Cairn-CSRF"] = csrfToken;
  const response = await fetch(url, {
    method,
    signal,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await apiError(response);
    if (error.status === 401 && !url.startsWith("/api/v1/session")) for (const listener of unauthenticatedListeners) listener();
    throw error;
  }
  return (await response.json()) as T;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | undefined | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
  return parts.length ? "?" + parts.join("&") : "";
}

/** A path inside a run's artifacts, each segment percent-encoded. */
export function artifactPath(path: string): string {
  return path.split("/").map(enc).join("/");
}

export type SessionUser = Schemas["SessionUser"];
export type Comment = Schemas["Comment"];
export type Annotation = Schemas["Annotation"];
export type RunActivity =
  paths["/api/v1/runs/{run_id}/activity"]["get"]["responses"]["200"]["content"]["application/json"];
export type SessionState = Schemas["SessionState"];

export const api = {
  session(signal?: AbortSignal) {
    return call<SessionState>("GET", "/api/v1/session", undefined, signal);
  },
  signIn(username: string, password: string) {
    return call<{ user: SessionUser; csrf_token: string }>("POST", "/api/v1/session", { username, password });
  },
  signOut() {
    return call<Record<string, never>>("DELETE", "/api/v1/session");
  },
  listExperiments(
    params: { filter?: string; order_by?: string; view?: View; max_results?: number; page_token?: string },
    signal?: AbortSignal,
  ) {
    return call<{ experiments: Experiment[]; next_page_token?: string }>(
      "GET",
      "/api/v1/experiments" + query(params),
      undefined,
      signal,
    );
  },
  createExperiment(body: { name: string; description?: string; tags?: KeyValue[] }) {
    return call<{ experiment: Experiment }>("POST", "/api/v1/experiments", body);
  },
  getExperiment(id: string, signal?: AbortSignal) {
    return call<{ experiment: Experiment }>("GET", `/api/v1/experiments/${enc(id)}`, undefined, signal);
  },
  updateExperiment(id: string, patch: ExperimentPatch) {
    return call<{ experiment: Experiment }>("PATCH", `/api/v1/experiments/${enc(id)}`, patch);
  },
  experimentKeys(id: string, signal?: AbortSignal) {
    return call<ExperimentKeys>("GET", `/api/v1/experiments/${enc(id)}/keys`, undefined, signal);
  },
  searchRuns(body: RunSearchRequest, signal?: AbortSignal) {
    return call<RunSearchResponse>("POST", "/api/v1/runs/search", body, signal);
  },
  getRun(runId: string, signal?: AbortSignal) {
    return call<{ run: Run }>("GET", `/api/v1/runs/${enc(runId)}`, undefined, signal);
  },
  updateRun(runId: string, patch: RunPatch) {
    return call<{ run: Run }>("PATCH", `/api/v1/runs/${enc(runId)}`, patch);
  },
  runMetrics(runId: string, signal?: AbortSignal) {
    return call<RunMetrics>("GET", `/api/v1/runs/${enc(runId)}/metrics`, undefined, signal);
  },
  runSeries(
    runId: string,
    key: string,
    params: { buckets?: number; x?: XAxis; from?: number; to?: number },
    signal?: AbortSignal,
  ) {
    return call<RunSeriesResponse>(
      "GET",
      `/api/v1/runs/${enc(runId)}/metrics/${enc(key)}/series` + query(params),
      undefined,
      signal,
    );
  },
  points(runId: string, key: string, signal?: AbortSignal) {
    return call<PointsResponse>("GET", `/api/v1/runs/${enc(runId)}/metrics/${enc(key)}/points`, undefined, signal);
  },
  manySeries(body: ManySeriesRequest, signal?: AbortSignal) {
    return call<ManySeriesResponse>("POST", "/api/v1/series", body, signal);
  },
  compare(body: CompareRequest, signal?: AbortSignal) {
    return call<CompareResponse>("POST", "/api/v1/compare", body, signal);
  },
  artifacts(runId: string, params: { path?: string; recursive?: boolean; page_token?: string }, signal?: AbortSignal) {
    return call<ArtifactList>(
      "GET",
      `/api/v1/runs/${enc(runId)}/artifacts` +
        query({ path: params.path, recursive: params.recursive ? "true" : undefined, page_token: params.page_token }),
      undefined,
      signal,
    );
  },
  /** A stored blob: its size and the files (in every run) that use it. */
  blob(digest: string, signal?: AbortSignal) {
    return call<BlobInfo>("GET", `/api/v1/blobs/${enc(digest)}`, undefined, signal);
  },
  runComments(runId: string, signal?: AbortSignal) {
    return call<{ comments: Comment[] }>("GET", `/api/v1/runs/${enc(runId)}/comments`, undefined, signal);
  },
  addRunComment(runId: string, body: string) {
    return call<{ comment: Comment }>("POST", `/api/v1/runs/${enc(runId)}/comments`, { body });
  },
  editComment(id: number, body: string) {
    return call<{ comment: Comment }>("PATCH", `/api/v1/comments/${id}`, { body });
  },
  deleteComment(id: number) {
    return call<Record<string, never>>("DELETE", `/api/v1/comments/${id}`);
  },
  /** Comments that mention the signed-in user, newest first; `before` pages back (a comment id). */
  mentions(params: { before?: number; limit?: number } = {}, signal?: AbortSignal) {
    return call<{ comments: Comment[] }>("GET", "/api/v1/mentions" + query(params), undefined, signal);
  },
  runActivity(runId: string, signal?: AbortSignal) {
    return call<RunActivity>("GET", `/api/v1/runs/${enc(runId)}/activity`, undefined, signal);
  },
  runAnnotations(runId: string, signal?: AbortSignal) {
    return call<{ annotations: Annotation[] }>("GET", `/api/v1/runs/${enc(runId)}/annotations`, undefined, signal);
  },
  addAnnotation(runId: string, body: { key: string; step: number; text: string }) {
    return call<{ annotation: Annotation }>("POST", `/api/v1/runs/${enc(runId)}/annotations`, body);
  },
  deleteAnnotation(id: number) {
    return call<Record<string, never>>("DELETE", `/api/v1/annotations/${id}`);
  },
  registeredModels(
    params: { filter?: string; order_by?: string; max_results?: number; page_token?: string },
    signal?: AbortSignal,
  ) {
    return call<{ registered_models: RegisteredModel[]; next_page_token?: string }>(
      "GET",
      "/api/v1/registered-models" + query(params),
      undefined,
      signal,
    );
  },
  registeredModel(name: string, signal?: AbortSignal) {
    return call<{ registered_model: RegisteredModel; versions: ModelVersion[] }>(
      "GET",
      `/api/v1/registered-models/${enc(name)}`,
      undefined,
      signal,
    );
  },
  lineage(
    node: string,
    params: { direction?: LineageDirection; depth?: number; max_nodes?: number },
    signal?: AbortSignal,
  ) {
    return call<LineageGraph>("GET", "/api/v1/lineage" + query({ node, ...params }), undefined, signal);
  },
  teams(signal?: AbortSignal) {
    return call<{ teams: Team[] }>("GET", "/api/v1/teams", undefined, signal);
  },
  createTeam(name: string) {
    return call<{ team: Team }>("POST", "/api/v1/teams", { name });
  },
  team(name: string, signal?: AbortSignal) {
    return call<{ team: Team }>("GET", `/api/v1/teams/${enc(name)}`, undefined, signal);
  },
  deleteTeam(name: string) {
    return call<Record<string, never>>("DELETE", `/api/v1/teams/${enc(name)}`);
  },
  setTeamMember(name: string, username: string, role: TeamRole) {
    return call<{ team: Team }>("PUT", `/api/v1/teams/${enc(name)}/members/${enc(username)}`, { role });
  },
  removeTeamMember(name: string, username: string) {
    return call<Record<string, never>>("DELETE", `/api/v1/teams/${enc(name)}/members/${enc(username)}`);
  },
  experimentAccess(experimentId: string, signal?: AbortSignal) {
    return call<{ access: ExperimentAccess }>("GET", `/api/v1/experiments/${enc(experimentId)}/access`, undefined, signal);
  },
  changeExperimentAccess(experimentId: string, change: AccessChange) {
    return call<{ access: ExperimentAccess }>("PATCH", `/api/v1/experiments/${enc(experimentId)}/access`, change);
  },
  shareExperiment(experimentId: string, team: string, level: ShareLevel) {
    return call<{ access: ExperimentAccess }>(
      "PUT",
      `/api/v1/experiments/${enc(experimentId)}/shares/${enc(team)}`,
      { level },
    );
  },
  unshareExperiment(experimentId: string, team: string) {
    return call<{ access: ExperimentAccess }>("DELETE", `/api/v1/experiments/${enc(experimentId)}/shares/${enc(team)}`);
  },
  /** A registered model's owning team, visibility and the caller's permission (a 404 for those who may not read it). */
  modelAccess(name: string, signal?: AbortSignal) {
    return call<{ access: RegisteredModelAccess }>(
      "GET",
      `/api/v1/registered-models/${enc(name)}/access`,
      undefined,
      signal,
    );
  },
  /** Moves a registered model to another team and/or changes its visibility (its managers). */
  changeModelAccess(name: string, change: ModelAccessChange) {
    return call<{ access: RegisteredModelAccess }>("PATCH", `/api/v1/registered-models/${enc(name)}/access`, change);
  },
  /** The audit log, newest first (admins only; a 403 for others, a 400 without authentication). */
  audit(params: AuditQuery, signal?: AbortSignal) {
    return call<{ entries: AuditEntry[] }>("GET", "/api/v1/audit" + query(params), undefined, signal);
  },
  /** The URL of a run's file (GET it; `Range` works). */
  fileUrl(runId: string, path: string): string {
    return `/api/v1/runs/${enc(runId)}/files/${artifactPath(path)}`;
  },
  /** The live stream's WebSocket URL for the given subscriptions. */
  streamUrl(sub: { runs?: string[]; experiments?: string[] }): string {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return (
      `${scheme}//${location.host}/api/v1/stream` +
      query({ runs: sub.runs?.join(","), experiments: sub.experiments?.join(",") })
    );
  },
};
