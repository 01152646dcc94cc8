// Browser tests of teams and experiment access on a server started with --auth: an admin makes a
// team and adds a member on the Teams pages, then moves an experiment into that team, makes it
// private and shares it from the Access panel above the runs table; what the server stored is
// checked through the API, and the other user's view follows.
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

async function signIn(page, username) {
  await page.goto(`${server.url}/`);
  await page.waitForSelector('[data-testid="login-form"]');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="signed-in-as"]');
}

/** A JSON API call with the page's session cookie (reads only: no CSRF header needed). */
async function api(page, path) {
  return page.evaluate(async (p) => {
    const response = await fetch(p);
    return { status: response.status, body: await response.json() };
  }, path);
}

test("a team is made and filled on the Teams pages, and an experiment is moved, hidden and shared", async () => {
  const page = await newPage(browser);
  page.allowProblem(/401|404/);
  await signIn(page, "ada");

  await page.goto(`${server.url}/teams`);
  await page.fill('input[aria-label="New team name"]', "vision");
  await page.locator('[data-testid="create-team"] button[type="submit"]').click();
  // Creating a team opens its page.
  await page.waitForSelector('[data-testid="team-name"]');
  assert.equal((await page.textContent('[data-testid="team-name"]')).trim(), "vision");
  await page.fill('input[aria-label="Username to add"]', "bob");
  await page.locator('[data-testid="add-member"] button[type="submit"]').click();
  await page.locator('[data-testid="member-row"][data-username="bob"]').waitFor();
  await screenshot(page, "team");
  await page.goto(`${server.url}/teams`);
  await page.locator('[data-testid="team-row"][data-name="vision"]').waitFor();
  const team = await api(page, "/api/v1/teams/vision");
  assert.ok(team.body.team.members.some((m) => m.username === "bob"), "bob was added");

  // An experiment of ada's (her personal team), then moved to vision, private, shared nowhere.
  await page.goto(`${server.url}/`);
  await page.getByRole("button", { name: /new experiment/i }).click();
  await page.fill('input[aria-label="Experiment name"]', "secret-project");
  await page.keyboard.press("Enter");
  await page.getByText("secret-project").first().click();
  await page.waitForURL(/\/experiments\/\d+/);
  const experimentId = page.url().match(/\/experiments\/(\d+)/)[1];
  let access = await api(page, `/api/v1/experiments/${experimentId}/access`);
  assert.equal(access.body.access.team, "~ada");

  await page.locator('[data-testid="access-button"]').click();
  await page.waitForSelector('[data-testid="access-panel"]');
  await page.selectOption('select[aria-label="Owning team"]', "vision");
  await page.waitForFunction(
    async (id) => (await (await fetch(`/api/v1/experiments/${id}/access`)).json()).access.team === "vision",
    experimentId,
  );
  await page.selectOption('select[aria-label="Visibility"]', "private");
  await page.waitForFunction(
    async (id) => (await (await fetch(`/api/v1/experiments/${id}/access`)).json()).access.visibility === "private",
    experimentId,
  );
  await screenshot(page, "access-panel");
  access = await api(page, `/api/v1/experiments/${experimentId}/access`);
  assert.equal(access.body.access.visibility, "private");
  assert.equal(access.body.access.permission, "manage");

  // bob, a viewer of vision, cannot see a private experiment: it does not exist for him.
  // bob's view, through the API with his password.
  const asBob = async (path) => {
    const response = await fetch(`${server.url}${path}`, {
      headers: { Authorization: `Basic ${Buffer.from(`bob:${PASSWORD}`).toString("base64")}` },
    });
    return { status: response.status, body: await response.json() };
  };
  assert.equal((await asBob(`/api/v1/experiments/${experimentId}/access`)).status, 404);

  // Shared with bob's personal team for reading, he sees it.
  await page.fill('input[aria-label="Team to share with"]', "~bob");
  await page.selectOption('select[aria-label="Share level"]', "read");
  await page.locator('[data-testid="add-share"] button[type="submit"]').click();
  await page.locator('[data-testid="access-shares"]').getByText("~bob").waitFor();
  const seen = await asBob(`/api/v1/experiments/${experimentId}/access`);
  assert.equal(seen.status, 200);
  assert.equal(seen.body.access.permission, "read");
  assertNoProblems(page);
  await page.close();
});
