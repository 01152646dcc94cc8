// Browser-test harness: a real `cairn server` seeded with the official mlflow client, Chromium
// driven by playwright-core, and helpers for the views' perf marks, screenshots and the
// console/network problems every test checks.
//
// One server and one seed serve every test file: `run.mjs` starts them and passes them on in
// CAIRN_E2E_URL / CAIRN_E2E_SEED; a test file run on its own (`node --test e2e/x.test.mjs`)
// starts its own. Environment: CAIRN_BIN (default ../target/debug/cairn), CAIRN_PYTHON
// (default ../.venv/bin/python, with mlflow), CHROMIUM (default /usr/bin/chromium),
// CAIRN_WEB_DIR (serve a built UI folder instead of the binary's embedded copy).
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, "..");
export const SCREENSHOTS = join(WEB, "test-output", "screenshots");
export const CAIRN_BIN = resolve(WEB, process.env.CAIRN_BIN ?? "../target/debug/cairn");
export const CAIRN_PYTHON = resolve(WEB, process.env.CAIRN_PYTHON ?? "../.venv/bin/python");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const execFileP = promisify(execFile);

/**
 * Starts `cairn server --port 0` on a fresh data folder (with `extraArgs`, after `prepare(data)`
 * ran on the folder); resolves once it printed its URL.
 */
