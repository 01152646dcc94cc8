// Browser tests of the app shell: the server serves the UI at `/` and at deep links, the theme
// toggle switches and remembers the theme, and walking through the main views logs no console
// error and no failed request.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertNoProblems, newPage, suite, waitForMark } from "./harness.mjs";

const ctx = suite();

test("the server serves the UI at / and at deep links", async () => {
  const run = ctx.seed.sweep.runs[0];
  const paths = ["/", `/experiments/${ctx.seed.sweep.experiment_id}`, `/runs/${run.id}`, `/compare?runs=${run.id}`];
  for (const path of paths) {
    const response = await fetch(ctx.url + path);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get("content-type"), /text\/html/, path);
    assert.match(await response.text(), /id="app"/, path);
  }
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/runs/${run.id}`);
  assert.equal((await page.locator('[data-testid="run-name"]').textContent()).trim(), run.name);
  await page.goto(`${ctx.url}/experiments/${ctx.seed.sweep.experiment_id}`);
  await waitForMark(page, "cairn:runs:rows");
  assert.equal(await page.locator('[data-testid="run-row"]').count(), ctx.seed.sweep.runs.length);
  assertNoProblems(page);
  await page.close();
});

test("the theme toggle switches data-theme and remembers it", async () => {
  const page = await newPage(ctx.browser);
  await page.goto(ctx.url + "/");
  const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
  const start = await theme();
  assert.ok(start === "light" || start === "dark");
  const other = start === "light" ? "dark" : "light";
  const toggle = page.locator('button[aria-label="Toggle theme"]');
  await toggle.click();
  assert.equal(await theme(), other);
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const otherBackground = await background();
  await page.reload();
  assert.equal(await theme(), other, "kept after a reload");
  await toggle.click();
  assert.equal(await theme(), start);
  assert.notEqual(await background(), otherBackground, "the page's colors change with the theme");
  assertNoProblems(page);
  await page.close();
});

test("walking through the main views logs no errors and no failed requests", async () => {
  const { sweep } = ctx.seed;
  const page = await newPage(ctx.browser);
  await page.goto(ctx.url + "/");
  await waitForMark(page, "cairn:experiments:ready");
  await page.click(`[data-testid="experiment-row"][data-experiment-id="${sweep.experiment_id}"] a`);
  await waitForMark(page, "cairn:runs:rows");
  const first = sweep.runs[0].id;
  await page.locator(`[data-testid="run-row"][data-run-id="${first}"] a[href="/runs/${first}"]`).first().click();
  await page.waitForSelector('[data-testid="run-name"]');
  for (const tab of ["charts", "artifacts", "environment", "overview"]) {
    await page.click(`[data-testid="tab-${tab}"]`);
    await page.waitForURL((url) => tab === "overview" || url.search.includes(`tab=${tab}`));
    await page.waitForLoadState("networkidle");
  }
  await page.goBack();
  await page.goto(`${ctx.url}/compare?runs=${sweep.runs.map((r) => r.id).join(",")}`);
  await waitForMark(page, "cairn:compare:ready");
  await page.waitForLoadState("networkidle");
  assert.equal(await page.locator('[data-testid="compare-chart"][data-key="loss"]').getAttribute("data-series"), "6");
  // The same view on a log scale (its own y mapping in the many-runs line drawing).
  await page.goto(`${ctx.url}/compare?runs=${sweep.runs.map((r) => r.id).join(",")}&log=1`);
  await waitForMark(page, "cairn:compare:ready");
  await page.waitForLoadState("networkidle");
  assert.equal(await page.locator('[data-testid="compare-chart"][data-key="loss"]').getAttribute("data-series"), "6");
  assertNoProblems(page);
  await page.close();
});
