// Runs the package's workerd entry inside Cloudflare's workerd runtime (the
// npm `workerd` binary, a devDependency of tests/package.json: install with
// `npm ci --prefix tests`). The config is generated into a temporary
// directory; workerd listens on a free loopback port and is stopped by PID.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, readdir, rm, symlink, writeFile, mkdir } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/services.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const pkgDir = path.join(root, "js");
const workerdBin = path.join(root, "tests/node_modules/.bin/workerd");
const PKG = "node_modules/entity-reactor"; // where the package sits beside the config

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SYSTEM = { type: "system" };
const V1 = { name: "alpha", description: null, metadata: { team: "core" } };
const V2 = { name: "beta", description: null, metadata: { team: "core" } };

let tmp;
let child;
let port;
let log = "";

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

async function listJs(dir, rel = "") {
  const out = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listJs(dir, name)));
    else if (entry.name.endsWith(".js") || entry.name.endsWith(".mjs")) out.push(name);
  }
  return out.sort();
}

const capnpString = (s) => JSON.stringify(s); // capnp text literals use the same escapes

async function writeConfig() {
  const manifest = JSON.parse(await readFile(path.join(pkgDir, "package.json"), "utf8"));
  // The file the "workerd" export condition names, as a bundler resolves it.
  const entry = manifest.exports["."].workerd;
  assert.equal(typeof entry, "string", 'js/package.json exports["."] has a "workerd" condition');
  const modules = [
    `(name = "entity-reactor", esModule = ${capnpString(`export * from "./${PKG}/${entry.replace(/^\.\//, "")}";`)})`,
  ];
  for (const file of await listJs(path.join(pkgDir, "src")))
    modules.push(`(name = "${PKG}/src/${file}", esModule = embed "${PKG}/src/${file}")`);
  modules.push(`(name = "${PKG}/wasm/entity-reactor.mjs", esModule = embed "${PKG}/wasm/entity-reactor.mjs")`);
  modules.push(`(name = "${PKG}/wasm/entity-reactor.wasm", wasm = embed "${PKG}/wasm/entity-reactor.wasm")`);
  const template = await readFile(path.join(here, "config.capnp.in"), "utf8");
  const config = template
    .replace("@PORT@", String(port))
    .replace("@PACKAGE_MODULES@", modules.map((m) => `    ${m},`).join("\n"));
  await writeFile(path.join(tmp, "config.capnp"), config);
}

before(async () => {
  assert.ok(existsSync(workerdBin), `${workerdBin} is missing: run \`npm ci --prefix tests\``);
  assert.ok(
    existsSync(path.join(pkgDir, "wasm/entity-reactor.wasm")) &&
      existsSync(path.join(pkgDir, "src/generated/constants.js")),
    "js/wasm or js/src/generated is missing: run scripts/build-wasm.sh",
  );
  tmp = await mkdtemp(path.join(os.tmpdir(), "er-workerd-"));
  await cp(path.join(here, "worker.mjs"), path.join(tmp, "worker.mjs"));
  await mkdir(path.join(tmp, "node_modules"));
  await symlink(pkgDir, path.join(tmp, PKG), "dir");
  port = await freePort();
  await writeConfig();

  // Own process group, so the after hook can stop it (and anything it
  // started) by its PID even if .bin/workerd were a wrapper script.
  child = spawn(workerdBin, ["serve", "config.capnp"], { cwd: tmp, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 100))]);
    if (status) throw new Error(`workerd exited (${JSON.stringify(status)}) before listening:\n${log}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) throw new Error(`workerd did not listen on 127.0.0.1:${port} within 20 s:\n${log}`);
  }
});

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const stop = (signal) => {
      try {
        process.kill(-child.pid, signal); // the group led by the workerd we spawned
      } catch {
        child.kill(signal);
      }
    };
    stop("SIGTERM");
    const timer = setTimeout(() => stop("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function run() {
  const response = await fetch(`http://127.0.0.1:${port}/run`, { signal: AbortSignal.timeout(15_000) });
  const body = await response.json();
  assert.equal(response.status, 200, `worker failed: ${JSON.stringify(body)}\n${log}`);
  return body;
}

