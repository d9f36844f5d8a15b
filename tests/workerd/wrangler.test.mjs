// `wrangler deploy --dry-run` of examples/cloudflare-worker: it must bundle
// with no warning and no nodejs_compat flag (the package's "workerd" export
// condition reaches no node: module), and the bundle wrangler writes must
// run in workerd. wrangler is not a dependency of this repository (about
// 200 MB): it is installed from npm once into a cache directory,
// $ER_WRANGLER_DIR or <tmp>/entity-reactor-wrangler-4. Without npm access
// the suite is skipped, saying why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../support/services.mjs";
import { capnpString, checkPrerequisites, parseJsonc, pkgDir, root, startWorkerd } from "./harness.mjs";

const run = promisify(execFile);
const example = path.join(root, "examples/cloudflare-worker");
const WRANGLER = "wrangler@4";
const cacheDir = process.env.ER_WRANGLER_DIR || path.join(os.tmpdir(), "entity-reactor-wrangler-4");
const wranglerBin = path.join(cacheDir, "node_modules/.bin/wrangler");

let tmp;
let unavailable = null; // why wrangler could not be installed
let dryRun = null; // { code, output }
let workerd;

before(async () => {
  checkPrerequisites();
  if (!existsSync(wranglerBin)) {
    try {
      await mkdir(cacheDir, { recursive: true });
      await run("npm", ["install", "--prefix", cacheDir, "--no-audit", "--no-fund", "--loglevel=error", WRANGLER], {
        timeout: 300_000,
      });
    } catch (e) {
      unavailable = `npm install ${WRANGLER} failed: ${String(e.stderr || e.message)
        .trim()
        .split("\n")
        .slice(-3)
        .join(" ")}`;
      return;
    }
  }
  tmp = await mkdtemp(path.join(os.tmpdir(), "er-wrangler-"));
  for (const f of ["src", "wrangler.jsonc", "package.json"])
    await cp(path.join(example, f), path.join(tmp, f), { recursive: true });
  // As `npm install` of the example would: the package under node_modules.
  await mkdir(path.join(tmp, "node_modules"));
  await symlink(pkgDir, path.join(tmp, "node_modules/entity-reactor"), "dir");
  try {
    const { stdout, stderr } = await run(wranglerBin, ["deploy", "--dry-run", "--outdir", "dist"], {
      cwd: tmp,
      timeout: 120_000,
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: "false",
        WRANGLER_LOG_PATH: path.join(tmp, "logs"),
        CI: "1",
        NO_COLOR: "1",
      },
    });
    dryRun = { code: 0, output: `${stdout}\n${stderr}` };
  } catch (e) {
    dryRun = { code: e.code ?? 1, output: `${e.stdout ?? ""}\n${e.stderr ?? ""}\n${e.message}` };
  }
});

after(async () => {
  await workerd?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("wrangler deploy --dry-run bundles the example with no warning and no nodejs_compat", async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { version } = JSON.parse(await readFile(path.join(cacheDir, "node_modules/wrangler/package.json"), "utf8"));
  t.diagnostic(`wrangler ${version}`);
  assert.equal(dryRun.code, 0, dryRun.output);
  assert.match(dryRun.output, /--dry-run: exiting now/);
  assert.doesNotMatch(dryRun.output, /WARNING|▲|\[warn/i, dryRun.output);
  assert.doesNotMatch(dryRun.output, /nodejs_compat/, dryRun.output);
  const upload = dryRun.output.match(/Total Upload: ([^\n]+)/)?.[1];
  t.diagnostic(`Total Upload: ${upload}`);
  const bundle = await readFile(path.join(tmp, "dist/worker.js"), "utf8");
  // No import of a node: module survives bundling (load.js only names
  // node:fs as a string for process.getBuiltinModule, which workers lack).
  assert.doesNotMatch(bundle, /(?:import|export)[^;]*from\s*["']node:|require\(\s*["']node:|import\(\s*["']node:/);
  assert.match(bundle, /import \w+ from "\.\/[0-9a-f]+-entity-reactor\.wasm"/, "the .wasm is imported as a module");
});

test("the bundle wrangler wrote runs in workerd", async (t) => {
  if (unavailable) return t.skip(unavailable);
  assert.equal(dryRun.code, 0, dryRun.output);
  const wrangler = parseJsonc(await readFile(path.join(tmp, "wrangler.jsonc"), "utf8"));
  const files = await readdir(path.join(tmp, "dist"));
  const modules = [`(name = "worker.js", esModule = embed "dist/worker.js")`];
  for (const f of files.filter((f) => f.endsWith(".wasm")))
    modules.push(`(name = ${capnpString(f)}, wasm = embed ${capnpString(`dist/${f}`)})`);
  const port = await freePort();
  await mkdir(path.join(tmp, "do"));
  await writeFile(
    path.join(tmp, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker), (name = "do-disk", disk = (path = ${capnpString(path.join(tmp, "do"))}, writable = true))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [${modules.join(", ")}],
  compatibilityDate = ${capnpString(wrangler.compatibility_date)},
  durableObjectNamespaces = [(className = "Catalog", uniqueKey = "wrangler-bundle", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
  bindings = [(name = "CATALOG", durableObjectNamespace = "Catalog"), (name = "RETENTION_PER_ENTITY", text = "1000")],
);
`,
  );
  workerd = await startWorkerd({ cwd: tmp, port });
  const base = `http://127.0.0.1:${port}/catalogs/bundle`;
  const post = await fetch(`${base}/systems`, { method: "POST", body: JSON.stringify({ id: "s", name: "Bundled" }) });
  assert.equal(post.status, 201, `${await post.text()}\n${workerd.log()}`);
  const patch = await fetch(`${base}/systems/s`, { method: "PATCH", body: JSON.stringify({ name: "Bundled 2" }) });
  assert.equal(patch.status, 200, await patch.text());
  const history = await (await fetch(`${base}/systems/s/history?field=name`)).json();
  assert.deepEqual(
    history.map((r) => r.toValue),
    ["Bundled 2", "Bundled"],
  );
  const bad = await fetch(`${base}/systems`, { method: "POST", body: JSON.stringify({ name: 1 }) });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).code, "ER_SCHEMA");
});
