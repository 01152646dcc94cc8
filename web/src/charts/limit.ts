/**
 * A concurrency limit for chart fetches: at most `n` requests in flight (browsers allow six per
 * host over HTTP/1.1; more would only queue behind each other and delay the first charts).
 * Tasks start in the order they were queued; a task whose signal was aborted while it waited
 * is dropped without running.
 */
export type Limiter = <T>(task: () => Promise<T>, signal?: AbortSignal) => Promise<T>;

export function createLimiter(n: number): Limiter {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    if (active >= n) return;
    const start = queue.shift();
    if (start) start();
  };
  return <T>(task: () => Promise<T>, signal?: AbortSignal) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        if (signal?.aborted) {
          reject(signal.reason ?? new DOMException("Aborted", "AbortError"));
          next();
          return;
        }
        active++;
        task()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      });
      next();
    });
}

/** The limit shared by every chart on the page. */
export const chartFetches: Limiter = createLimiter(6);
