// Browser tests of the model registry pages and the lineage graph: the models list, a model's
// versions with stages and aliases, the lineage of a version traced back to its run and data,
// and click-through from the graph to the run page's lineage tab.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertNoProblems, newPage, screenshot, suite, texts } from "./harness.mjs";

const ctx = suite();
const node = (page, id) => page.locator(`[data-testid="lineage-node"][data-id="${id}"]`);

test("the models list links to a model's versions, aliases and stages", async () => {
  const seeded = ctx.seed.models;
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/`);
  await page.getByRole("link", { name: "Models", exact: true }).click();
  await page.waitForSelector('[data-testid="model-row"]');
  const row = page.locator(`[data-testid="model-row"][data-name="${seeded.name}"]`);
  assert.match(await row.textContent(), /v2/);
  assert.match(await row.textContent(), /champion → v2/);
  await screenshot(page, "models");

  // The name filter narrows the list and lives in the URL.
  await page.fill('input[aria-label="Filter models by name"]', "no-such-model");
  await page.waitForSelector('[data-testid="models-empty"]');
  assert.match(page.url(), /[?&]q=no-such-model/);
  await page.fill('input[aria-label="Filter models by name"]', "e2e");
  await row.waitFor();

  await row.getByRole("link", { name: seeded.name }).click();
  await page.waitForSelector('[data-testid="version-row"]');
  assert.equal((await page.textContent('[data-testid="model-name"]')).trim(), seeded.name);
  const versions = await page.$$eval('[data-testid="version-row"]', (rows) => rows.map((r) => r.dataset.version));
  assert.deepEqual(versions, ["2", "1"]);
  const first = await texts(page, '[data-testid="version-row"][data-version="1"] td');
  assert.equal(first[1], "Production");
  const second = await texts(page, '[data-testid="version-row"][data-version="2"] td');
  assert.equal(second[2], "@champion");
  assertNoProblems(page);
  await page.close();
});

test("a version's lineage reaches its run and data, and a click opens the run's lineage", async () => {
  const seeded = ctx.seed.models;
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/models/${seeded.name}?version=1&ldir=upstream`);
  await node(page, `model_version:${seeded.name}/1`).waitFor();
  for (const id of [`model:${seeded.model_id}`, `run:${seeded.run_id}`, `dataset:${seeded.dataset}`]) {
    await node(page, id).waitFor();
  }
  assert.match(await node(page, `run:${seeded.run_id}`).textContent(), /trainer/);
  const edges = await page.$$eval('[data-testid="lineage-edge"]', (paths) => paths.map((p) => `${p.dataset.from}>${p.dataset.to}`));
  assert.ok(edges.includes(`dataset:${seeded.dataset}>run:${seeded.run_id}`), edges.join(" "));
  // Upstream only: the other version (a sibling) is not shown.
  assert.equal(await node(page, `model_version:${seeded.name}/2`).count(), 0);
  await screenshot(page, "model-lineage");

  await node(page, `run:${seeded.run_id}`).click();
  await page.waitForSelector('[data-testid="run-name"]');
  assert.match(page.url(), new RegExp(`/runs/${seeded.run_id}\\?tab=lineage`));
  // Around the run, both ways: the data upstream, the model and both versions downstream.
  await node(page, `model_version:${seeded.name}/2`).waitFor();
  await node(page, `dataset:${seeded.dataset}`).waitFor();
  const centre = node(page, `run:${seeded.run_id}`);
  assert.match(await centre.getAttribute("class"), /lg-centre/);

  // A dataset re-centres the graph on itself.
  await node(page, `dataset:${seeded.dataset}`).click();
  await page.waitForSelector('h1:text("Lineage")');
  await node(page, `run:${seeded.run_id}`).waitFor();
  assert.match(page.url(), /\/lineage\?node=dataset/);
  assertNoProblems(page);
  await page.close();
});

test("an unknown model answers a clear not-found page", async () => {
  const page = await newPage(ctx.browser);
  page.allowProblem(/\/api\/v1\/registered-models\/no-such-model/);
  await page.goto(`${ctx.url}/models/no-such-model`);
  await page.getByText("Model not found").waitFor();
  assertNoProblems(page);
  await page.close();
});
