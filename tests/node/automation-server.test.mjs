// End to end: examples/automation-server as a user runs it (node server.js,
// its own node_modules from `npm ci`), over HTTP on 127.0.0.1. The same
// scenario runs on SQLite (a temp file) and on PostgreSQL (DATABASE_URL, a
// private server): create / update / delete, automations firing exactly once
// per triggering change, SSE events, run secrets masked, and a restart that
// keeps the catalog, the transition history and the run log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startPostgres } from "./pg-server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const exampleDir = path.join(root, "examples/automation-server");
const SECRET = "hook-token-5f3a9c71e2";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, what, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Starts `node server.js`; resolves once it prints its URL. */
async function startService(env) {
  const child = spawn(process.execPath, ["server.js"], {
    cwd: exampleDir,
    env: { PATH: process.env.PATH, PORT: "0", HOOK_TOKEN: SECRET, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => (done = true));
  const url = await waitFor(
    () => out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)?.[1] ?? (done ? "exited" : null),
    "the service to listen",
    20_000,
  );
  if (url === "exited") throw new Error(`the service exited:\n${out}`);
  return {
    url,
    log: () => out,
    /** SIGTERM by PID; resolves to the exit status (SIGKILL after 10 s). */
    async stop() {
      if (!done) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
  };
}

/** A server-sent-events client: collects every event of GET /events. */
async function openEvents(url) {
  const abort = new AbortController();
  const res = await fetch(`${url}/events`, { signal: abort.signal, headers: { accept: "text/event-stream" } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const events = [];
  let raw = "";
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        raw += value;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = {};
          for (const line of frame.split("\n")) {
            const m = line.match(/^(id|event|data): ?(.*)$/);
            if (m) event[m[1]] = m[2];
          }
          if (event.data !== undefined)
            events.push({ id: Number(event.id), type: event.event, data: JSON.parse(event.data) });
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    raw: () => raw,
    of: (type) => events.filter((e) => e.type === type).map((e) => e.data),
    async close() {
      abort.abort();
      await pump;
    },
  };
}

function client(url) {
  const call = async (method, p, body, headers = {}) => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, text };
  };
  return {
    get: (p) => call("GET", p),
    post: (p, body, headers) => call("POST", p, body, headers),
    patch: (p, body, headers) => call("PATCH", p, body, headers),
    del: (p) => call("DELETE", p),
    /** Waits until no automation run is in flight and `runs` runs are recorded. */
    async settle(runs) {
      await waitFor(async () => {
        const [health, list] = [await call("GET", "/health"), await call("GET", "/runs")];
        return health.body.pendingRuns === 0 && list.body.length >= runs;
      }, `${runs} runs`);
      await sleep(150); // a run that should not happen would show up here
      const list = (await call("GET", "/runs")).body;
      assert.equal((await call("GET", "/health")).body.pendingRuns, 0);
      return list;
    },
  };
}

const runsFor = (runs, automationId, changeId) =>
  runs.filter((r) => r.automationId === automationId && r.changeId === changeId);

async function scenario(t, env) {
  assert.ok(
    existsSync(path.join(exampleDir, "node_modules/entity-reactor")),
    "examples/automation-server/node_modules is missing: npm ci --prefix examples/automation-server",
  );
  // ---- first run of the service
  let service = await startService(env);
  let api = client(service.url);
  let sse = await openEvents(service.url);
  try {
    const automations = (await api.get("/automations")).body;
    assert.deepEqual(
      automations.map((a) => a.id),
      ["stamp-new-systems", "mark-renamed"],
    );
    assert.ok(!JSON.stringify(automations).includes(SECRET));

    // create → catalog.created → stamp-new-systems → update_metadata → catalog.updated
    const created = await api.post(
      "/systems",
      { id: "billing", name: "Billing", description: "Invoices", metadata: { team: "payments" } },
      { "x-user-id": "alice" },
    );
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.metadata, { team: "payments" });
    let runs = await api.settle(1);
    const createChange = sse.of("change").find((c) => c.id === "billing" && c.prev === null);
    assert.ok(createChange, "SSE: the create");
    assert.deepEqual(createChange.triggers, ["catalog.created"]);
    assert.deepEqual(createChange.actor, { type: "user", id: "alice", name: "alice" });
    assert.equal(createChange.causedByRun, null);
    assert.equal(
      runsFor(runs, "stamp-new-systems", createChange.changeId).length,
      1,
      "fired exactly once for the create",
    );
    const stampRun = runs[0];
    assert.equal(stampRun.status, "succeeded", JSON.stringify(stampRun));
    await waitFor(() => sse.of("run").length >= 1, "SSE run event");
    const stampChange = sse.of("change").find((c) => c.causedByRun === stampRun.runId);
    assert.ok(stampChange, "SSE: the automation's own write");
    assert.deepEqual(stampChange.changedFields, ["metadata"]);
    assert.deepEqual(stampChange.triggers, ["catalog.updated"]);
    const createdTrigger = sse.of("trigger").find((x) => x.changeId === createChange.changeId);
    assert.deepEqual(createdTrigger.payload, {
      systemId: "billing",
      systemName: "Billing",
      changedFields: ["description", "metadata", "name"],
    });
    assert.equal(createdTrigger.automations, 1);
    const updatedByRun = sse.of("trigger").find((x) => x.changeId === stampChange.changeId);
    assert.equal(updatedByRun.event, "catalog.updated");
    assert.equal(updatedByRun.automations, 0, "a metadata-only update matches no automation");

    // The catalog holds the real value; events, history and runs show ****.
    const billing = (await api.get("/systems/billing")).body;
    assert.equal(billing.metadata.onboarded, true);
    assert.equal(billing.metadata.onboardedBy, "stamp-new-systems");
    assert.equal(billing.metadata.alertWebhook, `https://hooks.example.invalid/catalog/billing?token=${SECRET}`);
    assert.equal(stampChange.next.metadata.alertWebhook, "https://hooks.example.invalid/catalog/billing?token=****");

    // update: a rename fires mark-renamed exactly once; its write fires nothing.
    const renamed = await api.patch("/systems/billing", { name: "Billing Platform" });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.name, "Billing Platform");
    runs = await api.settle(2);
    const renameChange = sse.of("change").find((c) => c.id === "billing" && c.delta.name === "Billing Platform");
    assert.equal(runsFor(runs, "mark-renamed", renameChange.changeId).length, 1, "fired exactly once for the rename");
    assert.equal(runs.length, 2);
    assert.equal((await api.get("/systems/billing")).body.metadata.renamedTo, "Billing Platform");

    // A description change matches neither automation.
    assert.equal((await api.patch("/systems/billing", { description: "Invoices and refunds" })).status, 200);
    runs = await api.settle(2);
    assert.equal(runs.length, 2);

    // A second system: one more stamp.
    assert.equal((await api.post("/systems", { id: "ledger", name: "Ledger", description: null })).status, 201);
    runs = await api.settle(3);
    assert.equal(runs.length, 3);
    assert.deepEqual(runs.map((r) => r.automationId).sort(), [
      "mark-renamed",
      "stamp-new-systems",
      "stamp-new-systems",
    ]);
    for (const r of runs) assert.equal(runsFor(runs, r.automationId, r.changeId).length, 1);

    // Bad requests, missing ids, duplicates.
    assert.equal((await api.post("/systems", { name: 42 })).status, 400);
    assert.equal((await api.post("/systems", { id: "ledger", name: "Again" })).status, 409);
    assert.equal((await api.patch("/systems/nope", { name: "x" })).status, 404);
    assert.equal((await api.del("/systems/nope")).status, 404);
    assert.equal((await api.get("/systems/billing/history?limit=-1")).status, 400);

    // Field state from the transition store.
    const ledgerCreate = sse.of("change").find((c) => c.id === "ledger" && c.prev === null);
    const nameState = (await api.get("/systems/ledger/fields/name")).body;
    assert.equal(nameState.inStateSince, ledgerCreate.occurredAt);
    assert.equal(nameState.transitionsInWindow, 1);

    // delete → catalog.deleted; the history outlives the system.
    const historyBefore = (await api.get("/systems/billing/history")).body;
    assert.equal((await api.del("/systems/billing")).status, 204);
    assert.equal((await api.get("/systems/billing")).status, 404);
    await waitFor(() => sse.of("trigger").some((x) => x.event === "catalog.deleted"), "catalog.deleted");
    const tombstone = sse.of("change").find((c) => c.id === "billing" && c.next === null);
    assert.deepEqual(tombstone.triggers, ["catalog.deleted"]);
    assert.deepEqual((await api.get("/systems/billing/history")).body, historyBefore, "a tombstone appends no rows");
    runs = await api.settle(3);

    // History: newest first, every field change, secrets masked.
    const history = historyBefore;
    assert.deepEqual(
      history.filter((r) => r.field === "name").map((r) => [r.fromValue, r.toValue]),
      [
        ["Billing", "Billing Platform"],
        [null, "Billing"],
      ],
    );
    assert.equal(history.filter((r) => r.field === "metadata").length, 3, "create, stamp, rename mark");
    assert.ok(history.some((r) => r.toValue.includes("token=****")));

    // Not one SSE event, history row or run record carries the secret.
    assert.ok(sse.raw().includes("token=****"));
    assert.ok(!sse.raw().includes(SECRET), "SSE stream masks the run secret");
    assert.ok(!JSON.stringify(history).includes(SECRET), "history masks the run secret");
    assert.ok(!(await api.get("/runs")).text.includes(SECRET), "run log masks the run secret");
    assert.ok(!(await api.get("/systems/ledger/history")).text.includes(SECRET));

    // ---- restart: catalog, history and runs survive; nothing fires again
    await sse.close();
    const status = await service.stop();
    assert.deepEqual(status, { code: 0, signal: null }, service.log());
    const runsBefore = runs;
    const ledgerHistory = (await api.get("/systems/ledger/history").catch(() => null)) ?? null;
    assert.equal(ledgerHistory, null, "the first process is gone");

    service = await startService(env);
    api = client(service.url);
    sse = await openEvents(service.url);
    const systems = (await api.get("/systems")).body;
    assert.deepEqual(
      systems.map((s) => s.id),
      ["ledger"],
    );
    assert.equal(systems[0].metadata.onboardedBy, "stamp-new-systems");
    assert.deepEqual(
      (await api.get("/systems/billing/history")).body,
      historyBefore,
      "history kept across the restart",
    );
    assert.deepEqual(await api.settle(3), runsBefore, "run log kept; no run fired at startup");
    const since = (await api.get("/systems/ledger/fields/name")).body.inStateSince;
    assert.equal(since, ledgerCreate.occurredAt, "inStateSince reads the persisted log");

    // The loop still works after the restart.
    assert.equal((await api.patch("/systems/ledger", { name: "General Ledger" })).status, 200);
    runs = await api.settle(4);
    assert.equal(runs.length, 4);
    assert.equal(runs[0].automationId, "mark-renamed");
    const ledgerNames = (await api.get("/systems/ledger/history?field=name")).body.map((r) => r.toValue);
    assert.deepEqual(ledgerNames, ["General Ledger", "Ledger"]);
    assert.ok(
      sse.of("run").length === 1 && sse.of("change").length === 2,
      "SSE after restart: rename, its run's write, its run",
    );

    // Groups go through the engine too (catalog.group.created).
    assert.equal((await api.post("/groups", { id: "finance", name: "Finance" })).status, 201);
    await waitFor(() => sse.of("trigger").some((x) => x.event === "catalog.group.created"), "catalog.group.created");
    assert.equal((await api.get("/groups/finance/history")).body.length, 2);
    t.diagnostic(`${sse.events.length} SSE events after the restart`);
  } finally {
    await sse.close();
    const status = await service.stop();
    assert.deepEqual(status, { code: 0, signal: null }, service.log());
  }
}

