/**
 * "First screen drawn" detection for a grid of lazily drawn charts. Each chart reports whether
 * it is on screen when first observed (the shared IntersectionObserver reports every chart of
 * the grid in one batch); once each chart that was on screen has drawn its data (or found it has
 * none, or failed) `onReady` runs, once. When none was on screen, it runs right after the batch.
 */
export class ReadyTracker {
  private pending = new Set<string>();
  private started = false;
  private settling = false;
  private done = false;

  constructor(
    private readonly onReady: () => void,
    private readonly schedule: (fn: () => void) => void = (fn) => setTimeout(fn, 0),
  ) {}

  /** A chart was first observed, on screen or not. */
  report(key: string, visible: boolean): void {
    if (this.done) return;
    if (visible) {
      this.pending.add(key);
      this.started = true;
    }
    if (!this.settling) {
      this.settling = true;
      this.schedule(() => {
        if (!this.started) this.finish();
      });
    }
  }

  /** A chart has drawn (or given up). */
  drawn(key: string): void {
    if (this.done || !this.pending.delete(key)) return;
    if (this.pending.size === 0) this.finish();
  }

  /** Nothing (more) to wait for. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.onReady();
  }
}
