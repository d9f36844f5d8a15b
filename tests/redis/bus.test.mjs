// entity-reactor/bus/redis in one process against a private redis-server:
// argument checks, broadcast to every bus (own changes included, per-entity
// commit order), work-queue to one bus per group, retries up to maxRetries,
// the dead-letter stream, unsubscribe / close, a restarted consumer picking up
// its own pending entries, and the same subscriber code on engine or bus.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { createEngine } from "../../js/src/index.js";
import { createRedisBus } from "../../js/src/bus/redis.js";
import { Table, quietLogger, sys, systemSchema } from "../js/helpers.mjs";
import { startRedis } from "./redis-server.mjs";

let redis = null;
let rc = null;
const closers = [];
let seq = 0;

before(async () => {
  redis = await startRedis();
  rc = createClient({ url: redis.url });
  rc.on("error", () => {});
  await rc.connect();
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await rc?.close?.().catch(() => {});
  await redis?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, cond, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function bus(options = {}) {
  const logger = quietLogger();
  const client = createClient({ url: redis.url });
  const b = await createRedisBus({ client, blockMs: 200, claimIdleMs: 1000, logger, ...options });
  b.logger = logger;
  closers.push(() => b.close());
  return b;
}

async function engine() {
  const e = await createEngine({ logger: quietLogger() });
  const table = new Table();
  const handle = e.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  closers.push(async () => e.close());
  const write = (id, name) => handle.mutate({ id, apply: table.put(id, sys(name)) });
  return { engine: e, handle, table, write };
}

test("createRedisBus and onEntityChanged check their arguments", async () => {
  await assert.rejects(createRedisBus({}), /client/);
  await assert.rejects(createRedisBus({ client: createClient({ url: redis.url }), claimIdleMs: 0 }), /claimIdleMs/);
  const b = await bus({ stream: `s${++seq}` });
  assert.throws(() => b.onEntityChanged({ kind: "", handler() {} }), /kind/);
  assert.throws(() => b.onEntityChanged({ kind: "sys" }), /handler/);
  assert.throws(() => b.onEntityChanged({ kind: "sys", handler() {}, delivery: { mode: "fanout" } }), /delivery.mode/);
  assert.throws(() => b.onEntityChanged({ kind: "sys", handler() {}, delivery: { mode: "work-queue" } }), /workerGroup/);
  assert.throws(() => b.onEntityChanged({ kind: "sys", handler() {}, delivery: { mode: "work-queue", workerGroup: "g", maxRetries: -1 } }), /maxRetries/);
  assert.throws(() => b.attach({}), /engine/);
});

test("broadcast: every bus sees every change, its own included, in commit order per entity, with changeId", async () => {
  const stream = `s${++seq}`;
  const [b1, b2] = [await bus({ stream }), await bus({ stream })];
  const { engine: e1, write } = await engine();
  const emitted = [];
  e1.wire((ev) => (emitted.push(ev), b1.emit(ev)));
  const seen1 = [];
  const seen2 = [];
  b1.onEntityChanged({ kind: "sys", handler: (ev) => seen1.push(ev) });
  b2.onEntityChanged({ kind: "sys", handler: (ev) => seen2.push(ev) });
  b2.onEntityChanged({ kind: "other", handler: () => assert.fail("wrong kind") });
  await sleep(50);
  for (let v = 1; v <= 5; v++) await write("a", `a-v${v}`);
  await waitFor("both buses", () => seen1.length === 5 && seen2.length === 5);
  for (const seen of [seen1, seen2]) {
    assert.deepEqual(seen.map((ev) => ev.next.name), ["a-v1", "a-v2", "a-v3", "a-v4", "a-v5"]);
    assert.deepEqual(seen.map((ev) => ev.changeId), emitted.map((ev) => ev.changeId));
    // A change crosses processes as JSON: what arrives is the event's toJSON().
    assert.deepEqual(seen[1], JSON.parse(JSON.stringify(emitted[1])));
  }
});

test("a throwing broadcast handler is logged and does not stop the next change", async () => {
  const stream = `s${++seq}`;
  const b = await bus({ stream });
  const { engine: e, write } = await engine();
  b.attach(e);
  const seen = [];
  b.onEntityChanged({ kind: "sys", handler: (ev) => { if (ev.next.name === "boom") throw new Error("boom"); seen.push(ev.next.name); } });
  await sleep(50);
  await write("x", "boom");
  await write("x", "fine");
  await waitFor("the next change", () => seen.length === 1);
  assert.deepEqual(seen, ["fine"]);
  assert.ok(b.logger.errors.some((m) => m.includes("boom")));
});

test("work-queue: one bus per group handles each change; groups are independent", async () => {
  const stream = `s${++seq}`;
  const buses = [await bus({ stream }), await bus({ stream }), await bus({ stream })];
  const { engine: e, write } = await engine();
  buses[0].attach(e);
  const handled = { mail: [], audit: [] };
  for (const b of buses)
    for (const group of ["mail", "audit"]) b.onEntityChanged({ kind: "sys", handler: (ev) => handled[group].push([b.consumerName, ev.changeId]), delivery: { mode: "work-queue", workerGroup: group } });
  await Promise.all(buses.map((b) => b.ready()));
  for (let i = 0; i < 60; i++) await write(`w${i}`, `w${i}`);
  await waitFor("both groups", () => handled.mail.length >= 60 && handled.audit.length >= 60);
  await sleep(300);
  for (const group of ["mail", "audit"]) {
    assert.equal(handled[group].length, 60);
    assert.equal(new Set(handled[group].map(([, id]) => id)).size, 60, `${group}: each change once`);
    const pending = await rc.sendCommand(["XPENDING", stream, `${group}:sys`]);
    assert.equal(Number(pending[0]), 0);
  }
});

test("work-queue retries a throwing handler up to maxRetries, then dead-letters and acknowledges", async () => {
  const stream = `s${++seq}`;
  const b = await bus({ stream });
  const { engine: e, write } = await engine();
  b.attach(e);
  const attempts = new Map();
  const done = [];
  b.onEntityChanged({
    kind: "sys",
    delivery: { mode: "work-queue", workerGroup: "flaky", maxRetries: 2 },
    handler: async (ev) => {
      const n = (attempts.get(ev.next.name) ?? 0) + 1;
      attempts.set(ev.next.name, n);
      if (ev.next.name === "twice" && n <= 2) throw new Error("transient");
      if (ev.next.name === "always") throw new Error("permanent");
      done.push(ev.next.name);
    },
  });
  await b.ready();
  await write("t", "twice");
  await write("a", "always");
  await write("o", "ok");
  await waitFor("dead letter", async () => Number(await rc.sendCommand(["XLEN", `${stream}:dead`])) === 1);
  await waitFor("ok", () => done.includes("ok"));
  assert.equal(attempts.get("twice"), 3, "failed twice, succeeded on the third attempt");
  assert.equal(attempts.get("always"), 3, "1 + maxRetries attempts");
  assert.deepEqual(done, ["twice", "ok"]);
  const [[, flat]] = await rc.sendCommand(["XRANGE", `${stream}:dead`, "-", "+"]);
  const fields = Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));
  assert.equal(fields.group, "flaky:sys");
  assert.equal(fields.error, "permanent");
  assert.equal(JSON.parse(fields.e).next.name, "always");
  await waitFor("acks", async () => Number((await rc.sendCommand(["XPENDING", stream, "flaky:sys"]))[0]) === 0);
  assert.ok(b.logger.errors.some((m) => m.includes("dead")));
});

