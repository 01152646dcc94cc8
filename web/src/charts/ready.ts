/**
 * "First screen drawn" detection for a grid of lazily drawn charts: the charts on screen when
 * the grid appears register (in one batch, from the shared IntersectionObserver), and once each
 * of them has drawn its data (or found it has none, or failed) `onReady` runs, once.
 */
export class ReadyTracker {
  private pending = new Set<string>();
  private started = false;
  private done = false;

  constructor(private readonly onReady: () => void) {}

  /** A chart is on screen and about to load. */
  visible(key: string): void {
    if (this.done) return;
    this.pending.add(key);
    this.started = true;
  }

  /** A chart has drawn (or given up). */
  drawn(key: string): void {
    if (this.done || !this.pending.delete(key)) return;
    if (this.started && this.pending.size === 0) this.finish();
  }

  /** Nothing to wait for (no charts at all). */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.onReady();
  }
}
