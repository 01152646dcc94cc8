// Runs the browser tests (`npm run e2e`): starts one `cairn server`, seeds it with the official
// mlflow client, then runs every e2e/*.test.mjs with Node's test runner against it (one file at a
// time: the machine has two cores). Arguments are test-file name filters (`npm run e2e -- live`).
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { seed, startServer } from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(HERE)
  .filter((f) => f.endsWith(".test.mjs"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .map((f) => join(HERE, f));
if (files.length === 0) {
  console.error("no test files match", filters);
  process.exit(2);
}

const started = Date.now();
const server = await startServer();
let code = 1;
try {
  const data = await seed(server.url);
  console.log(`e2e: server ${server.url} seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const env = { ...process.env, CAIRN_E2E_URL: server.url, CAIRN_E2E_SEED: JSON.stringify(data) };
  const child = spawn(process.execPath, ["--test", "--test-concurrency=1", ...files], { stdio: "inherit", env });
  code = await new Promise((ok) => child.once("exit", (c) => ok(c ?? 1)));
} finally {
  if (code !== 0 && server.log().trim()) console.error("---- cairn server log (tail) ----\n" + server.log());
  await server.stop();
}
console.log(`e2e: ${code === 0 ? "passed" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(code);
