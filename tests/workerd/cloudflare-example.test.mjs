// examples/cloudflare-worker in real workerd: its wrangler.jsonc turned into
// a workerd config (the Durable Object namespace with enableSql, its
// bindings and vars, the compatibility date), the example's modules and
// the package's as wrangler resolves them (the "workerd" condition), and
// the objects' SQLite files on a temporary localDisk that outlives a
// restart of workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { freePort } from "../support/services.mjs";
import { capnpString, checkPrerequisites, packageModules, parseJsonc, pkgDir, root, startWorkerd } from "./harness.mjs";
import { connectWebSocket } from "./ws-client.mjs";

const example = path.join(root, "examples/cloudflare-worker");
const PKG = "node_modules/entity-reactor";
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let tmp;
let port;
let workerd;
let base;
const sockets = [];

async function writeConfig() {
  const wrangler = parseJsonc(await readFile(path.join(example, "wrangler.jsonc"), "utf8"));
  assert.equal(wrangler.compatibility_flags, undefined, "the example needs no compatibility flag (no nodejs_compat)");
  const main = wrangler.main.replace(/^\.\//, "");
  const files = (await readdir(path.join(example, "src"))).filter((f) => f.endsWith(".js")).map((f) => `src/${f}`);
  assert.ok(files.includes(main), `${main} exists`);
  // Named without "src/": workerd resolves a bare specifier ("entity-reactor")
  // against the importing module's directory (wrangler bundles them all).
  const modules = [main, ...files.filter((f) => f !== main)].map(
    (f) => `(name = ${capnpString(path.posix.basename(f))}, esModule = embed ${capnpString(f)})`,
  );
  modules.push(...(await packageModules(PKG)));
  const sqlite = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const namespaces = wrangler.durable_objects.bindings.map((b) => {
    assert.ok(sqlite.has(b.class_name), `${b.class_name} is a SQLite-backed class (new_sqlite_classes)`);
    return `(className = ${capnpString(b.class_name)}, uniqueKey = ${capnpString(`${wrangler.name}-${b.class_name}`)}, enableSql = true)`;
  });
  const bindings = [
    ...wrangler.durable_objects.bindings.map(
      (b) => `(name = ${capnpString(b.name)}, durableObjectNamespace = ${capnpString(b.class_name)})`,
    ),
    ...Object.entries(wrangler.vars ?? {}).map(
      ([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(String(v))})`,
    ),
  ];
  await writeFile(
    path.join(tmp, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "do-disk", disk = (path = ${capnpString(path.join(tmp, "do"))}, writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
${modules.map((m) => `    ${m},`).join("\n")}
  ],
  compatibilityDate = ${capnpString(wrangler.compatibility_date)},
  durableObjectNamespaces = [${namespaces.join(", ")}],
  durableObjectStorage = (localDisk = "do-disk"),
  bindings = [${bindings.join(", ")}],
);
`,
  );
}

before(async () => {
  checkPrerequisites();
  tmp = await mkdtemp(path.join(os.tmpdir(), "er-cf-example-"));
  await cp(path.join(example, "src"), path.join(tmp, "src"), { recursive: true });
  await mkdir(path.join(tmp, "node_modules"));
  await mkdir(path.join(tmp, "do"));
  await symlink(pkgDir, path.join(tmp, PKG), "dir");
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await writeConfig();
  workerd = await startWorkerd({ cwd: tmp, port });
});

after(async () => {
  for (const ws of sockets) await Promise.race([ws.close(), new Promise((r) => setTimeout(r, 1000))]);
  await workerd?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// A request whose response may come before its body is sent. The server
// answers and closes while the client is still uploading; when the reset
// reaches the client before the response does, that attempt has no response
// (it used to hang here forever), so it is sent again, a bounded number of
// times, each attempt bounded in time.
async function earlyResponse(method, url, body, attempts = 5) {
  for (let i = 0; i < attempts; i++) {
    const r = await earlyAttempt(method, url, body);
    if (r !== null) return r;
  }
  throw new Error(`${method} ${url}: no response in ${attempts} attempts (the connection was reset each time)`);
}

function earlyAttempt(method, url, body) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      base + url,
      { method, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        answered = true;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("aborted", () => resolve(null));
        res.on("end", () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (e) => {
      // The server stopped reading: its response may still arrive.
      if (!["EPIPE", "ECONNRESET", "ETIMEDOUT"].includes(e.code)) reject(e);
    });
    req.on("close", () => {
      if (!answered) resolve(null);
    });
    req.end(body);
  });
}

async function call(method, url, body, headers = {}) {
  let response;
  try {
    response = await fetch(base + url, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    throw new Error(`${method} ${url}: ${e.message} (${e.cause?.message ?? ""})\n${workerd.log()}`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

async function ok(method, url, body, headers) {
  const r = await call(method, url, body, headers);
  assert.ok(
    r.status >= 200 && r.status < 300,
    `${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}\n${workerd.log()}`,
  );
  return r.body;
}

async function stream(tenant) {
  const ws = await connectWebSocket(`ws://127.0.0.1:${port}/catalogs/${tenant}/stream`);
  sockets.push(ws);
  await ws.next((m) => m.type === "hello");
  return ws;
}

const changesOf = (ws) => ws.messages.map((m) => JSON.parse(m)).filter((m) => m.type === "change");

async function settle(ws, count, wait = 10_000) {
  const deadline = Date.now() + wait;
  while (changesOf(ws).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // and nothing more
  return changesOf(ws);
}

test("GET / lists the routes; GET /catalogs/:tenant serves the stream page", async () => {
  const body = await ok("GET", "/");
  assert.equal(body.service, "entity-reactor-catalog");
  assert.ok(body.routes.some((r) => r.path === "/catalogs/:tenant/systems"));
  const page = await fetch(`${base}/catalogs/acme`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /text\/html/);
  assert.match(await page.text(), /\/stream/);
});

test("create, update, delete over HTTP: each change reaches the stream once, with its triggers and payload", async () => {
  const ws = await stream("acme");
  const created = await ok(
    "POST",
    "/catalogs/acme/systems",
    { id: "billing", name: "Billing", metadata: { tier: 1 } },
    { "x-user-id": "u1", "x-user-name": "Ada" },
  );
  assert.equal(created.id, "billing");
  assert.deepEqual([created.name, created.description, created.metadata], ["Billing", null, { tier: 1 }]);
  const updated = await ok("PATCH", "/catalogs/acme/systems/billing", { description: "Invoices" });
  assert.deepEqual([updated.name, updated.description], ["Billing", "Invoices"]);
  await ok("PATCH", "/catalogs/acme/systems/billing", { description: "Invoices" }); // no change: no event
  const generated = await ok("POST", "/catalogs/acme/systems", { name: "Unnamed" });
  assert.match(generated.id, UUID_V4, "an id is generated when none is given");
  assert.equal((await call("DELETE", "/catalogs/acme/systems/billing")).status, 204);
  assert.equal((await call("GET", "/catalogs/acme/systems/billing")).status, 404);
  assert.equal((await call("DELETE", "/catalogs/acme/systems/billing")).status, 404);

  const changes = await settle(ws, 4);
  assert.equal(changes.length, 4, JSON.stringify(changes));
  assert.equal(new Set(changes.map((c) => c.change.changeId)).size, 4, "each change once");
  const [create, update, other, remove] = changes;
  assert.deepEqual(create.triggers, ["catalog.created"]);
  assert.deepEqual(create.payload, { systemId: "billing", systemName: "Billing", changedFields: ["metadata", "name"] });
  assert.deepEqual(create.change.actor, { type: "user", id: "u1", name: "Ada" });
  assert.equal(create.change.prev, null);
  assert.deepEqual(create.change.next, { name: "Billing", description: null, metadata: { tier: 1 } });
  assert.deepEqual(update.triggers, ["catalog.updated"]);
  assert.deepEqual(update.change.delta, { description: "Invoices" });
  assert.deepEqual(update.payload, { systemId: "billing", systemName: "Billing", changedFields: ["description"] });
  assert.deepEqual(update.change.actor, { type: "system" });
  assert.equal(other.change.id, generated.id);
  assert.deepEqual(remove.triggers, ["catalog.deleted"]);
  assert.equal(remove.change.next, null);
  assert.deepEqual(remove.payload, { systemId: "billing", changedFields: ["description", "metadata", "name"] });
  for (const c of changes) {
    assert.match(c.change.changeId, UUID_V4);
    assert.equal(c.change.kind, "catalog-system");
  }
  // The history outlives the system.
  const history = await ok("GET", "/catalogs/acme/systems/billing/history");
  assert.deepEqual(
    history.map((r) => [r.field, r.fromValue, r.toValue]),
    [
      ["description", "null", "Invoices"],
      // The create's rows share its time: the later appended comes first.
      ["name", null, "Billing"],
      ["metadata", null, '{"tier":1}'],
    ],
  );
});

test("groups: create and delete derive catalog.group.* triggers; an update derives none", async () => {
  const ws = await stream("acme-groups");
  await ok("POST", "/catalogs/acme-groups/groups", { id: "g1", name: "Platform" });
  await ok("PATCH", "/catalogs/acme-groups/groups/g1", { metadata: { owner: "sre" } });
  assert.equal((await call("DELETE", "/catalogs/acme-groups/groups/g1")).status, 204);
  const changes = await settle(ws, 3);
  assert.deepEqual(
    changes.map((c) => [c.change.kind, c.triggers, c.payload]),
    [
      ["catalog-group", ["catalog.group.created"], { groupId: "g1", groupName: "Platform" }],
      ["catalog-group", [], { groupId: "g1", groupName: "Platform" }],
      ["catalog-group", ["catalog.group.deleted"], { groupId: "g1" }],
    ],
  );
});

test("history and inStateSince over HTTP; tenants are separate objects", async () => {
  await ok("POST", "/catalogs/t1/systems", { id: "api", name: "API", metadata: { status: "up" } });
  await new Promise((r) => setTimeout(r, 30));
  await ok("PATCH", "/catalogs/t1/systems/api", { metadata: { status: "down" } });
  const history = await ok("GET", "/catalogs/t1/systems/api/history?field=metadata");
  assert.deepEqual(
    history.map((r) => r.toValue),
    ['{"status":"down"}', '{"status":"up"}'],
  );
  assert.equal((await ok("GET", "/catalogs/t1/systems/api/history?limit=1")).length, 1);
  const field = await ok("GET", "/catalogs/t1/systems/api/fields/metadata?windowMs=60000");
  assert.equal(field.inStateSince, history[0].transitionedAt);
  assert.ok(field.inStateForMs >= 0);
  assert.equal(field.transitionsInWindow, 2);
  const name = await ok("GET", "/catalogs/t1/systems/api/fields/name");
  assert.equal(name.inStateSince, history[1].transitionedAt, "name unchanged since the create");
  // Another tenant: another object, another database.
  assert.equal((await call("GET", "/catalogs/t2/systems/api")).status, 404);
  assert.deepEqual(await ok("GET", "/catalogs/t2/systems/api/history"), []);
  assert.deepEqual(
    (await ok("GET", "/catalogs/t1/systems")).map((s) => s.id),
    ["api"],
  );
});

test("concurrent requests to one object keep per-id order: every change follows the one before", async () => {
  const ws = await stream("busy");
  await ok("POST", "/catalogs/busy/systems", { id: "a", name: "a-0" });
  await ok("POST", "/catalogs/busy/systems", { id: "b", name: "b-0" });
  const n = 25;
  const writes = [];
  for (let i = 1; i <= n; i++) {
    writes.push(call("PATCH", "/catalogs/busy/systems/a", { name: `a-${i}`, metadata: { i } }));
    writes.push(call("PATCH", "/catalogs/busy/systems/b", { name: `b-${i}` }));
  }
  const results = await Promise.all(writes);
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
  const changes = await settle(ws, 2 + 2 * n);
  assert.equal(changes.length, 2 + 2 * n);
  assert.equal(new Set(changes.map((c) => c.change.changeId)).size, changes.length, "each change once");
  for (const id of ["a", "b"]) {
    const mine = changes.filter((c) => c.change.id === id).map((c) => c.change);
    assert.equal(mine.length, n + 1);
    for (let i = 1; i < mine.length; i++)
      assert.deepEqual(mine[i].prev, mine[i - 1].next, `${id}: change ${i} starts where change ${i - 1} ended`);
    // The log agrees with the stream, row for row (newest first).
    const names = (await ok("GET", `/catalogs/busy/systems/${id}/history?field=name`)).reverse();
    assert.deepEqual(
      names.map((r) => r.toValue),
      mine.map((c) => c.next.name),
    );
    for (let i = 1; i < names.length; i++) assert.equal(names[i].fromValue, names[i - 1].toValue);
    assert.equal(
      (await ok("GET", `/catalogs/busy/systems/${id}`)).name,
      mine.at(-1).next.name,
      "the row is the last change's state",
    );
  }
});

test("bad requests get a 4xx with the engine's typed error code", async () => {
  await ok("POST", "/catalogs/strict/systems", { id: "s", name: "S" });
  const cases = [
    ["POST", "/catalogs/strict/systems", { name: 42 }, 400, "ER_SCHEMA", "name"],
    ["POST", "/catalogs/strict/systems", { name: "" }, 400, "ER_SCHEMA", "name"],
    ["POST", "/catalogs/strict/systems", { name: "x", nmae: "typo" }, 400, "ER_SCHEMA"],
    ["POST", "/catalogs/strict/systems", [1, 2], 400, "ER_NOT_OBJECT"],
    ["POST", "/catalogs/strict/systems", "{not json", 400, "ER_BAD_JSON"],
    [
      "POST",
      "/catalogs/strict/systems",
      { name: "x", metadata: { tags: ["a", 1] }, description: 7 },
      400,
      "ER_SCHEMA",
      "description",
    ],
    ["PATCH", "/catalogs/strict/systems/s", { metadata: "not an object" }, 400, "ER_SCHEMA", "metadata"],
    ["GET", "/catalogs/strict/systems/s/history?limit=-1", undefined, 400, "ER_BAD_ARGUMENT", "limit"],
    ["GET", "/catalogs/strict/systems/s/fields/name?windowMs=soon", undefined, 400, "ER_BAD_ARGUMENT", "windowMs"],
    [
      "POST",
      "/catalogs/strict/runs",
      { runId: "r", action: "catalog.delete_everything", config: {} },
      400,
      "ER_SCHEMA",
      "action",
    ],
  ];
  for (const [method, url, body, status, code, p] of cases) {
    const r = await call(method, url, body);
    assert.equal(r.status, status, `${method} ${url} ${JSON.stringify(body)?.slice(0, 80)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, code, `${method} ${url}: ${JSON.stringify(r.body)}`);
    if (p) assert.equal(r.body.path, p, `${method} ${url}: ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body.error, "string");
  }
  // An oversized body is refused from its Content-Length before it is read:
  // node:http delivers that early 413 (fetch reports the closed upload as EPIPE).
  const big = await earlyResponse("POST", "/catalogs/strict/systems", "x".repeat((1 << 20) + 1));
  assert.equal(big.status, 413, JSON.stringify(big.body));
  assert.equal(big.body.code, "ER_TOO_LARGE");
  // Not found and conflicts: 404 / 409, nothing written.
  assert.equal((await call("POST", "/catalogs/strict/systems", { id: "s", name: "again" })).status, 409);
  assert.equal((await call("PATCH", "/catalogs/strict/systems/nope", { name: "x" })).status, 404);
  assert.equal((await call("GET", "/catalogs/bad tenant!/systems")).status, 400);
  assert.equal((await call("GET", "/nowhere")).status, 404);
  assert.deepEqual(
    (await ok("GET", "/catalogs/strict/systems")).map((s) => [s.id, s.name]),
    [["s", "S"]],
  );
  assert.equal((await ok("GET", "/catalogs/strict/systems/s/history")).length, 2, "only the create was logged");
});

test("a run's secrets are masked in its event, its transition rows and its result, not in the row", async () => {
  const ws = await stream("runs");
  await ok("POST", "/catalogs/runs/systems", { id: "hook", name: "Webhook" });
  const secret = "sk_live_4f9a8c7e2b";
  const result = await ok("POST", "/catalogs/runs/runs", {
    runId: "run-42",
    action: "catalog.update_metadata",
    secrets: [secret],
    config: { systemId: "hook", metadata: { url: `https://hooks.example/?key=${secret}`, owner: "ops" } },
  });
  assert.equal(result.success, true);
  assert.equal(result.artifact.metadata.url, "https://hooks.example/?key=****");
  const changes = await settle(ws, 2);
  const update = changes.at(-1);
  assert.deepEqual(update.triggers, ["catalog.updated"]);
  assert.equal(update.change.next.metadata.url, "https://hooks.example/?key=****");
  assert.ok(!JSON.stringify(changes).includes(secret), "no secret in the stream");
  const history = await ok("GET", "/catalogs/runs/systems/hook/history?field=metadata");
  assert.ok(!JSON.stringify(history).includes(secret), "no secret in the log");
  assert.equal(history[0].toValue, '{"owner":"ops","url":"https://hooks.example/?key=****"}');
  // The system's own row keeps the real value (it is the application's data).
  assert.equal((await ok("GET", "/catalogs/runs/systems/hook")).metadata.url, `https://hooks.example/?key=${secret}`);
  // A run on a system that does not exist.
  const missing = await call("POST", "/catalogs/runs/runs", {
    runId: "run-43",
    action: "catalog.update_metadata",
    config: { systemId: "ghost", metadata: {} },
  });
  assert.equal(missing.status, 404);
});

test("the data and the history survive a restart of workerd", async () => {
  await ok("POST", "/catalogs/durable/systems", { id: "db", name: "Database", metadata: { v: 1 } });
  await ok("PATCH", "/catalogs/durable/systems/db", { metadata: { v: 2 } });
  const before = await ok("GET", "/catalogs/durable/systems/db/history");
  const since = await ok("GET", "/catalogs/durable/systems/db/fields/metadata");
  for (const ws of sockets.splice(0)) await Promise.race([ws.close(), new Promise((r) => setTimeout(r, 1000))]);
  await workerd.stop();
  workerd = await startWorkerd({ cwd: tmp, port });
  assert.deepEqual(await ok("GET", "/catalogs/durable/systems/db/history"), before);
  const { inStateForMs: _a, ...sinceBefore } = since;
  const { inStateForMs: _b, ...sinceAfter } = await ok("GET", "/catalogs/durable/systems/db/fields/metadata");
  assert.deepEqual(sinceAfter, sinceBefore);
  assert.equal((await ok("GET", "/catalogs/durable/systems/db")).metadata.v, 2);
  // The engine created after the restart continues the log from the stored state.
  const ws = await stream("durable");
  await ok("PATCH", "/catalogs/durable/systems/db", { metadata: { v: 3 } });
  const [change] = await settle(ws, 1);
  assert.deepEqual(change.change.prev.metadata, { v: 2 });
  const after = await ok("GET", "/catalogs/durable/systems/db/history?field=metadata");
  assert.deepEqual(
    after.map((r) => r.toValue),
    ['{"v":3}', '{"v":2}', '{"v":1}'],
  );
  assert.equal(after[0].fromValue, '{"v":2}');
});
