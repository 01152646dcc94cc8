// Browser tests of the runs table: filtering (and the inline error of a bad filter), sorting by a
// metric column, comparing two selected runs, and the compare view's band mode zooming in.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertNoProblems,
  markCount,
  newPage,
  rowIds,
  screenshot,
  suite,
  switchTheme,
  waitForMark,
} from "./harness.mjs";

const ctx = suite();

/** Opens the sweep experiment's runs table and waits for its rows. */
async function openTable() {
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/experiments/${ctx.seed.sweep.experiment_id}`);
  await waitForMark(page, "cairn:runs:rows");
  await page.waitForSelector('[data-testid="run-row"]');
  return page;
}

/** Applies `filter` (typed, then Enter) and waits for the table's next result. */
async function applyFilter(page, filter) {
  const before = await markCount(page, "cairn:runs:rows");
  await page.fill('[data-testid="runs-filter"]', filter);
  await page.press('[data-testid="runs-filter"]', "Enter");
  await waitForMark(page, "cairn:runs:rows", { after: before });
}

const idsBy = (predicate) =>
  ctx.seed.sweep.runs
    .filter(predicate)
    .map((r) => r.id)
    .sort();

test("a filter narrows the rows and the total", async () => {
  const page = await openTable();
  await screenshot(page, "runs-table");
  await switchTheme(page, "dark");
  await screenshot(page, "runs-table-dark");
  await switchTheme(page, "light");

  await applyFilter(page, "metrics.loss < 0.5");
  const ids = await rowIds(page);
  assert.deepEqual([...ids].sort(), idsBy((r) => r.loss < 0.5));
  assert.equal(ids.length, 3);
  assert.match(await page.textContent('[data-testid="runs-total"]'), /\b3\b/);

  await applyFilter(page, "params.batch_size = '32' AND tags.team = 'nlp'");
  assert.deepEqual([...(await rowIds(page))].sort(), idsBy((r, i) => i >= 3 && i % 2 === 1));
  assertNoProblems(page);
  await page.close();
});

test("a bad filter shows an inline error, a good one clears it", async () => {
  const page = await openTable();
  // The server answers the bad filter with a 400; the browser logs it as a console error.
  page.allowProblem(/\/api\/v1\/runs\/search/);
  await page.fill('[data-testid="runs-filter"]', "metrics.loss <<< 1");
  await page.press('[data-testid="runs-filter"]', "Enter");
  const error = page.locator('[data-testid="runs-filter-error"]');
  await error.waitFor({ state: "visible" });
  assert.ok((await error.textContent()).trim().length > 0, "the error says something");

  await applyFilter(page, "metrics.loss > 0.5");
  await error.waitFor({ state: "hidden" });
  assert.equal((await rowIds(page)).length, 3);
  assertNoProblems(page);
  await page.close();
});

test("clicking a metric column header sorts by it, again reverses", async () => {
  const page = await openTable();
  const byLoss = [...ctx.seed.sweep.runs].sort((a, b) => a.loss - b.loss).map((r) => r.id);
  const header = page.locator('[data-testid="col-header"][data-col="metrics.loss"]');

  let before = await markCount(page, "cairn:runs:rows");
  await header.click();
  await waitForMark(page, "cairn:runs:rows", { after: before });
  const first = await rowIds(page);
  assert.ok(
    JSON.stringify(first) === JSON.stringify(byLoss) || JSON.stringify(first) === JSON.stringify([...byLoss].reverse()),
    `rows ordered by loss: ${first}`,
  );

  before = await markCount(page, "cairn:runs:rows");
  await header.click();
  await waitForMark(page, "cairn:runs:rows", { after: before });
  assert.deepEqual(await rowIds(page), [...first].reverse());
  const lowest = ctx.seed.sweep.runs.find((r) => r.id === byLoss[0]);
  assert.equal(lowest.name, "sweep-1");
  assertNoProblems(page);
  await page.close();
});

test("two selected runs open the compare view", async () => {
  const page = await openTable();
  const [a, b] = ctx.seed.sweep.runs; // same optimizer and batch size, different lr
  const boxes = [a, b].map((run) =>
    page.locator(`[data-testid="run-row"][data-run-id="${run.id}"] [data-testid="run-select"]`),
  );
  for (const box of boxes) await box.click();
  // Checked as the user sees it; asserted at the end so the compare view is tested either way.
  const shownChecked = await Promise.all(boxes.map((box) => box.isChecked()));
  await page.click('[data-testid="compare-button"]');
  await page.waitForURL("**/compare?**");
  const runs = new URL(page.url()).searchParams.get("runs").split(",");
  assert.deepEqual([...runs].sort(), [a.id, b.id].sort());

  await waitForMark(page, "cairn:compare:ready");
  const chart = page.locator('[data-testid="compare-chart"][data-key="loss"]');
  await chart.waitFor();
  assert.equal(await chart.getAttribute("data-series"), "2");

  // A click pins every run's value at that step beside the chart; Escape unpins it.
  const canvas = await chart.locator("canvas").first().boundingBox();
  await page.mouse.click(canvas.x + canvas.width * 0.5, canvas.y + canvas.height * 0.5);
  const pinned = chart.locator('[data-testid="chart-pinned"]');
  await pinned.waitFor({ state: "visible" });
  assert.match(await pinned.locator(".chart-tooltip-title").textContent(), /2 runs/);
  assert.equal(await pinned.locator(".chart-tooltip-row").count(), 2);
  await screenshot(page, "compare-pinned");
  await page.keyboard.press("Escape");
  await pinned.waitFor({ state: "hidden" });

  // The diff lists differing params in their own section (lr) and folds constant ones away.
  await page.locator('[data-testid="params-diff"]').waitFor();
  const sections = await diffSections(page);
  assert.deepEqual(sections["Differing params"], ["lr"]);
  const constant = await page.locator("details", { hasText: "Constant params" }).textContent();
  assert.match(constant, /optimizer/);
  assert.match(constant, /batch_size/);
  await screenshot(page, "compare");
  assertNoProblems(page);
  assert.deepEqual(shownChecked, [true, true], "the clicked checkboxes show as checked");
  await page.close();
});

test("compare in band mode: a drag zoom fetches the bands of the range", async () => {
  const runs = ctx.seed.sweep.runs.map((r) => r.id).join(",");
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/compare?runs=${runs}&bands=1`);
  await waitForMark(page, "cairn:compare:ready");
  const chart = page.locator('[data-testid="compare-chart"][data-key="loss"]');
  assert.equal(await chart.getAttribute("data-series"), String(ctx.seed.sweep.runs.length));
  await page.waitForLoadState("networkidle");

  const box = await chart.locator("canvas").first().boundingBox();
  const refetch = page.waitForRequest(
    (r) => r.url().endsWith("/api/v1/compare") && /"bands":\{[^}]*"metric":"loss"[^}]*"from":/.test(r.postData() ?? ""),
  );
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const request = await refetch;
  const asked = JSON.parse(request.postData()).bands;
  assert.ok(asked.from < asked.to, `bands of [${asked.from}, ${asked.to}]`);
  const answer = await (await request.response()).json();
  assert.ok(answer.groups.length > 0 && answer.groups.every((g) => g.band.start.every((s) => s >= asked.from - answer.bands.width)));
  assert.ok(answer.bands.from <= asked.from && answer.bands.to >= asked.to);
  assert.match(page.url(), /zoom=/);
  assertNoProblems(page);
  await page.close();
});