describe("examples/automation-server over HTTP", () => {
  let pgServer = null;
  const dirs = [];
  before(async () => {
    pgServer = await startPostgres();
  });
  after(async () => {
    await pgServer?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("SQLite (default): create, update, delete, automations once per change, SSE, masking, restart", async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "er-automation-"));
    dirs.push(dir);
    await scenario(t, { SQLITE_PATH: path.join(dir, "catalog.db") });
  });

  test("PostgreSQL (DATABASE_URL): the same scenario", async (t) => {
    const admin = new pg.Client({ connectionString: pgServer.connectionString("postgres") });
    await admin.connect();
    await admin.query("CREATE DATABASE automation_e2e");
    await admin.end();
    await scenario(t, { DATABASE_URL: pgServer.connectionString("automation_e2e") });
  });
});

describe("examples/automation-server: request bodies and routes", () => {
  let dir;
  let service;
  let api;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "er-automation-bodies-"));
    service = await startService({ SQLITE_PATH: path.join(dir, "catalog.db") });
    api = client(service.url);
  });
  after(async () => {
    const status = await service?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(status, { code: 0, signal: null }, service?.log());
  });

  test("GET / lists the routes", async () => {
    const index = await api.get("/");
    assert.equal(index.status, 200, index.text);
    const routes = index.body.routes.map((r) => `${r.method} ${r.path}`);
    for (const route of [
      "GET /events",
      "POST /systems",
      "PATCH /systems/:id",
      "DELETE /groups/:id",
      "GET /runs?limit=",
    ])
      assert.ok(routes.includes(route), `GET / lists ${route}: ${routes.join(", ")}`);
    assert.ok(index.body.routes.every((r) => typeof r.description === "string" && r.description !== ""));
    const unknown = await api.get("/nope");
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /GET \/ lists the routes/);
  });

  test("a bad body is a 400 with the engine's error code and path, and nothing is written", async () => {
    const expect400 = async (response, code, errorPath) => {
      assert.equal(response.status, 400, response.text);
      assert.equal(response.body.code, code, response.text);
      if (errorPath !== undefined) assert.equal(response.body.path, errorPath, response.text);
      assert.equal(typeof response.body.error, "string");
    };
    await expect400(await api.post("/systems", { name: "" }), "ER_SCHEMA", "name");
    await expect400(await api.post("/systems", { name: "Billing", metadata: [] }), "ER_SCHEMA", "metadata");
    await expect400(await api.post("/systems", { name: "Billing", descripton: "typo" }), "ER_SCHEMA");
    await expect400(await api.post("/systems", { id: "", name: "Billing" }), "ER_SCHEMA", "id");
    await expect400(await api.post("/groups", { name: "Finance", description: "groups have none" }), "ER_SCHEMA");
    const notJson = await fetch(`${service.url}/systems`, { method: "POST", body: "{not json" });
    assert.equal(notJson.status, 400);
    assert.equal((await notJson.json()).code, "ER_BAD_JSON");
    const notObject = await api.post("/systems", ["Billing"]);
    assert.equal(notObject.status, 400, notObject.text);
    assert.match(notObject.body.code, /^ER_/);
    assert.deepEqual((await api.get("/systems")).body, [], "no bad body reached the catalog");
    assert.deepEqual((await api.get("/groups")).body, []);

    // A misspelt PATCH key is an error, not a silent no-op.
    assert.equal((await api.post("/systems", { id: "api", name: "API" })).status, 201);
    await api.settle(1);
    const before = (await api.get("/systems/api")).body;
    const historyBefore = (await api.get("/systems/api/history")).body;
    await expect400(await api.patch("/systems/api", { nmae: "Renamed" }), "ER_SCHEMA");
    await expect400(await api.patch("/systems/api", { name: "" }), "ER_SCHEMA", "name");
    await expect400(await api.patch("/systems/api", { description: 5 }), "ER_SCHEMA", "description");
    assert.deepEqual((await api.get("/systems/api")).body, before, "the row is unchanged");
    assert.deepEqual((await api.get("/systems/api/history")).body, historyBefore, "no transition was logged");
    // A good PATCH still works.
    const renamed = await api.patch("/systems/api", { name: "Public API" });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.name, "Public API");
  });
});
