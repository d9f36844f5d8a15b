// entity-reactor/stores/durable-object inside workerd: the transition store
// contract (store-contract.mjs, the cases of tests/node/transition-stores)
// and the Durable Object specifics, each case run by store-worker.mjs in a
// fresh SQLite-backed Durable Object (enableSql = true, on a temporary localDisk).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/services.mjs";
import { checkPrerequisites, packageModules, pkgDir, startWorkerd } from "./harness.mjs";
import { cases } from "./store-contract.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const PKG = "node_modules/entity-reactor";
const nonce = `${process.pid}-${Date.now()}`;

let tmp;
let port;
let workerd;

before(async () => {
  checkPrerequisites();
  tmp = await mkdtemp(path.join(os.tmpdir(), "er-workerd-do-"));
  for (const f of ["store-worker.mjs", "store-contract.mjs"]) await cp(path.join(here, f), path.join(tmp, f));
  await mkdir(path.join(tmp, "node_modules"));
  await mkdir(path.join(tmp, "do")); // the objects' SQLite files (SQL needs localDisk; inMemory has none)
  await symlink(pkgDir, path.join(tmp, PKG), "dir");
  port = await freePort();
  const modules = [
    `(name = "store-worker.mjs", esModule = embed "store-worker.mjs")`,
    `(name = "store-contract.mjs", esModule = embed "store-contract.mjs")`,
    ...(await packageModules(PKG, { only: [".", "./stores/durable-object"] })),
  ];
  await writeFile(
    path.join(tmp, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "do-disk", disk = (path = ${JSON.stringify(path.join(tmp, "do"))}, writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
${modules.map((m) => `    ${m},`).join("\n")}
  ],
  compatibilityDate = "2024-09-23",
  durableObjectNamespaces = [(className = "ContractObject", uniqueKey = "entity-reactor-store-contract", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
  bindings = [(name = "CONTRACT", durableObjectNamespace = "ContractObject")],
);
`,
  );
  workerd = await startWorkerd({ cwd: tmp, port });
});

after(async () => {
  await workerd?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function get(pathAndQuery) {
  let response;
  try {
    response = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    throw new Error(`${pathAndQuery}: ${e.message} (${e.cause?.message ?? ""})\n${workerd.log()}`);
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

const objectOf = (name) => `${nonce}:${name}`;

test("workerd serves the same case list", async () => {
  const { status, body } = await get("/cases");
  assert.equal(status, 200, `${JSON.stringify(body)}\n${workerd.log()}`);
  assert.deepEqual(body, Object.keys(cases));
});

for (const name of Object.keys(cases))
  test(`durable-object store: ${name}`, async (t) => {
    const { status, body } = await get(
      `/run?case=${encodeURIComponent(name)}&object=${encodeURIComponent(objectOf(name))}`,
    );
    assert.equal(status, 200, `${JSON.stringify(body)}\n${workerd.log()}`);
    assert.ok(body.ok, `${body.error}\n${workerd.log()}`);
    if (body.report) t.diagnostic(JSON.stringify(body.report));
  });

test("100,000 rows: each query answers over HTTP in milliseconds", async (t) => {
  const hot = objectOf(Object.keys(cases).find((n) => n.startsWith("100,000 rows")));
  const times = {};
  for (const q of ["inStateSinceLatest", "inStateSinceOld", "inStateSinceNever", "count", "history", "historyField"]) {
    const samples = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const { status, body } = await get(`/query?q=${q}&object=${encodeURIComponent(hot)}`);
      samples.push(performance.now() - started);
      assert.equal(status, 200, JSON.stringify(body));
    }
    samples.sort((a, b) => a - b);
    times[q] = Number(samples[10].toFixed(2));
  }
  t.diagnostic(`median ms per request (HTTP included): ${JSON.stringify(times)}`);
  for (const [q, ms] of Object.entries(times)) assert.ok(ms < 25, `${q}: median ${ms} ms`);
});
