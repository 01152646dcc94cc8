// The web UI's browser benchmark (bench/ui/run): seeds each dataset once into its own data
// folder under bench/.work/ui/ (kept for later runs), starts `cairn server` on it, drives
// Chromium through playwright-core and reads the views' performance marks (web/src/perf.ts).
// Prints the median of several repetitions next to each bar; never fails on a timing.
//
//   node bench/ui/bench_ui.mjs [--quick] [--reps N] [--only runs,compare,runpage,bundle] [--seed-only]
//
// Environment: CAIRN_BIN (the server; bench/ui/run builds target/release/cairn), BENCH_PYTHON
// (a Python with numpy for seed_ui.py), CHROMIUM (default /usr/bin/chromium).
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..");
const WORK = join(REPO, "bench", ".work", "ui");
// What the server serves when CAIRN_WEB_DIR is set; otherwise the build it embedded.
const DIST = process.env.CAIRN_WEB_DIR ?? join(REPO, "web", "dist");
const { chromium } = createRequire(join(REPO, "web", "package.json"))("playwright-core");

const FULL = { runs: 100_000, compare: [1000, 5, 10_000], runpage: [50, 1_000_000], reps: 5 };
const QUICK = { runs: 10_000, compare: [100, 5, 10_000], runpage: [5, 100_000], reps: 3 };
const BARS = {
  rows: 1000,
  filter: 300,
  scroll: null,
  compare: 1000,
  zoom: 100,
  runpage: 1500,
  bundle: 500 * 1024,
};
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function parseArgs(argv) {
  const opts = { quick: false, seedOnly: false, reps: null, only: ["runs", "compare", "runpage", "bundle"] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") opts.quick = true;
    else if (a === "--seed-only") opts.seedOnly = true;
    else if (a === "--reps") opts.reps = Number(argv[++i]);
    else if (a === "--only") opts.only = argv[++i].split(",");
    else if (a === "-h" || a === "--help") {
      console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\nimport")[0]);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  const size = opts.quick ? QUICK : FULL;
  return { ...opts, size, reps: opts.reps ?? size.reps };
}

// ---- server and seeding

/** `cairn server --port 0` on `data`; resolves with its URL and a stop function. */
async function startServer(data) {
  mkdirSync(data, { recursive: true });
  const bin = process.env.CAIRN_BIN ?? join(REPO, "target", "release", "cairn");
  const proc = spawn(bin, ["server", "--port", "0", "--data", data, "--log", "warn"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (chunk) => (log = (log + chunk).slice(-20000)));
  const url = await new Promise((ok, fail) => {
    proc.once("exit", (code) => fail(new Error(`cairn server exited (${code}): ${log}`)));
    createInterface({ input: proc.stdout }).once("line", (line) => {
      const found = line.match(/https?:\/\/\S+/);
      if (found) ok(found[0]);
      else fail(new Error("unexpected first line from cairn server: " + line));
    });
  });
  return {
    url,
    log: () => log,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((ok) => proc.once("exit", ok));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Starts a server on the dataset's folder, seeding it first when it holds no finished seed
 * (`ui-seed.json`, written last). Returns the server and the seed's description.
 */
async function dataset(name, seedArgs) {
  const data = join(WORK, name);
  const marker = join(data, "ui-seed.json");
  if (!existsSync(marker)) rmSync(data, { recursive: true, force: true });
  const server = await startServer(data);
  if (existsSync(marker)) return { server, seed: JSON.parse(readFileSync(marker, "utf8")) };
  console.log(`== seeding ${name} (once; kept in ${data})`);
  try {
    const python = process.env.BENCH_PYTHON ?? "python3";
    const out = execFileSync(python, [join(HERE, "seed_ui.py"), server.url, ...seedArgs.map(String)], {
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 26,
    });
    const seed = JSON.parse(out.toString().trim().split("\n").pop());
    console.log(`   seeded in ${seed.seed_seconds} s`);
    writeFileSync(marker, JSON.stringify(seed));
    return { server, seed };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

// ---- browser helpers

async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "cairn-ui-bench-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1440, height: 900 },
    colorScheme: "light",
  });
  context.setDefaultTimeout(120_000);
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A new page that records console errors and failed requests in `page.problems`. */
async function newPage(context) {
  const page = await context.newPage();
  page.problems = [];
  page.apiInFlight = new Set();
  const done = (r) => page.apiInFlight.delete(r);
  page.on("request", (r) => r.url().includes("/api/") && !r.url().includes("/stream") && page.apiInFlight.add(r));
  page.on("requestfinished", done);
  page.on("requestfailed", done);
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && page.problems.push(`console: ${m.text()}`));
  page.on("response", (r) => r.status() >= 400 && page.problems.push(`HTTP ${r.status()} ${r.url().slice(0, 200)}`));
  return page;
}

const markCount = (page, name) => page.evaluate((n) => window.__cairnMarks?.[n + ":count"] ?? 0, name);

/** Waits until mark `name` was set more than `after` times; returns its time (ms since navigation). */
async function waitMark(page, name, after = 0, timeout = 120_000) {
  await page.waitForFunction(([n, c]) => (window.__cairnMarks?.[n + ":count"] ?? 0) > c, [name, after], {
    timeout,
    polling: 5,
  });
  return page.evaluate((n) => window.__cairnMarks[n], name);
}

/** Records in `window.__benchAt[event]` the time of the next `event` on window (capture phase). */
function stampNext(page, event, filter = "") {
  return page.evaluate(
    ([ev, key]) => {
      window.__benchAt ??= {};
      delete window.__benchAt[ev];
      const on = (e) => {
        if (key && e.key !== key) return;
        window.__benchAt[ev] = performance.now();
        window.removeEventListener(ev, on, true);
      };
      window.addEventListener(ev, on, true);
    },
    [event, filter],
  );
}

/**
 * When the last API answer that arrived before time `t` (ms since navigation) had been received:
 * the part of a navigation spent waiting on the server; the rest is the page's own work.
 */
const apiDoneBy = (page, t) =>
  page.evaluate((until) => {
    const ends = performance
      .getEntriesByType("resource")
      .filter((e) => e.name.includes("/api/") && e.responseEnd <= until)
      .map((e) => e.responseEnd);
    return ends.length ? Math.max(...ends) : 0;
  }, t);

/** Waits for navigation mark `name`; pushes its time to `times` and the API's share to `api`. */
async function navigationMark(page, name, times, api) {
  const t = await waitMark(page, name);
  times.push(t);
  api.push(await apiDoneBy(page, t));
}

const stamp = (page, event) => page.evaluate((ev) => window.__benchAt[ev], event);

function check(cond, message, problems) {
  if (!cond) problems.push(message);
}

// ---- 1. the runs table

/**
 * Scrolls the runs table to `fraction` of its height and measures (in the page) the time until
 * the row under the table's centre is a rendered run whose position in the sort order is where
 * the scroll went (row ids end in the run's index; see seed_ui.py).
 */
function scrollTo(page, fraction, total) {
  return page.evaluate(
    ([f, n]) =>
      new Promise((ok, fail) => {
        const table = document.querySelector('[data-testid="runs-table"]');
        const scroller = [table, ...table.querySelectorAll("*")].find((e) => e.scrollHeight > e.clientHeight + 10);
        const rows = () => [...table.querySelectorAll('[data-testid="run-row"][data-run-id]')];
        const index = (el) => parseInt(el.dataset.runId.slice(24), 16);
        const descending = index(rows()[0]) > n / 2;
        const box = scroller.getBoundingClientRect();
        const perScreen = Math.ceil(scroller.clientHeight / rows()[0].getBoundingClientRect().height);
        const expected = f * n;
        const t0 = performance.now();
        scroller.scrollTop = f * (scroller.scrollHeight - scroller.clientHeight);
        const poll = () => {
          const hit = document.elementFromPoint(box.left + 60, box.top + box.height / 2);
          const row = hit?.closest('[data-testid="run-row"][data-run-id]');
          if (row) {
            const offset = descending ? n - 1 - index(row) : index(row);
            if (Math.abs(offset - expected) <= perScreen + n * 0.01) return ok(performance.now() - t0);
          }
          if (performance.now() - t0 > 60_000) return fail(new Error(`no rows near offset ${expected}`));
          requestAnimationFrame(poll);
        };
        requestAnimationFrame(poll);
      }),
    [fraction, total],
  );
}

async function benchRuns(context, url, seed, reps) {
  const out = { rows: [], rowsApi: [], filter: [], scrollMiddle: [], scrollEnd: [], problems: [] };
  const filter = "metrics.loss < 0.1";
  const expectFiltered = Math.round(seed.runs / 10);
  for (let r = 0; r < reps; r++) {
    const page = await newPage(context);
    await page.goto(`${url}/experiments/${seed.experiment_id}`, { waitUntil: "commit" });
    await navigationMark(page, "cairn:runs:rows", out.rows, out.rowsApi);
    await page.waitForSelector('[data-testid="run-row"][data-run-id]');
    const total = await page.textContent('[data-testid="runs-total"]');
    const shown = total.replace(/[^0-9]/g, "");
    check(shown.includes(String(seed.runs)), `runs-total "${total}" ≠ ${seed.runs}`, out.problems);

    out.scrollMiddle.push(await scrollTo(page, 0.5, seed.runs));
    out.scrollEnd.push(await scrollTo(page, 1, seed.runs));

    const before = await markCount(page, "cairn:runs:rows");
    await stampNext(page, "keydown", "Enter");
    await page.fill('[data-testid="runs-filter"]', filter);
    await page.press('[data-testid="runs-filter"]', "Enter");
    const at = await waitMark(page, "cairn:runs:rows", before);
    out.filter.push(at - (await stamp(page, "keydown")));
    const filtered = Number((await page.textContent('[data-testid="runs-total"]')).replace(/[^0-9]/g, ""));
    check(Math.abs(filtered - expectFiltered) <= expectFiltered * 0.05, `filter matched ${filtered}`, out.problems);
    out.problems.push(...page.problems);
    await page.close();
  }
  return out;
}

// ---- 2. compare

/** Resolves once `page` has had no API request in flight for `quietMs`. */
async function apiQuiet(page, quietMs = 300, timeout = 60_000) {
  const started = Date.now();
  let quietSince = Date.now();
  while (Date.now() - started < timeout) {
    if (page.apiInFlight.size > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= quietMs) return;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  throw new Error("API requests still in flight after " + timeout + " ms");
}

/** Drags across the middle of `canvas` (30% → 60% of its width), like a user zooming in. */
async function dragZoom(page, canvas) {
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.45, y, { steps: 4 });
  await page.mouse.move(box.x + box.width * 0.6, y, { steps: 4 });
  await page.mouse.up();
}

async function benchCompare(context, url, seed, reps) {
  const out = { compare: [], compareApi: [], zoom: [], refined: [], problems: [] };
  const runs = seed.run_ids.length;
  for (let r = 0; r < reps; r++) {
    const page = await newPage(context);
    await page.goto(`${url}/compare?runs=${seed.run_ids.join(",")}`, { waitUntil: "commit" });
    await navigationMark(page, "cairn:compare:ready", out.compare, out.compareApi);
    const charts = page.locator('[data-testid="compare-chart"]');
    const series = await charts.first().getAttribute("data-series");
    check(series === String(runs), `compare-chart data-series=${series}, want ${runs}`, out.problems);
    await apiQuiet(page);

    // The chart redraws at once from what it has (first mark), then refines with a fetch of the
    // range (a later mark): both are timed from the mouse-up.
    const before = await markCount(page, "cairn:chart:zoomed");
    await stampNext(page, "mouseup");
    await dragZoom(page, charts.first().locator("canvas").first());
    const at = await waitMark(page, "cairn:chart:zoomed", before, 60_000);
    const up = await stamp(page, "mouseup");
    out.zoom.push(at - up);
    await apiQuiet(page);
    const last = await page.evaluate(() =>
      Math.max(...performance.getEntriesByName("cairn:chart:zoomed").map((e) => e.startTime)),
    );
    if (last > at) out.refined.push(last - up);
    out.problems.push(...page.problems);
    await page.close();
  }
  return out;
}

// ---- 3. the run page

async function benchRunPage(context, url, seed, reps) {
  const out = { runpage: [], runpageApi: [], problems: [] };
  for (let r = 0; r < reps; r++) {
    const page = await newPage(context);
    await page.goto(`${url}/runs/${seed.run_id}?tab=charts`, { waitUntil: "commit" });
    await navigationMark(page, "cairn:run:ready", out.runpage, out.runpageApi);
    const charts = await page.locator('[data-testid="metric-chart"]').count();
    check(charts === seed.keys, `${charts} metric charts, want ${seed.keys}`, out.problems);
    out.problems.push(...page.problems);
    await page.close();
  }
  return out;
}

// ---- 4. bundle size

/** Gzipped sizes (level 9) of what `/` loads and of each lazily loaded chunk, from DIST. */
function bundleSizes() {
  const html = readFileSync(join(DIST, "index.html"), "utf8");
  const initial = new Set(
    [...html.matchAll(/(?:src|href)="\/?(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]),
  );
  const gz = (file) => gzipSync(readFileSync(join(DIST, file)), { level: 9 }).length;
  const assets = readdirSync(join(DIST, "assets"))
    .filter((f) => /\.(js|css)$/.test(f))
    .map((f) => `assets/${f}`);
  const main = [...initial].map((f) => ({ file: f, gz: gz(f) }));
  const lazy = assets.filter((f) => !initial.has(f)).map((f) => ({ file: f, gz: gz(f) }));
  return { main, lazy, mainTotal: main.reduce((s, x) => s + x.gz, 0) + gzipSync(html, { level: 9 }).length };
}

// ---- report

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
const kb = (x) => `${(x / 1024).toFixed(1)} KB`;

function row(measure, values, bar, format = ms) {
  if (!values || values.length === 0) return `| ${measure} | — | — | ${bar ? "≤ " + format(bar) : ""} | |`;
  const m = median(values);
  const spread = values.length > 1 ? `${format(Math.min(...values))} – ${format(Math.max(...values))}` : "";
  const verdict = bar == null ? "" : m <= bar ? "within" : "**over**";
  return `| ${measure} | ${format(m)} | ${spread} | ${bar == null ? "" : "≤ " + format(bar)} | ${verdict} |`;
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

function header(opts) {
  const commit = execFileSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]).toString().trim();
  // The tree the numbers come from: the server's sources, and the UI's unless a folder is served.
  const paths = process.env.CAIRN_WEB_DIR ? ["crates"] : ["crates", "web"];
  const dirty = paths.filter((p) => execFileSync("git", ["-C", REPO, "status", "--porcelain", "--", p]).length > 0);
  const server = process.env.CAIRN_BIN ?? "target/release/cairn";
  const web = process.env.CAIRN_WEB_DIR ? `, UI from ${process.env.CAIRN_WEB_DIR}` : "";
  return [
    `# Cairn web UI benchmark (${opts.quick ? "QUICK sizes" : "full sizes"}, median of ${opts.reps})`,
    "",
    `- ${new Date().toISOString()}, commit ${commit}${dirty.length ? ` (+ uncommitted changes in ${dirty.join(", ")})` : ""}`,
    `- ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load average ${load()} at the start`,
    `- server ${server}${web}; Chromium ${process.env.CHROMIUM ?? "/usr/bin/chromium"} headless, 1440×900`,
  ].join("\n");
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { size, reps } = opts;
  mkdirSync(WORK, { recursive: true });
  const lines = [header(opts), "", "| measure | median | min – max | bar | |", "|---|---:|---:|---:|---|"];
  const problems = [];
  const browser = await launch();
  const scenario = async (key, name, seedArgs, fn) => {
    if (!opts.only.includes(key)) return null;
    const { server, seed } = await dataset(name, seedArgs);
    if (opts.seedOnly) return void (await server.stop());
    try {
      console.log(`== ${name}: ${reps} repetitions`);
      const result = await fn(browser.context, server.url, seed, reps);
      problems.push(...result.problems.map((p) => `${name}: ${p}`));
      return result;
    } finally {
      await server.stop();
    }
  };
  try {
    const n = size.runs;
    const runs = await scenario("runs", `runs-${n}`, ["runs", n], benchRuns);
    if (runs) {
      const label = n.toLocaleString("en");
      lines.push(row(`runs table, ${label} runs: navigation → first rows`, runs.rows, BARS.rows));
      lines.push(row(`  of which until the last API answer`, runs.rowsApi, null));
      lines.push(row(`runs table, ${label} runs: filter (Enter → rows)`, runs.filter, BARS.filter));
      lines.push(row(`runs table, ${label} runs: scroll to the middle → rows`, runs.scrollMiddle, BARS.scroll));
      lines.push(row(`runs table, ${label} runs: scroll to the end → rows`, runs.scrollEnd, BARS.scroll));
    }
    const [cr, ck, cs] = size.compare;
    const compare = await scenario("compare", `compare-${cr}x${ck}x${cs}`, ["compare", cr, ck, cs], benchCompare);
    if (compare) {
      const label = `${cr.toLocaleString("en")} runs × ${ck} metrics × ${cs.toLocaleString("en")} steps`;
      lines.push(row(`compare, ${label}: navigation → charts painted`, compare.compare, BARS.compare));
      lines.push(row(`  of which until the last API answer`, compare.compareApi, null));
      lines.push(row(`compare, ${label}: zoom (drag) → redrawn`, compare.zoom, BARS.zoom));
      lines.push(row(`compare, ${label}: zoom (drag) → range refetched and drawn`, compare.refined, null));
    }
    const [rk, rp] = size.runpage;
    const runpage = await scenario("runpage", `runpage-${rk}x${rp}`, ["runpage", rk, rp], benchRunPage);
    if (runpage) {
      const label = `${rk} keys × ${rp.toLocaleString("en")} points`;
      lines.push(row(`run page, ${label}: navigation → charts ready`, runpage.runpage, BARS.runpage));
      lines.push(row(`  of which until the last API answer`, runpage.runpageApi, null));
    }
  } finally {
    await browser.close();
  }
  if (opts.seedOnly) return;
  if (opts.only.includes("bundle")) {
    const b = bundleSizes();
    const label = `bundle: what / loads (index.html + ${b.main.length} files), gzip -9`;
    lines.push(row(label, [b.mainTotal], BARS.bundle, kb));
    for (const f of b.main) lines.push(row(`  initial ${f.file}`, [f.gz], null, kb));
    for (const f of b.lazy) lines.push(row(`  lazy ${f.file}`, [f.gz], null, kb));
  }
  lines.push("", `Load average at the end: ${load()}.`);
  if (problems.length) {
    lines.push("", "Problems seen (answers checked, console errors, failed requests):");
    lines.push(...problems.map((p) => `- ${p}`));
  }
  const report = lines.join("\n");
  console.log("\n" + report);
  writeFileSync(join(WORK, `results${opts.quick ? "-quick" : ""}.md`), report + "\n");
}

await main();
