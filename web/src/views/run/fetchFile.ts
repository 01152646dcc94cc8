// Reading part of a run's file for a preview: a plain or ranged GET of the file URL the API
// client gives, with the total size from `Content-Range` and the ETag for cheap re-polls.

export type FilePart = {
  /** 304: unchanged since the ETag sent. */
  status: number;
  text: string;
  etag: string | null;
  /** The file's full size when the answer says (a 206's Content-Range). */
  total: number | null;
  /** Offset of the first byte returned. */
  start: number;
};

/** `bytes a-b/total` → [a, total]. */
export function parseContentRange(header: string | null): [start: number, total: number | null] {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? "");
  if (!m) return [0, null];
  return [Number(m[1]), m[2] === "*" ? null : Number(m[2])];
}

/** GETs `url` (with `range` and `etag` when given) as text. */
export async function fetchPart(url: string, opts: { range?: string; etag?: string | null; signal?: AbortSignal }): Promise<FilePart> {
  const headers: Record<string, string> = {};
  if (opts.range) headers.Range = opts.range;
  if (opts.etag) headers["If-None-Match"] = opts.etag;
  const response = await fetch(url, { headers, signal: opts.signal, cache: "no-store" });
  if (response.status === 304) return { status: 304, text: "", etag: opts.etag ?? null, total: null, start: 0 };
  if (!response.ok && response.status !== 206) {
    throw new Error(`Could not read the file: HTTP ${response.status} ${response.statusText}`);
  }
  const [start, total] = response.status === 206 ? parseContentRange(response.headers.get("Content-Range")) : [0, null];
  const text = await response.text();
  return { status: response.status, text, etag: response.headers.get("ETag"), total, start };
}