test("a parallel-coordinates brush in the link is restored, and clearing it leaves the URL", async () => {
  const runs = ctx.seed.sweep.runs;
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.url}/compare?runs=${runs.map((r) => r.id).join(",")}&pcm=loss&pcb=metrics.loss:0:1`);
  await waitForMark(page, "cairn:compare:ready");
  const section = page.locator("#cp-parallel");
  await section.getByText(`${runs.length} of ${runs.length} runs in the brushed ranges`).waitFor();
  await section.getByRole("button", { name: "Clear brushes" }).click();
  await section.getByText("Drag along an axis to filter runs").waitFor();
  assert.doesNotMatch(page.url(), /pcb=/);
  assertNoProblems(page);
  await page.close();
});

/** The row headers of the params-diff table under each of its section rows (by section title). */
function diffSections(page) {
  return page.$eval('[data-testid="params-diff"]', (table) => {
    const out = {};
    let section = "";
    for (const tr of table.querySelectorAll("tbody tr")) {
      const only = tr.cells.length === 1 && tr.cells[0].colSpan > 1 ? tr.cells[0] : null;
      if (only && tr.querySelector("th") === null && !only.classList.contains("muted")) {
        section = only.textContent.trim();
        out[section] = [];
      } else if (tr.querySelector("th")) out[section]?.push(tr.querySelector("th").textContent.trim());
    }
    return out;
  });
}
