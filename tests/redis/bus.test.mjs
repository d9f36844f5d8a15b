// entity-reactor/bus/redis in one process against a private redis-server:
// argument checks, broadcast to every bus (own changes included, per-entity
// commit order), work-queue to one bus per group, retries up to maxRetries,
// the dead-letter stream, unsubscribe / close, a restarted consumer picking up
// its own pending entries, and the same subscriber code on engine or bus.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { createClient } from "redis";
import { createEngine } from "../../js/src/index.js";
import { createRedisBus } from "../../js/src/bus/redis.js";
import { createSqliteTransitionStore } from "../../js/src/stores/sqlite.js";
import { Table, quietLogger, sys, systemSchema } from "../js/helpers.mjs";
import { createMemoryTransitionStore } from "../node/memory-store.mjs";
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
  assert.throws(
    () => b.onEntityChanged({ kind: "sys", handler() {}, delivery: { mode: "work-queue" } }),
    /workerGroup/,
  );
  assert.throws(
    () =>
      b.onEntityChanged({
        kind: "sys",
        handler() {},
        delivery: { mode: "work-queue", workerGroup: "g", maxRetries: -1 },
      }),
    /maxRetries/,
  );
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
    assert.deepEqual(
      seen.map((ev) => ev.next.name),
      ["a-v1", "a-v2", "a-v3", "a-v4", "a-v5"],
    );
    assert.deepEqual(
      seen.map((ev) => ev.changeId),
      emitted.map((ev) => ev.changeId),
    );
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
  b.onEntityChanged({
    kind: "sys",
    handler: (ev) => {
      if (ev.next.name === "boom") throw new Error("boom");
      seen.push(ev.next.name);
    },
  });
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
    for (const group of ["mail", "audit"])
      b.onEntityChanged({
        kind: "sys",
        handler: (ev) => handled[group].push([b.consumerName, ev.changeId]),
        delivery: { mode: "work-queue", workerGroup: group },
      });
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
  first.onEntityChanged({
    kind: "sys",
    delivery: { mode: "work-queue", workerGroup: "g" },
    handler: () => new Promise((r) => (release = r)),
  });
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
  again.onEntityChanged({
    kind: "sys",
    delivery: { mode: "work-queue", workerGroup: "g" },
    handler: (ev) => got.push(ev.next.name),
  });
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
  const offWq = b.onEntityChanged({
    kind: "sys",
    handler: () => {},
    delivery: { mode: "work-queue", workerGroup: "g" },
  });
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
  const install = (target, out) =>
    target.onEntityChanged({
      kind: "sys",
      handler: (ev) => out.push(ev.next.name),
      delivery: { mode: "work-queue", workerGroup: "app" },
    });
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

// ------------------------------------------------------------ createEngine({ bus }), the outbox relay, dedupe

async function streamLength(stream) {
  return Number(await rc.sendCommand(["XLEN", stream]));
}

test("createEngine({ bus }): engine.onEntityChanged subscribes through the bus, and changes are published without attach", async () => {
  const stream = `s${++seq}`;
  const b = await bus({ stream });
  const e = await createEngine({ bus: b, logger: quietLogger() });
  closers.push(async () => e.close());
  const table = new Table();
  const handle = e.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  const broadcast = [];
  const queued = [];
  const off = e.onEntityChanged({ kind: "sys", handler: (ev) => broadcast.push(ev.next.name) });
  e.onEntityChanged({
    kind: "sys",
    handler: (ev) => queued.push(ev.changeId),
    delivery: { mode: "work-queue", workerGroup: "wq" },
  });
  await b.ready();
  await sleep(50);
  for (const name of ["one", "two", "three"]) await handle.mutate({ id: "x", apply: table.put("x", sys(name)) });
  await waitFor("delivery through Redis", () => broadcast.length === 3 && queued.length === 3);
  assert.deepEqual(broadcast, ["one", "two", "three"]);
  assert.equal(await streamLength(stream), 3);
  await off();
  assert.equal(b.stats().relay.relays, 0, "no outbox, no relay");
});

test("with an outbox store the relay publishes committed changes (tombstones too) in commit order, and the store is left empty", async () => {
  const stream = `s${++seq}`;
  const b = await bus({ stream, relayPollMs: 50 });
  const store = createMemoryTransitionStore({ outbox: true });
  const e = await createEngine({ transitions: store, bus: b, logger: quietLogger() });
  closers.push(async () => e.close());
  const table = new Table();
  const handle = e.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  const seen = [];
  e.onEntityChanged({ kind: "sys", handler: (ev) => seen.push(ev) });
  await sleep(50);
  const local = [];
  e.wire((ev) => local.push(ev.changeId));
  await handle.mutate({ id: "a", apply: table.put("a", sys("a1")) });
  await handle.mutate({ id: "a", apply: table.put("a", sys("a2")) });
  await handle.remove({ id: "a", apply: table.del("a") });
  await e.ingest(
    "sys",
    Array.from({ length: 250 }, (_, i) => ({ id: `i${i}`, next: sys(`i${i}`) })),
  );
  await waitFor("every change relayed and delivered", () => seen.length === 253);
  assert.deepEqual(
    seen.map((ev) => ev.changeId),
    local,
    "stream order is commit order",
  );
  assert.equal(seen[2].next, null, "the tombstone went through the outbox");
  assert.equal(await store.outboxBacklog(), 0);
  assert.equal(await streamLength(stream), 253, "each change published once");
  assert.ok(b.stats().relay.published >= 253);
});

