// entity-reactor/bus/redis across three Node processes: a private
// redis-server (redis-server.mjs) and a private PostgreSQL (../node/pg-server.mjs),
// three forked workers (worker.mjs), each with an engine over the shared
// PostgreSQL transition store and a Redis bus; 3,000 writes spread across
// them. Checks that every broadcast subscriber sees every change in stream
// order, that each work-queue group handles each change exactly once (counted
// by changeId across processes), and that a SIGKILLed worker loses no change
// (its pending entries are claimed by the others). Prints the throughput.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createClient } from "redis";
import { startPostgres } from "../node/pg-server.mjs";
import { startRedis } from "./redis-server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const WRITES = 3000;
const CHUNK = 50;
const WORKERS = 3;

let redis = null;
let pgServer = null;
let rc = null;
const children = new Set();

before(async () => {
  [redis, pgServer] = await Promise.all([startRedis(), startPostgres()]);
  rc = createClient({ url: redis.url });
  rc.on("error", () => {});
  await rc.connect();
});

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {}
    }
  await rc?.close?.().catch(() => {});
  await redis?.stop();
  await pgServer?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, cond, ms) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** All entries of the stream, in order: [{ entryId, changeId, id }]. */
async function streamEntries(stream) {
  const out = [];
  for (let start = "-"; ;) {
    const page = await rc.sendCommand(["XRANGE", stream, start, "+", "COUNT", "1000"]);
    for (const [entryId, flat] of page) {
      const f = {};
      for (let i = 0; i < flat.length; i += 2) f[flat[i]] = flat[i + 1];
      out.push({ entryId, changeId: f.changeId, id: f.id });
    }
    if (page.length < 1000) return out;
    start = `(${page.at(-1)[0]}`;
  }
}

