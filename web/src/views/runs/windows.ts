// The runs table's data: windows of one run search, fetched by block (BLOCK rows) around what
// is on screen and kept in a bounded cache. Requests for blocks that scrolled far away are
// aborted; `refresh` refetches the blocks in view (live updates) without blanking them; every
// change bumps `version` and calls `onChange`. One instance serves one query (filter, order,
// view, summaries): a new query gets a new instance.
import type { RunRow, RunSearchRequest, RunSearchResponse } from "../../api/client";

/** Rows per block: about two screenfuls, so that the first answer is small and quick. */
export const BLOCK = 50;
/** Most blocks one request asks for (the API's limit is 1,000 rows). */
const MAX_BLOCKS_PER_REQUEST = 20;

export type SearchFn = (body: RunSearchRequest, signal: AbortSignal) => Promise<RunSearchResponse>;

export type Query = Omit<RunSearchRequest, "offset" | "limit">;

type Request = { first: number; count: number; controller: AbortController; pinned: boolean; done: Promise<void> };

const isAbort = (e: unknown) => e instanceof DOMException && e.name === "AbortError";

export class RunWindows {
  total: number | null = null;
  error: unknown = null;
  version = 0;
  private blocks = new Map<number, RunRow[]>();
  private inflight = new Map<number, Request>();
  private wanted = { first: 0, last: 0 };
  private refreshing: AbortController | null = null;
  private disposed = false;

  constructor(
    readonly query: Query,
    private readonly search: SearchFn,
    private readonly onChange: () => void,
    private readonly maxBlocks = 120,
  ) {}

  /** The row at `index` when it is loaded. */
  row(index: number): RunRow | undefined {
    return this.blocks.get(Math.floor(index / BLOCK))?.[index % BLOCK];
  }

  /** Whether run `runId` is among the loaded rows on screen. */
  isShown(runId: string): boolean {
    for (let b = this.wanted.first; b <= this.wanted.last; b++) {
      if (this.blocks.get(b)?.some((r) => r.info.run_id === runId)) return true;
    }
    return false;
  }

  /** Whether the first answer (rows or an error) has come. */
  get answered(): boolean {
    return this.total !== null || this.error !== null;
  }

  /**
   * Wants rows [start, end) on screen: fetches missing blocks, aborts ones far from them. A
   * failed query is not retried here (`refresh` does).
   */
  ensure(start: number, end: number): void {
    if (this.error !== null) return;
    const first = Math.floor(start / BLOCK);
    let last = Math.floor(Math.max(start, end - 1) / BLOCK);
    if (this.total !== null) last = Math.min(last, Math.max(0, Math.ceil(this.total / BLOCK) - 1));
    this.wanted = { first, last };
    for (const request of new Set(this.inflight.values())) {
      const far = request.first + request.count - 1 < first - 1 || request.first > last + 1;
      if (far && !request.pinned) this.abort(request);
    }
    this.fetchMissing(first, last, false);
  }

  /** Loads rows [start, end) whatever is on screen; resolves when they are cached. */
  async load(start: number, end: number): Promise<void> {
    if (end <= start) return;
    const first = Math.floor(start / BLOCK);
    const last = Math.floor((end - 1) / BLOCK);
    this.fetchMissing(first, last, true);
    const pending = new Set<Promise<void>>();
    for (let b = first; b <= last; b++) {
      const request = this.inflight.get(b);
      if (request) pending.add(request.done);
    }
    await Promise.all(pending);
    if (this.error) throw this.error;
  }

  /**
   * Refetches the blocks in view and the total (something changed on the server); other cached
   * blocks are dropped. Rows stay on screen until their new version arrives.
   */
  async refresh(): Promise<void> {
    this.refreshing?.abort();
    const controller = new AbortController();
    this.refreshing = controller;
    const { first, last } = this.wanted;
    for (const b of [...this.blocks.keys()]) if (b < first || b > last) this.blocks.delete(b);
    try {
      for (let b = first; b <= last; b += MAX_BLOCKS_PER_REQUEST) {
        const count = Math.min(MAX_BLOCKS_PER_REQUEST, last - b + 1);
        const answer = await this.search({ ...this.query, offset: b * BLOCK, limit: count * BLOCK }, controller.signal);
        if (controller.signal.aborted || this.disposed) return;
        this.store(b, count, answer);
      }
    } catch (e) {
      if (!isAbort(e)) this.fail(e);
    } finally {
      if (this.refreshing === controller) this.refreshing = null;
    }
  }

  /** Stops every request; the instance is done. */
  dispose(): void {
    this.disposed = true;
    this.refreshing?.abort();
    for (const request of new Set(this.inflight.values())) request.controller.abort();
    this.inflight.clear();
  }

  private fetchMissing(first: number, last: number, pinned: boolean): void {
    let runStart = -1;
    for (let b = first; b <= last + 1; b++) {
      const missing = b <= last && !this.blocks.has(b) && !this.inflight.has(b);
      if (missing && runStart < 0) runStart = b;
      const runLength = runStart < 0 ? 0 : b - runStart;
      if (runStart >= 0 && (!missing || runLength === MAX_BLOCKS_PER_REQUEST)) {
        this.request(runStart, runLength, pinned);
        runStart = missing ? b : -1;
      }
    }
  }

  private request(first: number, count: number, pinned: boolean): void {
    const controller = new AbortController();
    const request: Request = { first, count, controller, pinned, done: Promise.resolve() };
    request.done = this.search({ ...this.query, offset: first * BLOCK, limit: count * BLOCK }, controller.signal)
      .then((answer) => {
        if (!controller.signal.aborted && !this.disposed) this.store(first, count, answer);
      })
      .catch((e) => {
        if (!isAbort(e) && !this.disposed) this.fail(e);
      })
      .finally(() => {
        for (let b = first; b < first + count; b++) if (this.inflight.get(b) === request) this.inflight.delete(b);
      });
    for (let b = first; b < first + count; b++) this.inflight.set(b, request);
  }

  private abort(request: Request): void {
    request.controller.abort();
    for (let b = request.first; b < request.first + request.count; b++) {
      if (this.inflight.get(b) === request) this.inflight.delete(b);
    }
  }

  private store(first: number, count: number, answer: RunSearchResponse): void {
    this.total = answer.total;
    this.error = null;
    for (let i = 0; i < count; i++) {
      const rows = answer.runs.slice(i * BLOCK, (i + 1) * BLOCK);
      if (rows.length || (first + i) * BLOCK < answer.total) this.blocks.set(first + i, rows);
      else this.blocks.delete(first + i);
    }
    this.evict(first, first + count - 1);
    this.changed();
  }

  private fail(e: unknown): void {
    this.error = e;
    this.changed();
  }

  /**
   * Keeps at most `maxBlocks` blocks, dropping those farthest from what is wanted (never the
   * ones wanted, nor blocks `keepFirst..keepLast`, which just arrived).
   */
  private evict(keepFirst: number, keepLast: number): void {
    if (this.blocks.size <= this.maxBlocks) return;
    const { first, last } = this.wanted;
    const center = (first + last) / 2;
    const droppable = [...this.blocks.keys()]
      .filter((b) => (b < first || b > last) && (b < keepFirst || b > keepLast))
      .sort((a, b) => Math.abs(b - center) - Math.abs(a - center));
    for (const b of droppable.slice(0, this.blocks.size - this.maxBlocks)) this.blocks.delete(b);
  }

  private changed(): void {
    this.version++;
    this.onChange();
  }
}
