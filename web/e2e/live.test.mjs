// Browser test of live updates: a RUNNING run's chart grows within a second of a point being
// logged through the MLflow REST API (the route the official client uses).
import assert from "node:assert/strict";
import { test } from "node:test";
import { api, assertNoProblems, newPage, streamSubscribed, suite, waitForMark } from "./harness.mjs";

const ctx = suite();
const LIMIT_MS = 1000;

const points = (page) =>
  page.evaluate(() => document.querySelector('[data-testid="metric-chart"][data-key="loss"]')?.dataset.points);

/** Waits (polling every 10 ms) until the loss chart draws at least `n` points. */
const atLeast = (page, n, timeout = 10000) =>
  page.waitForFunction(
    (min) => Number(document.querySelector('[data-testid="metric-chart"][data-key="loss"]')?.dataset.points) >= min,
    n,
    { timeout, polling: 10 },
  );

test("a RUNNING run's chart grows within a second of a logged point", async (t) => {
  const { run_id: runId } = ctx.seed.live;
  const steps = ctx.seed.live_steps;
  const page = await newPage(ctx.browser);
  const subscribed = streamSubscribed(page, runId);
  await page.goto(`${ctx.url}/runs/${runId}?tab=charts`);
  await waitForMark(page, "cairn:run:ready");
  await atLeast(page, steps);
  assert.equal(await points(page), String(steps));
  assert.match(await page.textContent('[data-testid="run-status"]'), /running/i);
  await subscribed;

  const timings = [];
  for (let i = 0; i < 3; i++) {
    const step = steps + i;
    await api(ctx.url, "POST", "/api/2.0/mlflow/runs/log-metric", {
      run_id: runId,
      key: "loss",
      value: 1 / (step + 1),
      timestamp: Date.now(),
      step,
    });
    const logged = performance.now();
    await atLeast(page, step + 1, 5000);
    timings.push(performance.now() - logged);
  }
  assert.equal(await points(page), String(steps + 3));
  const worst = Math.max(...timings);
  const shown = timings.map((t) => t.toFixed(0)).join(", ");
  t.diagnostic(`the chart grew ${shown} ms after each log call returned`);
  assert.ok(worst <= LIMIT_MS, `chart grew after ${shown} ms (limit ${LIMIT_MS})`);
  assertNoProblems(page);
  await page.close();
});