test("the relay backs off while the store or Redis fails, then resumes without losing or reordering a change", async () => {
  const stream = `s${++seq}`;
  const logger = quietLogger();
  const b = await bus({ stream, relayPollMs: 50, retryMinMs: 20, retryMaxMs: 80, logger });
  const store = createMemoryTransitionStore({ outbox: true });
  let failures = 5;
  const relayOutbox = store.relayOutbox;
  store.relayOutbox = async (args, publish) => {
    if (failures > 0 && (await store.outboxBacklog()) > 0) {
      failures--;
      // Half the failures after publishing a prefix: those are published again.
      if (failures % 2) return relayOutbox(args, async (changes) => (await publish(changes.slice(0, 1)), 0));
      throw new Error("database unavailable");
    }
    return relayOutbox(args, publish);
  };
  const e = await createEngine({ transitions: store, bus: b, logger: quietLogger() });
  closers.push(async () => e.close());
  const table = new Table();
  const handle = e.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  const broadcast = [];
  const queued = [];
  e.onEntityChanged({ kind: "sys", handler: (ev) => broadcast.push(ev.changeId) });
  e.onEntityChanged({
    kind: "sys",
    handler: (ev) => queued.push(ev.changeId),
    delivery: { mode: "work-queue", workerGroup: "wq" },
  });
  await b.ready();
  await sleep(50);
  const local = [];
  e.wire((ev) => local.push(ev.changeId));
  for (let i = 0; i < 5; i++) await handle.mutate({ id: `r${i}`, apply: table.put(`r${i}`, sys(`r${i}`)) });
  await waitFor("delivery after the failures", () => broadcast.length === 5 && queued.length === 5);
  await sleep(200);
  assert.deepEqual(broadcast, local, "broadcast: each change once, in commit order");
  assert.deepEqual([...queued].sort(), [...local].sort(), "work-queue: each change once");
  assert.ok((await streamLength(stream)) > 5, "some changes were published twice");
  const stats = b.stats();
  assert.equal(stats.relay.failures, 5);
  assert.ok(stats.broadcast.duplicates > 0 && stats.groups["wq:sys"].duplicates > 0, JSON.stringify(stats));
  assert.ok(logger.warnings.some((m) => /outbox relay: database unavailable/.test(m)));
  assert.ok(logger.warnings.some((m) => /outbox relay resumed after 5 failure/.test(m)));
});

test("work-queue exactly once per group: a change published twice runs each group's handler once; broadcast once per bus", async () => {
  const stream = `s${++seq}`;
  const buses = [await bus({ stream }), await bus({ stream })];
  const handled = { a: [], b: [] };
  const broadcast = [[], []];
  buses.forEach((b, i) => {
    b.onEntityChanged({ kind: "sys", handler: (ev) => broadcast[i].push(ev.changeId) });
    for (const g of ["a", "b"])
      b.onEntityChanged({
        kind: "sys",
        handler: (ev) => handled[g].push(ev.changeId),
        delivery: { mode: "work-queue", workerGroup: g },
      });
  });
  await Promise.all(buses.map((b) => b.ready()));
  await sleep(50);
  const events = Array.from({ length: 20 }, (_, i) => ({
    kind: "sys",
    id: `d${i}`,
    changeId: `change-${stream}-${i}`,
    next: { name: `d${i}` },
  }));
  for (const ev of events) await buses[0].publish(ev);
  for (const ev of events) await buses[1].publish(ev); // every change twice
  await waitFor("the copies to be read", async () => {
    const counts = await Promise.all(["a", "b"].map((g) => rc.sendCommand(["XPENDING", stream, `${g}:sys`])));
    return (
      broadcast.every((l) => l.length === 20) &&
      handled.a.length === 20 &&
      handled.b.length === 20 &&
      counts.every((c) => Number(c[0]) === 0) &&
      (await streamLength(stream)) === 40
    );
  });
  await sleep(300);
  const ids = events.map((e) => e.changeId);
  for (const g of ["a", "b"]) assert.deepEqual([...handled[g]].sort(), [...ids].sort(), `group ${g}: each change once`);
  for (const l of broadcast) assert.deepEqual(l, ids, "broadcast: each change once, in order");
  const dupes = buses.map((b) => b.stats().groups);
  assert.equal(
    dupes.reduce((s, g) => s + g["a:sys"].duplicates + g["b:sys"].duplicates, 0),
    40,
    "every copy acknowledged as a duplicate",
  );
  const ttl = Number(await rc.sendCommand(["PTTL", `${stream}:dedupe:a:sys:${ids[0]}`]));
  assert.ok(ttl > 3_000_000 && ttl <= 3_600_000, `the done marker lasts dedupeTtlMs (${ttl})`);
});

