// Browser tests of the run page: a deep link loads it directly, the charts draw every logged
// step, and the artifact browser previews the seeded image and text file (and which other run
// holds the same bytes).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertNoProblems, markCount, newPage, screenshot, suite, switchTheme, waitForMark } from "./harness.mjs";

const ctx = suite();
const chart = (page, key) => page.locator(`[data-testid="metric-chart"][data-key="${key}"]`);

/** Waits until the chart of `key` reports drawing `points` points. */
async function waitForPoints(page, key, points) {
  await page.waitForFunction(
    ([k, n]) => document.querySelector(`[data-testid="metric-chart"][data-key="${k}"]`)?.dataset.points === String(n),
    [key, points],
  );
}

test("a run deep link shows the run, its charts draw every logged step", async () => {
  const run = ctx.seed.sweep.runs[0];
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/runs/${run.id}`);
  await page.waitForSelector('[data-testid="run-name"]');
  assert.equal((await page.textContent('[data-testid="run-name"]')).trim(), run.name);
  assert.match(await page.textContent('[data-testid="run-status"]'), /finished/i);
  await page.getByText(run.lr, { exact: true }).first().waitFor();
  await screenshot(page, "run-overview");

  await page.click('[data-testid="tab-charts"]');
  await waitForMark(page, "cairn:run:ready");
  for (const key of ["loss", "accuracy"]) await waitForPoints(page, key, ctx.seed.steps);
  assert.equal(await chart(page, "loss").getAttribute("data-points"), String(ctx.seed.steps));
  assert.match(page.url(), /[?&]tab=charts/);
  await screenshot(page, "run-charts");

  await switchTheme(page, "dark");
  await screenshot(page, "run-charts-dark");
  await switchTheme(page, "light");
  assertNoProblems(page);
  await page.close();
});

test("the charts tab loads directly from its URL and a drag zooms in", async () => {
  const run = ctx.seed.sweep.runs[2];
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/runs/${run.id}?tab=charts`);
  await waitForMark(page, "cairn:run:ready");
  await waitForPoints(page, "loss", ctx.seed.steps);
  assert.equal(await page.locator('[data-testid="metric-chart"]').count(), 2);

  // Dragging across a quarter of the x axis zooms in: fewer of the points are drawn.
  const box = await chart(page, "loss").locator("canvas").first().boundingBox();
  const before = await markCount(page, "cairn:chart:zoomed");
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await waitForMark(page, "cairn:chart:zoomed", { after: before });
  const zoomed = Number(await chart(page, "loss").getAttribute("data-points"));
  assert.ok(zoomed > 5 && zoomed < ctx.seed.steps / 2, `${zoomed} points drawn after zooming to a quarter`);
  assertNoProblems(page);
  await page.close();
});

test("the artifact browser previews an image and a text file", async () => {
  const run = ctx.seed.sweep.runs[0];
  const { image, text } = ctx.seed;
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/runs/${run.id}`);
  await page.click('[data-testid="tab-artifacts"]');
  await page.waitForSelector('[data-testid="artifact-tree"]');
  await openEntry(page, image.path);
  const img = page.locator('[data-testid="artifact-preview"] img');
  await img.waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="artifact-preview"] img')?.complete);
  const size = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
  assert.deepEqual(size, [image.width, image.height]);
  await screenshot(page, "run-artifacts-image");

  await openEntry(page, text.path);
  await page.locator('[data-testid="artifact-preview"]', { hasText: "Seeded by web/e2e/seed.py." }).waitFor();
  // The same bytes in sweep-1: stored once, and the preview links to the other run.
  const shared = page.locator('[data-testid="artifact-shared"]');
  await shared.waitFor();
  assert.match(await shared.locator("summary").innerText(), /also in 1 other run$/);
  await shared.locator("summary").click();
  const other = ctx.seed.sweep.runs[1].id;
  assert.equal(await shared.locator(`a[href^="/runs/${other}"]`).count(), 1);
  assert.match(await shared.innerText(), /copied\/readme\.txt/);
  await screenshot(page, "run-artifacts-shared");
  assertNoProblems(page);
  await page.close();
});

/** Clicks the artifact entry at `path`, expanding its parent folders first when they are closed. */
async function openEntry(page, path) {
  const entry = (p) => page.locator(`[data-testid="artifact-entry"][data-path="${p}"]`);
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    const shown = (await entry(parts.slice(0, i + 1).join("/")).count()) > 0;
    if (!shown) await entry(parts.slice(0, i).join("/")).first().click();
  }
  await entry(path).first().click();
}

test("a comment posted on the run page shows as markdown and can be edited and deleted", async () => {
  const run = ctx.seed.sweep.runs[3];
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/runs/${run.id}`);
  await page.waitForSelector('textarea[aria-label="New comment"]');
  await page.fill('textarea[aria-label="New comment"]', "Loss **plateaus** here, @ada");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  const comment = page.locator('[data-testid="comment"]').first();
  await comment.locator("strong", { hasText: "plateaus" }).waitFor();
  await comment.getByRole("button", { name: "Edit" }).click();
  await page.fill('textarea[aria-label="Edit comment"]', "Loss recovers later");
  await comment.getByRole("button", { name: "Save" }).click();
  await comment.getByText("Loss recovers later").waitFor();
  assert.match(await comment.textContent(), /edited/);
  page.once("dialog", (dialog) => dialog.accept());
  await comment.getByRole("button", { name: "Delete" }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="comment"]').length === 0);
  // The run's history: the seed created it and finished it.
  await page.locator("summary", { hasText: "Activity" }).click();
  await page.locator('[data-testid="activity"] li', { hasText: "status FINISHED" }).waitFor();
  await page.locator('[data-testid="activity"] li', { hasText: "created" }).waitFor();
  assertNoProblems(page);
  await page.close();
});

test("an annotation added under the charts is drawn on its metric's chart", async () => {
  const run = ctx.seed.sweep.runs[4];
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/runs/${run.id}?tab=charts`);
  await waitForPoints(page, "loss", ctx.seed.steps);
  await page.selectOption('select[aria-label="Annotation metric"]', "loss");
  await page.fill('input[aria-label="Annotation step"]', "40");
  await page.fill('input[aria-label="Annotation text"]', "lr decay");
  await page.getByRole("button", { name: "Annotate" }).click();
  await page.locator('[data-testid="annotation"]', { hasText: "lr decay" }).waitFor();
  await page.waitForFunction(() => {
    const chart = document.querySelector('[data-testid="metric-chart"][data-key="loss"] .line-chart');
    return chart?.dataset.markers === "1";
  });
  const accuracy = await page.$eval('[data-testid="metric-chart"][data-key="accuracy"] .line-chart', (el) => el.dataset.markers);
  assert.equal(accuracy, "0");
  await screenshot(page, "run-annotation");
  await page.getByRole("button", { name: "Delete annotation lr decay" }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="annotation"]').length === 0);
  assertNoProblems(page);
  await page.close();
});