test("a consumer restarted under the same consumerName handles its own pending entries first", async () => {
  const stream = `s${++seq}`;
  const first = await bus({ stream, consumerName: "worker-a", claimIdleMs: 60_000 });
  const publisher = await bus({ stream });
  let release;
  first.onEntityChanged({ kind: "sys", delivery: { mode: "work-queue", workerGroup: "g" }, handler: () => new Promise((r) => (release = r)) });
  await first.ready();
  const { engine: e, write } = await engine();
  publisher.attach(e);
  await write("p", "pending");
  await waitFor("the first consumer to take it", () => release !== undefined);
  await first.close(); // its handler never settled: the entry stays pending for worker-a
  const pending = await rc.sendCommand(["XPENDING", stream, "g:sys"]);
  assert.equal(Number(pending[0]), 1);
  const again = await bus({ stream, consumerName: "worker-a", claimIdleMs: 60_000 });
  const got = [];
  again.onEntityChanged({ kind: "sys", delivery: { mode: "work-queue", workerGroup: "g" }, handler: (ev) => got.push(ev.next.name) });
  await waitFor("redelivery", () => got.length === 1);
  assert.deepEqual(got, ["pending"]);
  release();
});

test("unsubscribe stops delivery and is idempotent; close is idempotent; emit after close rejects", async () => {
  const stream = `s${++seq}`;
  const b = await bus({ stream });
  const { engine: e, write } = await engine();
  b.attach(e);
  const seen = [];
  const off = b.onEntityChanged({ kind: "sys", handler: (ev) => seen.push(ev.next.name) });
  const offWq = b.onEntityChanged({ kind: "sys", handler: () => {}, delivery: { mode: "work-queue", workerGroup: "g" } });
  await b.ready();
  await write("u", "one");
  await waitFor("one", () => seen.length === 1);
  await off();
  await off();
  await offWq();
  await offWq();
  await write("u", "two");
  await sleep(400);
  assert.deepEqual(seen, ["one"]);
  await b.close();
  await b.close();
  await assert.rejects(b.emit({ kind: "sys", id: "u", changeId: "x" }), /closed/);
  assert.throws(() => b.onEntityChanged({ kind: "sys", handler() {} }), /closed/);
});

test("the same subscriber code runs on the engine (in-process) or on the bus (multi-process)", async () => {
  // App code written against { onEntityChanged }: either the engine or the bus.
  const install = (target, out) => target.onEntityChanged({ kind: "sys", handler: (ev) => out.push(ev.next.name), delivery: { mode: "work-queue", workerGroup: "app" } });
  const local = await engine();
  const inProcess = [];
  install(local.engine, inProcess);
  await local.write("s", "local");
  await waitFor("in-process", () => inProcess.length === 1);

  const stream = `s${++seq}`;
  const b = await bus({ stream });
  const remote = await engine();
  b.attach(remote.engine);
  const viaBus = [];
  install(b, viaBus);
  await b.ready();
  await remote.write("s", "bus");
  await waitFor("via the bus", () => viaBus.length === 1);
  assert.deepEqual([inProcess, viaBus], [["local"], ["bus"]]);
});
