// Grouping the runs table by a param or tag at any size. The search is ordered by the group key
// first, so each group is a contiguous range of the result; groups are found from the top as
// far as the view needs: a window of rows shows where values change, and the size of a group
// that runs past the window is one count query (`key = value`, limit 0). The layout interleaves
// one header row per group with its runs (none when collapsed); rows past the groups found so
// far are "pending" until found.
import type { RunRow } from "../../api/client";

export type Group = { value: string | null; start: number; count: number };

/** A group's identity in the collapsed set (null — runs without the key — has its own). */
export function groupId(value: string | null): string {
  return value === null ? "\u0000none" : "=" + value;
}

/** Splits consecutive values (rows from offset `start`) into runs of equal values. */
export function splitGroups(values: ReadonlyArray<string | null>, start: number): Group[] {
  const out: Group[] = [];
  values.forEach((value, i) => {
    const last = out[out.length - 1];
    if (last && last.value === value) last.count++;
    else out.push({ value, start: start + i, count: 1 });
  });
  return out;
}

export type Entry =
  | { kind: "header"; group: number }
  | { kind: "run"; offset: number; group: number }
  | { kind: "pending"; offset: number };

/** The display rows of the groups found so far. */
export class GroupLayout {
  /** Display index of each group's header. */
  private readonly headers: number[] = [];
  /** Display rows the found groups take. */
  private readonly foundRows: number;
  readonly covered: number;

  constructor(
    readonly groups: ReadonlyArray<Group>,
    readonly collapsed: ReadonlySet<string>,
    readonly total: number,
  ) {
    let d = 0;
    for (const g of groups) {
      this.headers.push(d);
      d += 1 + (collapsed.has(groupId(g.value)) ? 0 : g.count);
    }
    this.foundRows = d;
    const last = groups[groups.length - 1];
    this.covered = last ? last.start + last.count : 0;
  }

  /** Display rows in all (pending ones included). */
  get count(): number {
    return this.foundRows + Math.max(0, this.total - this.covered);
  }

  /** Display rows taken by the groups found so far. */
  get found(): number {
    return this.foundRows;
  }

  entry(index: number): Entry {
    if (index >= this.foundRows) return { kind: "pending", offset: this.covered + index - this.foundRows };
    let lo = 0;
    let hi = this.headers.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.headers[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    const header = this.headers[lo];
    if (index === header) return { kind: "header", group: lo };
    return { kind: "run", offset: this.groups[lo].start + index - header - 1, group: lo };
  }
}

/** The source of rows and counts the finder reads. */
export type GroupSource = {
  total: number | null;
  load(start: number, end: number): Promise<void>;
  row(index: number): RunRow | undefined;
  /** How many runs of the search have the group value (null: have no value). */
  count(value: string | null): Promise<number>;
};

/** Rows read per step of the search for group boundaries. */
const STEP = 200;

/** Finds groups from the top, as far as `need()` says, one step at a time. */
export class GroupFinder {
  groups: Group[] = [];
  error: unknown = null;
  private running = false;
  private need: () => boolean = () => false;
  private stopped = false;

  constructor(
    private readonly source: GroupSource,
    private readonly valueOf: (row: RunRow) => string | null,
    private readonly onChange: () => void,
  ) {}

  get covered(): number {
    const last = this.groups[this.groups.length - 1];
    return last ? last.start + last.count : 0;
  }

  get done(): boolean {
    return this.source.total !== null && this.covered >= this.source.total;
  }

  /** Finds groups while `need()` holds (replacing the condition of a search under way). */
  async extend(need: () => boolean): Promise<void> {
    this.need = need;
    if (this.running) return;
    this.running = true;
    try {
      while (!this.stopped && !this.done && this.error === null && this.need()) await this.step();
    } catch (e) {
      if (!this.stopped) {
        this.error = e;
        this.onChange();
      }
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async step(): Promise<void> {
    const start = this.covered;
    if (this.source.total === null) await this.source.load(0, STEP);
    const total = this.source.total ?? 0;
    const end = Math.min(total, start + STEP);
    await this.source.load(start, end);
    if (this.stopped) return;
    const values: Array<string | null> = [];
    for (let i = start; i < end; i++) {
      const row = this.source.row(i);
      if (!row) return; // dropped meanwhile; the next step reloads it
      values.push(this.valueOf(row));
    }
    const found = splitGroups(values, start);
    const last = found[found.length - 1];
    if (last && end < total) last.count = Math.max(last.count, await this.source.count(last.value));
    if (this.stopped) return;
    this.groups = [...this.groups, ...found];
    this.onChange();
  }
}
