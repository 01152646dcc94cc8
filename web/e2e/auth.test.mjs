// Browser tests of sign-in on a server started with --auth (its own server, not the shared one):
// the app asks for credentials, a wrong password is refused in place, signing in shows the app
// and its writes work (the CSRF token rides along), signing out asks again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertNoProblems, cairnCli, launchBrowser, newPage, screenshot, startServer } from "./harness.mjs";

const PASSWORD = "correct horse battery";
let server;
let browser;

before(async () => {
  server = await startServer({
    extraArgs: ["--auth"],
    prepare: (data) => cairnCli(["user", "create", "ada", "--admin", "--password-stdin", "--data", data], PASSWORD + "\n"),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("signing in shows the app, its writes work, signing out asks again", async () => {
  const page = await newPage(browser);
  page.allowProblem(/401/);
  await page.goto(`${server.url}/`);
  await page.waitForSelector('[data-testid="login-form"]');
  await screenshot(page, "login");

  await page.fill('input[name="username"]', "ada");
  await page.fill('input[name="password"]', "wrong password");
  await page.click('button[type="submit"]');
  await page.getByText("Wrong username or password").waitFor();

  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="signed-in-as"]');
  assert.equal((await page.textContent('[data-testid="signed-in-as"]')).trim(), "ada");

  // A write from the UI: create an experiment (a cookie-authenticated POST with the CSRF header).
  await page.getByRole("button", { name: /new experiment/i }).click();
  await page.fill('input[aria-label="Experiment name"]', "made-in-the-browser");
  await page.keyboard.press("Enter");
  await page.getByText("made-in-the-browser").first().waitFor();

  // The session survives a reload (the cookie), and signing out asks again.
  await page.reload();
  await page.waitForSelector('[data-testid="signed-in-as"]');
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForSelector('[data-testid="login-form"]');
  await page.reload();
  await page.waitForSelector('[data-testid="login-form"]');
  assertNoProblems(page);
  await page.close();
});
