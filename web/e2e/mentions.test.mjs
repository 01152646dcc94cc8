// Browser tests of the mentions page on a server started with --auth (its own server, not the
// shared one): ada comments "look @bob" on a public experiment; bob follows the Mentions nav link,
// sees the comment (author, rendered body) and its link takes him to the experiment.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertNoProblems, cairnCli, launchBrowser, newPage, screenshot, startServer } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const EXPERIMENT = "mentioned-experiment";
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
async function as(username, method, path, body) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      Authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString("base64")}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

test("bob finds ada's @mention on the Mentions page and follows it to the experiment", async () => {
  const created = await as("ada", "POST", "/api/v1/experiments", {
    name: EXPERIMENT,
    tags: [{ key: "cairn.visibility", value: "public" }],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const experimentId = created.body.experiment.experiment_id;
  const comment = await as("ada", "POST", `/api/v1/experiments/${experimentId}/comments`, { body: "look @bob" });
  assert.ok(comment.status === 200 || comment.status === 201, JSON.stringify(comment.body));
  // The API answers bob's mentions (and not ada's).
  const mine = await as("bob", "GET", "/api/v1/mentions");
  assert.equal(mine.status, 200);
  assert.deepEqual(
    mine.body.comments.map((c) => [c.author, c.body, c.target.kind, c.target.id]),
    [["ada", "look @bob", "experiment", experimentId]],
  );
  assert.deepEqual((await as("ada", "GET", "/api/v1/mentions")).body.comments, []);

  const page = await newPage(browser);
  page.allowProblem(/401/);
  await page.goto(`${server.url}/`);
  await page.waitForSelector('[data-testid="login-form"]');
  await page.fill('input[name="username"]', "bob");
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="signed-in-as"]');

  await page.getByRole("link", { name: "Mentions", exact: true }).click();
  await page.waitForURL(/\/mentions$/);
  const mention = page.locator('[data-testid="mention"]');
  await mention.first().waitFor();
  assert.equal(await mention.count(), 1);
  assert.equal(await mention.locator("strong").first().textContent(), "ada");
  assert.equal((await mention.locator(".markdown").textContent()).trim(), "look @bob");
  assert.equal(await page.textContent('[data-testid="mentions-count"]'), "1 comment");
  // One comment: no older page to ask for.
  assert.equal(await page.locator('[data-testid="mentions-older"]').count(), 0);
  await screenshot(page, "mentions");

  // The page survives a reload (the server answers the route with the UI).
  await page.reload();
  await mention.first().waitFor();

  const link = mention.locator(`a[href="/experiments/${experimentId}"]`);
  await link.click();
  await page.waitForURL(new RegExp(`/experiments/${experimentId}$`));
  await page.getByRole("heading", { name: new RegExp(EXPERIMENT) }).waitFor();
  assertNoProblems(page);
  await page.close();
});
