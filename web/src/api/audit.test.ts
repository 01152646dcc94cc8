import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError } from "./client";

afterEach(() => {
  vi.unstubAllGlobals();
});

function stubFetch(status: number, body: unknown) {
  const calls: string[] = [];
  vi.stubGlobal("fetch", (url: string) => {
    calls.push(url);
    return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } }));
  });
  return calls;
}

describe("api.audit", () => {
  it("sends the filters as the query string, empty ones left out", async () => {
    const calls = stubFetch(200, { entries: [] });
    await api.audit({ user: "ada", action: "POST /api/2.0/mlflow/runs", since: 1000, before: 7, limit: 100 });
    await api.audit({ user: "", limit: 100 });
    expect(calls).toEqual([
      "/api/v1/audit?user=ada&action=POST%20%2Fapi%2F2.0%2Fmlflow%2Fruns&since=1000&before=7&limit=100",
      "/api/v1/audit?limit=100",
    ]);
  });

  it("turns a refusal into an ApiError with the server's message", async () => {
    stubFetch(403, { error_code: "PERMISSION_DENIED", message: "Only admins may read the audit log" });
    const error = await api.audit({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: "PERMISSION_DENIED", message: "Only admins may read the audit log" });
  });
});