test("work-queue: a change whose dedupe key another consumer holds is left pending, then handled once the lease lapses", async () => {
  const stream = `s${++seq}`;
  const b = await bus({ stream, claimIdleMs: 400 });
  const handled = [];
  b.onEntityChanged({
    kind: "sys",
    handler: (ev) => handled.push(ev.changeId),
    delivery: { mode: "work-queue", workerGroup: "g" },
  });
  await b.ready();
  // Another consumer (say, handling a copy of the change) holds the lease for 600 ms.
  await rc.sendCommand(["SET", `${stream}:dedupe:g:sys:held`, "p:elsewhere:1", "PX", "600"]);
  await b.publish({ kind: "sys", id: "h", changeId: "held" });
  await b.publish({ kind: "sys", id: "f", changeId: "free" });
  await waitFor("the free change", () => handled.includes("free"));
  assert.deepEqual(handled, ["free"], "the held change waits");
  await waitFor("the held change, after the lease", () => handled.includes("held"), 10_000);
  assert.deepEqual(handled, ["free", "held"]);
  assert.ok(b.stats().groups["g:sys"].claimed >= 1, "taken back with XAUTOCLAIM");
});

test("close() publishes what the outbox still holds, then stops; an outbox store without relayOutbox is refused", async () => {
  const stream = `s${++seq}`;
  const b = await createRedisBus({
    client: createClient({ url: redis.url }),
    stream,
    blockMs: 200,
    relayPollMs: 60_000,
    logger: quietLogger(),
  });
  const store = createMemoryTransitionStore({ outbox: true });
  const e = await createEngine({ transitions: store, bus: b, logger: quietLogger() });
  const table = new Table();
  const handle = e.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  await sleep(100); // the relay's first (empty) pass is over; the next poll is a minute away
  const watch = store.watchOutbox;
  store.watchOutbox = () => () => {}; // (already registered; new commits wake nobody now)
  for (let i = 0; i < 3; i++) await handle.mutate({ id: `c${i}`, apply: table.put(`c${i}`, sys(`c${i}`)) });
  store.watchOutbox = watch;
  await b.close();
  assert.equal(await store.outboxBacklog(), 0, "drained by close");
  assert.equal(await streamLength(stream), 3);
  e.close();

  const broken = { ...createMemoryTransitionStore({ outbox: true }), relayOutbox: undefined };
  const b2 = await bus({ stream: `s${++seq}` });
  await assert.rejects(createEngine({ transitions: broken, bus: b2 }), /relayOutbox/);
});

test("two engines on one SQLite outbox: one relay at a time publishes every change once, in commit order", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "er-bus-sqlite-"));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "app.db");
  const stream = `s${++seq}`;
  const sides = [];
  for (let n = 0; n < 2; n++) {
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    const store = createSqliteTransitionStore(db, { outbox: true });
    const b = await bus({ stream, relayPollMs: 100 });
    const e = await createEngine({ transitions: store, bus: b, logger: quietLogger() });
    closers.push(async () => (e.close(), db.close()));
    const table = new Table();
    const handle = e.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
    sides.push({ db, b, handle, table });
  }
  await Promise.all(
    sides.map(async ({ handle, table }, n) => {
      for (let i = 0; i < 60; i++)
        await handle.mutate({ id: `p${n}-${i % 5}`, apply: table.put(`p${n}-${i % 5}`, sys(`v${i}`)) });
    }),
  );
  const committed = sides[0].db.prepare("SELECT change_id FROM entity_transitions_outbox ORDER BY seq").pluck().all();
  assert.equal(committed.length, 120);
  await waitFor(
    "every change published",
    async () =>
      (await streamLength(stream)) >= 120 &&
      sides[0].db.prepare("SELECT COUNT(*) FROM entity_transitions_outbox WHERE published_at IS NULL").pluck().get() ===
        0,
  );
  await sleep(300);
  const entries = await rc.sendCommand(["XRANGE", stream, "-", "+"]);
  const published = entries.map(([, flat]) => flat[flat.indexOf("changeId") + 1]);
  assert.deepEqual(published, committed, "each change once, in the outbox's commit order");
  assert.ok(
    sides.some((s) => s.b.stats().relay.locked > 0),
    "the relays met the lease",
  );
});
