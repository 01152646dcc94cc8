// Browser tests of the experiments list: the seeded experiments are listed, the search narrows
// them, a click opens the experiment's runs table, and a new experiment can be created.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertNoProblems, newPage, rowIds, screenshot, suite, texts, waitForMark } from "./harness.mjs";

const ctx = suite();
const names = (page) => texts(page, '[data-testid="experiment-row"] a');

test("the experiments list shows the seeded experiments and opens one", async () => {
  const page = await newPage(ctx.browser);
  await page.goto(ctx.url + "/");
  await waitForMark(page, "cairn:experiments:ready");
  await page.waitForSelector('[data-testid="experiment-row"]');
  const listed = await names(page);
  for (const name of ["e2e-sweep", "e2e-live", "Default"]) assert.ok(listed.includes(name), `${name} in ${listed}`);
  const sweepRow = page.locator(`[data-testid="experiment-row"][data-experiment-id="${ctx.seed.sweep.experiment_id}"]`);
  assert.equal((await sweepRow.locator("a").first().textContent()).trim(), "e2e-sweep");
  const cells = (await sweepRow.locator("td").allTextContents()).map((t) => t.trim());
  assert.ok(cells.includes("6"), `a cell counts the experiment's 6 runs: ${cells}`);
  await screenshot(page, "experiments-list");

  await page.fill('[data-testid="experiment-search"]', "sweep");
  await page.press('[data-testid="experiment-search"]', "Enter");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="experiment-row"]').length === 1);
  assert.deepEqual(await names(page), ["e2e-sweep"]);

  await sweepRow.locator("a").first().click();
  await page.waitForURL(`**/experiments/${ctx.seed.sweep.experiment_id}**`);
  await waitForMark(page, "cairn:runs:rows");
  await page.waitForSelector('[data-testid="run-row"]');
  const ids = await rowIds(page);
  assert.deepEqual([...ids].sort(), ctx.seed.sweep.runs.map((r) => r.id).sort());
  assert.match(await page.textContent('[data-testid="runs-total"]'), /\b6\b/);
  assertNoProblems(page);
  await page.close();
});

test("a new experiment can be created from the list", async () => {
  const page = await newPage(ctx.browser);
  await page.goto(ctx.url + "/");
  await waitForMark(page, "cairn:experiments:ready");
  await page.click('[data-testid="experiment-create"]');
  await page.fill('[data-testid="experiment-name"]', "e2e-created");
  await page.click('[data-testid="experiment-create-submit"]');
  await page.locator('[data-testid="experiment-row"] a', { hasText: /^e2e-created$/ }).waitFor();
  const response = await fetch(ctx.url + "/api/v1/experiments?filter=" + encodeURIComponent("name = 'e2e-created'"));
  const { experiments } = await response.json();
  assert.equal(experiments.length, 1);
  assertNoProblems(page);
  await page.close();
});