function startWorker(n, { table, stream, claimIdleMs, stallAfter, memory }) {
  const args = [redis.url, memory ? "memory" : pgServer.url, table, stream, String(claimIdleMs)];
  if (stallAfter) args.push(String(stallAfter));
  const child = fork(path.join(here, "worker.mjs"), args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.add(child);
  const w = {
    n,
    child,
    ready: false,
    dead: false,
    consumerName: null,
    broadcast: [],
    g1: [],
    g2: [],
    claimed: {},
    stalled: false,
    inflight: new Set(),
    exited: false,
  };
  child.on("message", (m) => {
    if (m.type === "ready") {
      w.ready = true;
      w.consumerName = m.consumerName;
    } else if (m.type === "seen") {
      w.broadcast.push(...m.broadcast);
      w.g1.push(...m.g1);
      w.g2.push(...m.g2);
      w.claimed = m.claimed;
    } else if (m.type === "wrote") {
      w.inflight.delete(m.chunk);
      w.onWrote?.(m.chunk);
    } else if (m.type === "stalled") w.stalled = true;
  });
  child.on("exit", () => (w.exited = true));
  return w;
}

/** Hands out chunks of ids to live workers, two in flight per worker. */
function dispatcher(workers, ids) {
  const chunks = [];
  for (let i = 0; i < ids.length; i += CHUNK) chunks.push({ chunk: chunks.length, ids: ids.slice(i, i + CHUNK) });
  const queue = [...chunks];
  let done = 0;
  const pump = (w) => {
    while (!w.dead && w.inflight.size < 2 && queue.length) {
      const c = queue.shift();
      w.inflight.add(c.chunk);
      w.child.send({ type: "write", chunk: c.chunk, ids: c.ids });
    }
  };
  for (const w of workers) {
    w.onWrote = () => {
      done++;
      pump(w);
    };
  }
  return {
    start: () => workers.forEach(pump),
    get allWritten() {
      return done === chunks.length;
    },
    /** A dead worker's chunks go back to the queue; their ids are written again by another worker. */
    requeue(dead) {
      for (const n of dead.inflight) queue.unshift(chunks[n]);
      dead.inflight.clear();
      workers.filter((w) => !w.dead).forEach(pump);
    },
  };
}

function countBy(lists) {
  const counts = new Map();
  for (const list of lists) for (const id of list) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

async function stopWorkers(workers) {
  for (const w of workers) if (!w.dead && !w.exited) w.child.send({ type: "stop" });
  await waitFor("workers to exit", () => workers.every((w) => w.exited), 20_000);
}

test(
  "3 processes, 3,000 writes: broadcast to every process in stream order, each work-queue group exactly once",
  { timeout: 90_000 },
  async () => {
    const opts = { table: "t1_transitions", stream: "t1:changes", claimIdleMs: 5000 };
    const workers = Array.from({ length: WORKERS }, (_, n) => startWorker(n, opts));
    await waitFor("workers ready", () => workers.every((w) => w.ready), 30_000);

    const ids = Array.from({ length: WRITES }, (_, i) => `item-${i}`);
    const d = dispatcher(workers, ids);
    const t0 = performance.now();
    d.start();
    let writtenAt = 0;
    await waitFor("writes", () => (d.allWritten ? (writtenAt = performance.now()) : false), 60_000).catch(() => {});
    await waitFor(
      "every change delivered",
      () =>
        d.allWritten &&
        workers.every((w) => w.broadcast.length >= WRITES) &&
        workers.reduce((s, w) => s + w.g1.length, 0) >= WRITES &&
        workers.reduce((s, w) => s + w.g2.length, 0) >= WRITES,
      60_000,
    );
    const seconds = (performance.now() - t0) / 1000;
    const writeSeconds = (writtenAt - t0) / 1000;
    await sleep(300); // anything more (a duplicate) would show up now

    const entries = await streamEntries(opts.stream);
    assert.equal(entries.length, WRITES, "one stream entry per change");
    assert.deepEqual(new Set(entries.map((e) => e.id)), new Set(ids));
    const order = entries.map((e) => e.changeId);
    for (const w of workers)
      assert.deepEqual(w.broadcast, order, `worker ${w.n}: broadcast sees every change, in stream order`);
    for (const group of ["g1", "g2"]) {
      const counts = countBy(workers.map((w) => w[group]));
      assert.equal(counts.size, WRITES, `${group}: every change handled`);
      assert.ok(
        [...counts.values()].every((c) => c === 1),
        `${group}: each change handled exactly once`,
      );
      const shares = workers.map((w) => w[group].length);
      assert.ok(shares.filter((s) => s > 0).length >= 2, `${group}: work spread over processes (${shares})`);
      const pending = await rc.sendCommand(["XPENDING", opts.stream, `${group}:item`]);
      assert.equal(Number(pending[0]), 0, `${group}: nothing left unacknowledged`);
    }
    const db = new pg.Client({ connectionString: pgServer.url });
    await db.connect();
    const { rows } = await db
      .query("SELECT count(DISTINCT entity_id)::int AS n FROM t1_transitions")
      .finally(() => db.end());
    assert.equal(rows[0].n, WRITES, "every write's transitions in the shared PostgreSQL store");

    const rate = Math.round(WRITES / seconds);
    console.log(
      `# throughput: ${WRITES} changes in ${seconds.toFixed(2)} s = ${rate} changes/s end to end ` +
        `(3 processes; write + PostgreSQL commit + XADD + broadcast to 3 processes + 2 work-queue groups; ` +
        `the writes alone took ${writeSeconds.toFixed(2)} s); ` +
        `g1 shares ${workers.map((w) => w.g1.length)}, g2 shares ${workers.map((w) => w.g2.length)}; redis-server ${redis.version}`,
    );
    await stopWorkers(workers);
  },
);

test(
  "the bus alone: 3 processes, 3,000 writes on the embedded transition store (no PostgreSQL)",
  { timeout: 60_000 },
  async () => {
    const opts = { table: "unused", stream: "t0:changes", claimIdleMs: 5000, memory: true };
    const workers = Array.from({ length: WORKERS }, (_, n) => startWorker(n, opts));
    await waitFor("workers ready", () => workers.every((w) => w.ready), 30_000);
    const d = dispatcher(
      workers,
      Array.from({ length: WRITES }, (_, i) => `item-${i}`),
    );
    const t0 = performance.now();
    d.start();
    await waitFor(
      "every change delivered",
      () =>
        d.allWritten &&
        workers.every((w) => w.broadcast.length >= WRITES) &&
        ["g1", "g2"].every((g) => workers.reduce((s, w) => s + w[g].length, 0) >= WRITES),
      60_000,
    );
    const seconds = (performance.now() - t0) / 1000;
    await sleep(300);
    const order = (await streamEntries(opts.stream)).map((e) => e.changeId);
    for (const w of workers) assert.deepEqual(w.broadcast, order);
    for (const g of ["g1", "g2"]) {
      const counts = countBy(workers.map((w) => w[g]));
      assert.ok(counts.size === WRITES && [...counts.values()].every((c) => c === 1), `${g}: each change exactly once`);
    }
    console.log(
      `# bus only (embedded store): ${WRITES} changes in ${seconds.toFixed(2)} s = ${Math.round(WRITES / seconds)} changes/s end to end across 3 processes`,
    );
    await stopWorkers(workers);
  },
);

test(
  "SIGKILL of one process mid-run loses no change: its pending entries are claimed by the others",
  { timeout: 90_000 },
  async () => {
    const opts = { table: "t2_transitions", stream: "t2:changes", claimIdleMs: 1000 };
    const workers = Array.from({ length: WORKERS }, (_, n) =>
      startWorker(n, { ...opts, stallAfter: n === 0 ? 300 : undefined }),
    );
    const [victim, ...survivors] = workers;
    await waitFor("workers ready", () => workers.every((w) => w.ready), 30_000);

    const ids = Array.from({ length: WRITES }, (_, i) => `item-${i}`);
    const d = dispatcher(workers, ids);
    d.start();
    await waitFor("the victim to hold unacknowledged entries", () => victim.stalled, 30_000);
    let victimPending = 0;
    for (const group of ["g1", "g2"]) {
      const p = await rc.sendCommand(["XPENDING", opts.stream, `${group}:item`, "-", "+", "1000", victim.consumerName]);
      victimPending += p.length;
    }
    assert.ok(victimPending > 0, "the victim holds pending entries when it is killed");
    assert.ok(!d.allWritten, "the victim is killed mid-run, while writes are still going on");
    process.kill(victim.child.pid, "SIGKILL");
    victim.dead = true;
    await waitFor("victim exit", () => victim.exited, 10_000);
    d.requeue(victim);

    const covered = (entries) => {
      const all = entries.map((e) => e.changeId);
      return (
        survivors.every((w) => w.broadcast.length >= all.length) &&
        ["g1", "g2"].every((g) => countBy(workers.map((w) => w[g])).size >= all.length)
      );
    };
    let entries = [];
    const end = Date.now() + 60_000;
    for (;;) {
      if (d.allWritten) {
        entries = await streamEntries(opts.stream);
        if (covered(entries)) break;
      }
      if (Date.now() > end) throw new Error("timed out waiting for every change to be delivered after the kill");
      await sleep(100);
    }
    await sleep(300);

    assert.deepEqual(new Set(entries.map((e) => e.id)), new Set(ids), "every one of the 3,000 writes is in the stream");
    const order = entries.map((e) => e.changeId);
    for (const w of survivors)
      assert.deepEqual(w.broadcast, order, `survivor ${w.n}: broadcast sees every change, in stream order`);
    let claimed = 0;
    for (const group of ["g1", "g2"]) {
      const counts = countBy(workers.map((w) => w[group]));
      assert.equal(counts.size, entries.length, `${group}: every change handled (none lost with the victim)`);
      assert.deepEqual(new Set(counts.keys()), new Set(order));
      assert.ok(
        [...counts.values()].every((c) => c === 1),
        `${group}: each change handled exactly once`,
      );
      const pending = await rc.sendCommand(["XPENDING", opts.stream, `${group}:item`]);
      assert.equal(Number(pending[0]), 0, `${group}: nothing left unacknowledged`);
      for (const w of survivors) claimed += w.claimed[`${group}:item`] ?? 0;
    }
    assert.ok(
      claimed >= victimPending,
      `survivors claimed the victim's ${victimPending} pending entries (claimed ${claimed})`,
    );
    console.log(
      `# kill test: ${entries.length} changes (${entries.length - WRITES} rewritten after the kill); victim handled ${victim.g1.length + victim.g2.length} ` +
        `work-queue changes and held ${victimPending} unacknowledged; survivors claimed ${claimed}`,
    );
    await stopWorkers(survivors);
  },
);