function checkRun(body) {
  assert.deepEqual(body.kinds, ["gadget", "widget"]);
  assert.deepEqual(body.systemActor, SYSTEM);
  assert.deepEqual(body.returned, { created: V1, renamed: V2 });
  assert.deepEqual(body.stored, []);

  // Through onEntityChanged: create, rename, tombstone (the no-op mutate and
  // the second remove produce nothing).
  const events = body.events;
  assert.equal(events.length, 3, JSON.stringify(events));
  const strip = ({ occurredAt, changeId, ...rest }) => rest;
  assert.deepEqual(events.map(strip), [
    {
      kind: "widget",
      id: "w1",
      prev: null,
      next: V1,
      delta: { metadata: { team: "core" }, name: "alpha" },
      changedFields: ["metadata", "name"], // description: null on create is no change (SPEC §3)
      actor: SYSTEM,
    },
    {
      kind: "widget",
      id: "w1",
      prev: V1,
      next: V2,
      delta: { name: "beta" },
      changedFields: ["name"],
      actor: SYSTEM,
    },
    {
      kind: "widget",
      id: "w1",
      prev: V2,
      next: null,
      delta: {},
      changedFields: ["description", "metadata", "name"], // the fields of prev
      actor: SYSTEM,
    },
  ]);
  for (const e of events) {
    assert.match(e.occurredAt, ISO_MS);
    assert.equal(new Date(e.occurredAt).toISOString(), e.occurredAt);
    assert.match(e.changeId, UUID_V4);
  }
  assert.equal(new Set(events.map((e) => e.changeId)).size, events.length, "changeIds are distinct");
  for (let i = 1; i < events.length; i++)
    assert.ok(events[i - 1].occurredAt <= events[i].occurredAt, "occurredAt in order");

  // Through the emitter: the same events.
  assert.deepEqual(body.emitted, events);

  // history(id): newest first, values as text, fromValue null on create.
  const history = body.history;
  assert.equal(history.length, 3, JSON.stringify(history));
  for (const row of history) {
    assert.match(row.transitionedAt, ISO_MS);
    assert.equal(row.kind, "widget");
    assert.equal(row.entityId, "w1");
  }
  for (let i = 1; i < history.length; i++)
    assert.ok(history[i - 1].transitionedAt >= history[i].transitionedAt, "history is newest first");
  const text = ({ field, fromValue, toValue }) => ({ field, fromValue, toValue });
  assert.deepEqual(text(history[0]), { field: "name", fromValue: "alpha", toValue: "beta" });
  assert.equal(history[0].transitionedAt, events[1].occurredAt);
  const created = history
    .slice(1)
    .map(text)
    .sort((a, b) => a.field.localeCompare(b.field));
  assert.deepEqual(created, [
    { field: "metadata", fromValue: null, toValue: '{"team":"core"}' },
    { field: "name", fromValue: null, toValue: "alpha" },
  ]);
  for (const row of history.slice(1)) assert.equal(row.transitionedAt, events[0].occurredAt);
  // A tombstone appends no transition rows.
  assert.equal(body.historyAfterRemoveLength, 3);
}

test("workerd: the workerd entry loads the packaged wasm and runs the pipeline", async (t) => {
  const body = await run();
  checkRun(body);
  assert.equal(body.run, 1);
  // load.js must not need it at import time (it is undefined at this compatibility date).
  t.diagnostic(`typeof import.meta.url in workerd: ${body.importMetaUrl}`);
});

test("workerd: a second request reuses the isolate and the compiled module", async () => {
  const first = await run(); // may be request 1 or 2 depending on order; only the isolate matters
  const second = await run();
  checkRun(second);
  assert.equal(second.run, first.run + 1, "same isolate: module state persists between requests");
  const ids = new Set([...first.events, ...second.events].map((e) => e.changeId));
  assert.equal(ids.size, 6, "each engine draws fresh changeIds");
});
