// Browser test of a registered model's access on a server started with --auth: ada registers a
// model through the API (it lands in her personal team, visible to that team only), opens it on
// the model page and makes it public from the Access control; bob, who could not see it before,
// reads it afterwards. What the server stored is checked through the API.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertNoProblems, cairnCli, launchBrowser, newPage, screenshot, startServer } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const MODEL = "churn-classifier";
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

/** A JSON API call with a user's password (Basic authentication). */
async function as(username, path, init = {}) {
  const response = await fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      Authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString("base64")}`,
      ...(init.body ? { "Content-Type": "application/json" } : {}),
    },
  });
  return { status: response.status, body: await response.json() };
}

async function signIn(page, username) {
  await page.goto(`${server.url}/`);
  await page.waitForSelector('[data-testid="login-form"]');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="signed-in-as"]');
}

test("a registered model is made public from its page's Access control", async () => {
  const created = await as("ada", "/api/2.0/mlflow/registered-models/create", {
    method: "POST",
    body: JSON.stringify({ name: MODEL }),
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const getPath = `/api/2.0/mlflow/registered-models/get?name=${encodeURIComponent(MODEL)}`;
  const accessPath = `/api/v1/registered-models/${encodeURIComponent(MODEL)}/access`;
  // Made by a signed-in user: her personal team, visible to that team only; bob does not see it.
  let access = await as("ada", accessPath);
  assert.equal(access.status, 200);
  assert.deepEqual(access.body.access, { name: MODEL, team: "~ada", visibility: "team", permission: "manage" });
  assert.equal((await as("bob", getPath)).status, 404);
  assert.equal((await as("bob", accessPath)).status, 404);

  const page = await newPage(browser);
  page.allowProblem(/401|404/);
  await signIn(page, "ada");
  await page.goto(`${server.url}/models/${encodeURIComponent(MODEL)}`);
  await page.waitForSelector('[data-testid="model-name"]');
  await page.locator('[data-testid="access-button"]').click();
  await page.waitForSelector('[data-testid="access-panel"]');
  await page.waitForSelector('[data-testid="access-permission"][data-permission="manage"]');
  assert.match(await page.textContent('[data-testid="access-permission"]'), /manage this model/);
  // The owning team is offered among ada's teams; the visibility is the model's.
  await page.waitForSelector('select[aria-label="Owning team"] option[value="~ada"]', { state: "attached" });
  assert.equal(await page.inputValue('select[aria-label="Owning team"]'), "~ada");
  assert.equal(await page.inputValue('select[aria-label="Visibility"]'), "team");

  await page.selectOption('select[aria-label="Visibility"]', "public");
  await page.waitForFunction(
    async (path) => (await (await fetch(path)).json()).access.visibility === "public",
    accessPath,
  );
  // The panel shows what the server answered.
  await page.waitForFunction(
    () => document.querySelector('select[aria-label="Visibility"]')?.value === "public" &&
      !document.querySelector('select[aria-label="Visibility"]')?.disabled,
  );
  await screenshot(page, "model-access-panel");
  access = await as("ada", accessPath);
  assert.deepEqual(access.body.access, { name: MODEL, team: "~ada", visibility: "public", permission: "manage" });

  // Public: every signed-in user reads it, bob included, without managing it.
  const seen = await as("bob", getPath);
  assert.equal(seen.status, 200);
  assert.equal(seen.body.registered_model.name, MODEL);
  const bobs = await as("bob", accessPath);
  assert.equal(bobs.status, 200);
  assert.equal(bobs.body.access.permission, "read");
  assertNoProblems(page);
  await page.close();
});

test("a reader sees the model's access but no controls", async () => {
  // The browser is one persistent context: drop ada's session cookie first.
  await browser.clearCookies();
  const page = await newPage(browser);
  page.allowProblem(/401|404/);
  await signIn(page, "bob");
  await page.goto(`${server.url}/models/${encodeURIComponent(MODEL)}`);
  await page.waitForSelector('[data-testid="model-name"]');
  await page.locator('[data-testid="access-button"]').click();
  await page.waitForSelector('[data-testid="access-permission"][data-permission="read"]');
  assert.equal((await page.textContent('[data-testid="access-team"]')).trim(), "~ada");
  assert.equal((await page.textContent('[data-testid="access-visibility"]')).trim(), "public");
  assert.equal(await page.locator('select[aria-label="Visibility"]').count(), 0);
  assertNoProblems(page);
  await page.close();
});
