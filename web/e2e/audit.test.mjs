// Browser tests of the audit log page on a server started with --auth (its own server, not the
// shared one): an admin's failed and successful sign-ins and a write from the UI show up on
// /admin/audit (the refusal marked), the action-prefix and time filters narrow the list, "Older"
// pages back; a non-admin has no nav link, sees the server's refusal on the page, and the API
// refuses him too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertNoProblems, cairnCli, launchBrowser, newPage, screenshot, startServer } from "./harness.mjs";

const PASSWORD = "correct horse battery";
let server;
let browser;

before(async () => {
  server = await startServer({
    extraArgs: ["--auth"],
    prepare: async (data) => {
      await cairnCli(["user", "create", "ada", "--admin", "--password-stdin", "--data", data], PASSWORD + "\n");
      await cairnCli(["user", "create", "bob", "--password-stdin", "--data", data], PASSWORD + "\n");
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(page, username, password = PASSWORD) {
  await page.goto(`${server.url}/`);
  await page.waitForSelector('[data-testid="login-form"]');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
}

const row = (action) => `[data-testid="audit-row"][data-action="${action}"]`;

/** Waits for a row matching `selector`, pressing Refresh meanwhile (entries are written in batches). */
async function waitForRow(page, selector, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while ((await page.locator(selector).count()) === 0) {
    if (Date.now() > deadline) throw new Error(`no audit row ${selector}`);
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForTimeout(200);
  }
}

/** The rows' actions, in order. */
function actions(page) {
  return page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => r.getAttribute("data-action")));
}

test("an admin reads her sign-ins and writes on the audit page, filters and pages back", async () => {
  const page = await newPage(browser);
  page.allowProblem(/401/);
  // A failed sign-in first (audited with the attempted username), then the real one.
  await signIn(page, "ada", "wrong password");
  await page.getByText("Wrong username or password").waitFor();
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="signed-in-as"]');

  // A write from the UI.
  await page.getByRole("button", { name: /new experiment/i }).click();
  await page.fill('input[aria-label="Experiment name"]', "audited-experiment");
  await page.keyboard.press("Enter");
  await page.getByText("audited-experiment").first().waitFor();

  // The nav link (ada is an admin) opens the page.
  await page.getByRole("link", { name: "Audit", exact: true }).click();
  await page.waitForURL(/\/admin\/audit$/);
  await page.waitForSelector('[data-testid="audit-table"]');
  await waitForRow(page, row("POST /api/v1/experiments"));
  await waitForRow(page, `${row("auth.sign_in")}[data-status="200"]`);

  const write = page.locator(row("POST /api/v1/experiments")).first();
  const cells = await write.locator("td").allTextContents();
  assert.equal(cells[1], "ada");
  assert.equal(cells[3], "/api/v1/experiments");
  assert.equal(cells[4], "201");
  assert.equal(await write.locator(".audit-status-ok").count(), 1);
  // The user agent is cut short on screen, whole in the title.
  const userAgent = await page.evaluate(() => navigator.userAgent);
  const agent = write.locator("td.audit-agent");
  assert.equal(await agent.getAttribute("title"), userAgent);
  assert.ok((await agent.textContent()).length <= 40, "the user agent is truncated");

  // The failed sign-in is there and marked.
  const failed = page.locator(`${row("auth.sign_in")}[data-status="401"]`);
  await failed.waitFor();
  assert.equal((await failed.locator("td").nth(3).textContent()).trim(), "ada");
  assert.equal(await failed.locator(".audit-status-client-error").count(), 1);
  assert.match((await failed.getAttribute("class")) ?? "", /audit-failed/);
  // Newest first.
  const ids = await page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => Number(r.dataset.id)));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
  await screenshot(page, "audit");

  // Only auth entries with the action prefix `auth.`; the filter lands in the URL.
  await page.fill('input[name="action"]', "auth.");
  await page.locator('[data-testid="audit-filters"] button[type="submit"]').click();
  await page.waitForURL(/action=auth\./);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
    return rows.length >= 2 && rows.every((r) => r.getAttribute("data-action").startsWith("auth."));
  });
  assert.ok((await actions(page)).includes("auth.sign_in"));
  // The filtered view survives a reload (the URL holds it; the server answers the route).
  await page.reload();
  await page.waitForSelector('[data-testid="audit-table"]');
  assert.equal(await page.inputValue('input[name="action"]'), "auth.");
  assert.ok((await actions(page)).every((a) => a.startsWith("auth.")));

  // A time range in the future has nothing.
  await page.fill('input[name="since"]', "2099-01-01T00:00");
  await page.locator('[data-testid="audit-filters"] button[type="submit"]').click();
  await page.waitForURL(/since=\d+/);
  await page.waitForSelector('[data-testid="audit-empty"]');
  const since = Number(new URL(page.url()).searchParams.get("since"));
  assert.equal(since, await page.evaluate(() => new Date(2099, 0, 1).getTime()));
  await page.getByRole("button", { name: "Clear" }).click();
  await page.waitForURL(/\/admin\/audit$/);

  // More than a page of entries (refused anonymous requests): "Older" pages back.
  for (let i = 0; i < 110; i++) {
    const response = await fetch(`${server.url}/api/v1/experiments`);
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  }
  // Entries are written every 100 ms; then a fresh load shows a full first page.
  await page.waitForTimeout(500);
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length === 100);
  assert.equal((await actions(page))[0], "auth.denied");
  const firstPage = await page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => Number(r.dataset.id)));
  await page.locator('[data-testid="audit-older"]').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length > 100);
  const all = await page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => Number(r.dataset.id)));
  assert.deepEqual(all.slice(0, 100), firstPage);
  assert.equal(new Set(all).size, all.length, "no entry twice");
  assert.deepEqual(all, [...all].sort((a, b) => b - a));
  assert.ok(all[100] < firstPage[99]);
  // The second page was not full: nothing older to ask for.
  assert.equal(await page.locator('[data-testid="audit-older"]').count(), 0);
  assertNoProblems(page);

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForSelector('[data-testid="login-form"]');
  await page.close();
});

test("a non-admin has no Audit link, sees the refusal on the page, and the API refuses him", async () => {
  const page = await newPage(browser);
  page.allowProblem(/401|403\b.*\/api\/v1\/audit/);
  await browser.clearCookies();
  await signIn(page, "bob");
  await page.waitForSelector('[data-testid="signed-in-as"]');
  assert.equal(await page.getByRole("link", { name: "Audit", exact: true }).count(), 0);

  await page.goto(`${server.url}/admin/audit`);
  await page.getByRole("alert").getByText("Only admins may read the audit log").waitFor();
  assert.equal(await page.locator('[data-testid="audit-table"]').count(), 0);

  const response = await fetch(`${server.url}/api/v1/audit`, {
    headers: { Authorization: `Basic ${Buffer.from(`bob:${PASSWORD}`).toString("base64")}` },
  });
  assert.equal(response.status, 403);
  const body = await response.json();
  assert.equal(body.error_code, "PERMISSION_DENIED");
  assertNoProblems(page);
  await page.close();
});