export async function startServer({ extraArgs = [], prepare } = {}) {
  const data = mkdtempSync(join(tmpdir(), "cairn-e2e-"));
  if (prepare) await prepare(data);
  const proc = spawn(CAIRN_BIN, ["server", "--port", "0", "--data", data, "--log", "warn", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (chunk) => (log = (log + chunk).slice(-20000)));
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("cairn server printed no URL in 30 s\n" + log)), 30000);
    proc.once("exit", (code) => fail(new Error(`cairn server exited (${code})\n${log}`)));
    proc.once("error", fail);
    createInterface({ input: proc.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const found = line.match(/https?:\/\/\S+/);
      if (found) ok(found[0]);
      else fail(new Error("unexpected first line from cairn server: " + line));
    });
  });
  return {
    url,
    data,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((ok) => proc.once("exit", ok));
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Runs `cairn ARGS…` (e.g. `user create`), feeding `input` on standard input. */
export async function cairnCli(args, input) {
  return new Promise((ok, fail) => {
    const proc = spawn(CAIRN_BIN, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    proc.stdout.on("data", (chunk) => (out += chunk));
    proc.stderr.on("data", (chunk) => (err += chunk));
    proc.once("exit", (code) => (code === 0 ? ok(out.trim()) : fail(new Error(`cairn ${args.join(" ")}: ${err}`))));
    proc.stdin.end(input ?? "");
  });
}

/** Runs a Python script with MLFLOW_TRACKING_URI set to `url`; returns its stdout's JSON. */
export async function runPython(script, url, args = []) {
  const env = { ...process.env, MLFLOW_TRACKING_URI: url };
  const { stdout } = await execFileP(CAIRN_PYTHON, [script, ...args], { env, maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim().split("\n").pop());
}

/** Seeds `url` with web/e2e/seed.py (the official mlflow client); see there for the data. */
export function seed(url) {
  return runPython(join(HERE, "seed.py"), url);
}

/**
 * The server and seed shared by the tests: the ones run.mjs made, or (when a file is run on its
 * own) a fresh server seeded here, stopped when the process exits.
 */
export async function fixture() {
  if (process.env.CAIRN_E2E_URL && process.env.CAIRN_E2E_SEED) {
    return { url: process.env.CAIRN_E2E_URL, seed: JSON.parse(process.env.CAIRN_E2E_SEED), stop: async () => {} };
  }
  const server = await startServer();
  try {
    return { url: server.url, seed: await seed(server.url), stop: () => server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Chromium with a fresh profile folder (removed on close). */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "cairn-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1440, height: 900 },
    colorScheme: "light",
  });
  context.setDefaultTimeout(10000);
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/**
 * A new 1440×900 page whose console errors, page errors and failed requests (status ≥ 400 or
 * no answer) are collected in `page.problems`; `page.allowProblem(re)` excuses the ones a test
 * provokes on purpose.
 */
export async function newPage(context) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1440, height: 900 });
  const problems = [];
  const allowed = [];
  const add = (text) => {
    if (!allowed.some((re) => re.test(text))) problems.push(text);
  };
  page.on("console", (msg) => {
    if (msg.type() === "error") add(`console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on("pageerror", (error) => add(`page error: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400) add(`HTTP ${response.status()} ${response.request().method()} ${response.url()}`);
  });
  page.on("requestfailed", (request) => {
    const failure = request.failure()?.errorText ?? "";
    // Requests cut short by a navigation or a superseded fetch are not failures of the app.
    if (failure !== "net::ERR_ABORTED") add(`request failed: ${request.method()} ${request.url()} ${failure}`);
  });
  page.problems = problems;
  page.allowProblem = (re) => allowed.push(re);
  return page;
}

/** How many times the view has set perf mark `name` so far (0 when never). */
export function markCount(page, name) {
  return page.evaluate((n) => window.__cairnMarks?.[n + ":count"] ?? 0, name);
}

/** Waits until perf mark `name` has been set more than `after` times; returns its time (ms). */
export async function waitForMark(page, name, { after = 0, timeout = 15000 } = {}) {
  await page.waitForFunction(([n, c]) => (window.__cairnMarks?.[n + ":count"] ?? 0) > c, [name, after], {
    timeout,
  });
  return page.evaluate((n) => window.__cairnMarks[n], name);
}

/** Saves a full-viewport screenshot as web/test-output/screenshots/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Switches to `theme` with the header's toggle button (when not already in it). */
export async function switchTheme(page, theme) {
  const current = () => page.evaluate(() => document.documentElement.dataset.theme);
  if ((await current()) !== theme) await page.click('button[aria-label="Toggle theme"]');
  await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
  // Canvas charts redraw on the theme event; give them a frame or two.
  await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
}

/** The ids of the rows the runs table renders, in order. */
export function rowIds(page) {
  return page.$$eval('[data-testid="run-row"]', (rows) => rows.map((r) => r.getAttribute("data-run-id")));
}

/**
 * Resolves when a live-stream WebSocket of `page` has acknowledged a subscription to `runId` (so
 * points written after that reach the page). Call before the navigation that opens the stream.
 */
export function streamSubscribed(page, runId, timeout = 15000) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no live-stream subscription to ${runId} acknowledged`)), timeout);
    page.on("websocket", (ws) => {
      if (!ws.url().includes("/api/v1/stream")) return;
      // Subscribed from the URL: the server's hello confirms it; by a message: its ack.
      const inUrl = ws.url().includes(runId);
      let asked = false;
      ws.on("framesent", (frame) => {
        if (String(frame.payload).includes('"subscribe"') && String(frame.payload).includes(runId)) asked = true;
      });
      ws.on("framereceived", (frame) => {
        const text = String(frame.payload);
        if ((asked && text.includes('"ack"')) || (inUrl && text.includes('"hello"'))) {
          clearTimeout(timer);
          ok();
        }
      });
    });
  });
}

/** A JSON request to the server under test (for writes a test makes while the page watches). */
export async function api(url, method, path, body) {
  const response = await fetch(url + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Registers the file's before/after hooks: the shared server and seed, and one browser. Returns
 * an object whose `url`, `seed` and `browser` are set once the hooks ran.
 */
export function suite() {
  const ctx = {};
  let env;
  before(async () => {
    env = await fixture();
    ctx.url = env.url;
    ctx.seed = env.seed;
    ctx.browser = await launchBrowser();
  });
  after(async () => {
    await ctx.browser?.close();
    await env?.stop();
  });
  return ctx;
}

/** Fails the test with the page's console errors and failed requests, if there were any. */
export function assertNoProblems(page) {
  if (page.problems.length) throw new Error("problems on the page:\n" + page.problems.join("\n"));
}

/** The text of every element matching `selector`, trimmed. */
export function texts(page, selector) {
  return page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? "").trim()));
}
