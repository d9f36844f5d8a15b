// Fault tests of the outbox and the Redis bus against real servers: a private
// PostgreSQL (../node/pg-server.mjs, synchronous_commit on) and a private
// redis-server with an append-only file (../redis/redis-server.mjs,
// appendfsync always), both started here on free ports and killed or
// restarted by PID. Engines run in child processes (worker.mjs), each created
// with createEngine({ transitions: <store with outbox>, bus }) and subscribed
// through engine.onEntityChanged: broadcast, and two work-queue groups.
//
// Scenarios, each on its own table and stream:
//   redis-kill      3 processes writing; redis-server SIGKILLed twice mid-run, restarted after 1.2 s
//   engine-kill     3 processes writing; one SIGKILLs itself right after a commit (its relay held
//                   for the 20 commits before: committed, never published by it)
//   pg-restart      3 processes writing; PostgreSQL crashed (immediate shutdown) mid-run, restarted after 1 s
//   sqlite-restart  one SQLite writer SIGKILLed right after a commit with 10 changes unpublished,
//                   restarted on the same file; two listener processes
//
// The truth is the outbox table: every change committed, in commit order.
// Each scenario checks that every committed change was published (the
// outbox's backlog is 0 and the stream holds each one), that every broadcast
// subscriber of a process that lived through the run saw each of them exactly
// once (and, per entity, in commit order), and that each work-queue group
// handled each exactly once across processes — zero lost, zero handled twice
// — and prints its figures. Killed processes are writers and broadcast
// subscribers only: the one window the bus leaves (a consumer killed between
// its handler's return and its "done" mark) is documented, not tested here.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { createClient } from "redis";
import { startPostgres } from "../node/pg-server.mjs";
import { startRedis } from "../redis/redis-server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Resolves to null after ms, without keeping the process alive. */
const deadline = (ms) => new Promise((r) => setTimeout(r, ms, null).unref());

let pgServer = null;
let redis = null;
let rc = null;
let pool = null;
const children = new Set();
const tmp = mkdtempSync(path.join(os.tmpdir(), "er-faults-"));
const figures = [];

before(async () => {
  const t0 = Date.now();
  [pgServer, redis] = await Promise.all([startPostgres({ durable: true }), startRedis({ persistent: true })]);
  rc = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100 } });
  rc.on("error", () => {});
  await rc.connect();
  pool = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  pool.on("error", () => {});
  console.log(`# servers started in ${Date.now() - t0} ms`);
});

after(async () => {
  const t0 = Date.now();
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null)
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {}
  await rc?.close?.().catch(() => {});
  await pool?.end().catch(() => {});
  await redis?.stop();
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
  console.log(`# servers stopped in ${Date.now() - t0} ms`);
  if (figures.length) console.log(`# fault test figures:\n${figures.map((f) => `#   ${f}`).join("\n")}`);
});

async function waitFor(what, cond, ms) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Starts a worker process; its reports accumulate in the returned record. */
function startWorker(cfg, env = {}) {
  const child = fork(path.join(here, "worker.mjs"), [JSON.stringify(cfg)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  const w = {
    cfg,
    child,
    ready: false,
    consumerName: null,
    broadcast: [],
    g1: [],
    g2: [],
    committed: 0,
    refused: 0,
    wrote: false,
    final: null,
    exit: null,
  };
  child.on("message", (m) => {
    if (m.type === "ready") {
      w.ready = true;
      w.consumerName = m.consumerName;
    } else if (m.type === "report") {
      w.broadcast.push(...m.broadcast);
      w.g1.push(...m.g1);
      w.g2.push(...m.g2);
      w.committed = m.committed;
      w.refused = m.refused;
    } else if (m.type === "wrote") {
      w.wrote = true;
      w.committed = m.committed;
      w.refused = m.refused;
    } else if (m.type === "final") w.final = m;
  });
  w.exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      w.exit = { code, signal };
      resolve(w.exit);
    }),
  );
  return w;
}

const committedBy = (workers) => workers.reduce((n, w) => n + w.committed, 0);

async function stopWorkers(workers) {
  const live = workers.filter((w) => w.exit === null);
  for (const w of live) w.child.send({ type: "stop" });
  await Promise.race([Promise.all(live.map((w) => w.exited)), deadline(20_000)]);
  for (const w of live) if (w.exit === null) process.kill(w.child.pid, "SIGKILL");
}

/** Every committed change, in commit order: [{ changeId, id, published }]. */
async function pgTruth(table) {
  const { rows } = await pool.query(
    `SELECT change_id, entity_id, published_at IS NOT NULL AS published FROM "${table}_outbox" ORDER BY seq`,
  );
  return rows.map((r) => ({ changeId: r.change_id, id: r.entity_id, published: r.published }));
}

function sqliteTruth(file) {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare(
        "SELECT change_id, entity_id, published_at IS NOT NULL AS published FROM entity_transitions_outbox ORDER BY seq",
      )
      .all()
      .map((r) => ({ changeId: r.change_id, id: r.entity_id, published: r.published === 1 }));
  } finally {
    db.close();
  }
}

/** The stream's entries' changeIds, in order. */
async function streamChangeIds(stream) {
  const out = [];
  for (let start = "-"; ;) {
    const page = await rc.sendCommand(["XRANGE", stream, start, "+", "COUNT", "1000"]);
    for (const [, flat] of page)
      for (let i = 0; i < flat.length; i += 2) if (flat[i] === "changeId") out.push(flat[i + 1]);
    if (page.length < 1000) return out;
    start = `(${page.at(-1)[0]}`;
  }
}

const counts = (list) => {
  const m = new Map();
  for (const x of list) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
};

/** Waits until the truth is fully published and seen, then checks everything and returns the figures. */
async function settle({ name, startedAt, truthOf, stream, subscribers, consumers, faults, stop, extra = "" }) {
  let truth = [];
  const covered = async () => {
    truth = await truthOf();
    if (!truth.length || truth.some((c) => !c.published)) return false;
    const n = truth.length;
    return (
      subscribers.every((w) => new Set(w.broadcast.map((b) => b[0])).size >= n) &&
      ["g1", "g2"].every((g) => new Set(consumers.flatMap((w) => w[g])).size >= n)
    );
  };
  await waitFor(`${name}: every committed change published and delivered`, covered, 60_000);
  await sleep(600); // a duplicate would show up now
  await stop(); // the workers' last reports and their buses' counters
  truth = await truthOf();
  const ids = truth.map((c) => c.changeId);
  const truthSet = new Set(ids);
  assert.equal(truthSet.size, ids.length, "one outbox row per change");
  assert.ok(
    truth.every((c) => c.published),
    "the outbox's backlog is 0",
  );

  const entries = await streamChangeIds(stream);
  const inStream = counts(entries);
  const missingFromStream = ids.filter((id) => !inStream.has(id));
  assert.deepEqual(missingFromStream, [], "every committed change is in the stream");
  assert.deepEqual(
    entries.filter((id) => !truthSet.has(id)),
    [],
    "nothing in the stream that was not committed",
  );
  const copies = entries.length - inStream.size;

  let lost = 0;
  let twice = 0;
  const entityOf = new Map(truth.map((c) => [c.changeId, c.id]));
  for (const w of subscribers) {
    const seen = counts(w.broadcast.map((b) => b[0]));
    const missing = ids.filter((id) => !seen.has(id));
    const doubled = [...seen].filter(([, n]) => n > 1);
    lost = Math.max(lost, missing.length);
    twice += doubled.length;
    assert.deepEqual(
      missing.slice(0, 5),
      [],
      `${w.cfg.name}: broadcast saw every committed change (${missing.length} missing)`,
    );
    assert.deepEqual(doubled.slice(0, 5), [], `${w.cfg.name}: broadcast ran each change once`);
    // Per entity, in commit order: versions only grow.
    const last = new Map();
    for (const [changeId, id, label] of w.broadcast) {
      assert.equal(entityOf.get(changeId), id);
      const v = Number(String(label).split("-v").at(-1));
      assert.ok(!(last.get(id) >= v), `${w.cfg.name}: entity ${id} went from version ${last.get(id)} to ${v}`);
      last.set(id, v);
    }
  }
  for (const g of ["g1", "g2"]) {
    const handled = counts(consumers.flatMap((w) => w[g]));
    const missing = ids.filter((id) => !handled.has(id));
    const doubled = [...handled].filter(([, n]) => n > 1);
    lost = Math.max(lost, missing.length);
    twice += doubled.length;
    assert.deepEqual(missing.slice(0, 5), [], `${g}: every committed change handled (${missing.length} missing)`);
    assert.deepEqual(doubled.slice(0, 5), [], `${g}: each change handled once across processes`);
    assert.equal(handled.size, ids.length, `${g}: nothing handled that was not committed`);
  }
  for (const w of [...subscribers, ...consumers]) assert.ok(w.final, `${w.cfg.name} shut down cleanly`);
  const skipped = [...subscribers, ...consumers].filter((w, i, all) => all.indexOf(w) === i);
  const broadcastSkipped = skipped.reduce((n, w) => n + w.final.stats.broadcast.duplicates, 0);
  const queueSkipped = skipped.reduce(
    (n, w) => n + Object.values(w.final.stats.groups).reduce((s, g) => s + g.duplicates, 0),
    0,
  );
  const relayFailures = skipped.reduce((n, w) => n + w.final.stats.relay.failures, 0);
  const line =
    `${name} (${((Date.now() - startedAt) / 1000).toFixed(1)} s): ${ids.length} changes committed, ${faults} fault(s) injected, ${lost} lost, ${twice} handled twice; ` +
    `duplicates handled: ${copies} published twice, skipped ${broadcastSkipped} by broadcast and ${queueSkipped} by work-queue dedupe` +
    `; ${typeof extra === "function" ? extra(truth) : extra}; relay retries ${relayFailures}`;
  figures.push(line);
  console.log(`# ${line}`);
  return { truth, copies };
}

const pgWorker = (n, scenario, extra = {}) => ({
  name: `${scenario}-w${n}`,
  redisUrl: redis.url,
  stream: `${scenario}:changes`,
  store: "pg",
  pgUrl: pgServer.url,
  table: `${scenario.replace(/-/g, "_")}_t`,
  prefix: `w${n}`,
  entities: 40,
  broadcast: true,
  groups: true,
  ...extra,
});

test(
  "redis-server SIGKILLed twice mid-run and restarted: nothing lost, nothing handled twice",
  { timeout: 120_000 },
  async () => {
    const scenario = "redis-kill";
    const startedAt = Date.now();
    // Paced (each lane pauses 50 ms after a commit: at most 240 commits/s in
    // all) so the run outlasts both outages however fast a write is; the
    // commits go on while Redis is down, since the outbox is in PostgreSQL.
    const workers = [0, 1, 2].map((n) => startWorker(pgWorker(n, scenario, { pauseMs: 50 })));
    await waitFor("workers ready", () => workers.every((w) => w.ready), 30_000);
    const perWorker = 400;
    for (const w of workers) w.child.send({ type: "write", count: perWorker, concurrency: 4 });
    const at = [];
    for (const threshold of [150, 600]) {
      await waitFor(`${threshold} commits`, () => committedBy(workers) >= threshold, 60_000);
      at.push(committedBy(workers));
      await redis.kill();
      await sleep(1200);
      await redis.restart();
    }
    await waitFor("writes", () => workers.every((w) => w.wrote), 60_000);
    assert.ok(
      at.every((n) => n < perWorker * workers.length),
      `both kills mid-run (at ${at.join(", ")} of ${perWorker * workers.length} commits)`,
    );
    console.log(`# ${scenario}: writes done after ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    await settle({
      name: scenario,
      startedAt,
      truthOf: () => pgTruth(workers[0].cfg.table),
      stream: workers[0].cfg.stream,
      subscribers: workers,
      consumers: workers,
      faults: 2,
      stop: () => stopWorkers(workers),
      extra: `redis-server killed at ${at.join(" and ")} of ${perWorker * workers.length} commits, down 1.2 s each`,
    });
  },
);

test(
  "an engine process SIGKILLed between commit and publish: the others publish its changes",
  { timeout: 120_000 },
  async () => {
    const scenario = "engine-kill";
    const startedAt = Date.now();
    // The victim writes and has a broadcast subscriber; its relay stops after
    // 180 commits and it kills itself right after the 200th returns.
    const victim = startWorker(pgWorker(0, scenario, { groups: false }), {
      ER_FAULT_HOLD_RELAY_AFTER: "180",
      ER_FAULT_KILL_AFTER_COMMITS: "200",
    });
    const survivors = [1, 2].map((n) => startWorker(pgWorker(n, scenario)));
    const workers = [victim, ...survivors];
    await waitFor("workers ready", () => workers.every((w) => w.ready), 30_000);
    const perWorker = 400;
    for (const w of workers) w.child.send({ type: "write", count: perWorker, concurrency: 4 });
    const exit = await Promise.race([victim.exited, deadline(60_000)]);
    assert.equal(exit?.signal, "SIGKILL", "the victim killed itself after its 200th commit");
    const backlogAtKill = (await pgTruth(victim.cfg.table)).filter((c) => !c.published).length;
    const survivorsAtKill = committedBy(survivors);
    assert.ok(survivorsAtKill < perWorker * 2, `killed mid-run (the others had committed ${survivorsAtKill})`);
    await waitFor("writes", () => survivors.every((w) => w.wrote), 60_000);
    await settle({
      name: scenario,
      startedAt,
      truthOf: () => pgTruth(victim.cfg.table),
      stream: victim.cfg.stream,
      subscribers: survivors,
      consumers: survivors,
      faults: 1,
      stop: () => stopWorkers(survivors),
      extra: (truth) => {
        const byVictim = truth.filter((c) => c.id.startsWith("w0-")).length;
        assert.ok(byVictim >= 200, `every change the victim committed is in the outbox (${byVictim})`);
        return `the victim committed ${byVictim} changes (its relay held after 180, killed right after commit 200; ${backlogAtKill} unpublished at the kill)`;
      },
    });
  },
);

test(
  "PostgreSQL crashed mid-run and restarted: writes refused meanwhile, every committed change delivered once",
  { timeout: 120_000 },
  async () => {
    const scenario = "pg-restart";
    const startedAt = Date.now();
    const workers = [0, 1, 2].map((n) => startWorker(pgWorker(n, scenario)));
    await waitFor("workers ready", () => workers.every((w) => w.ready), 30_000);
    const perWorker = 400;
    for (const w of workers) w.child.send({ type: "write", count: perWorker, concurrency: 4 });
    await waitFor("400 commits", () => committedBy(workers) >= 400, 60_000);
    const at = committedBy(workers);
    await pgServer.restart({ downMs: 1000 });
    await waitFor("writes", () => workers.every((w) => w.wrote), 90_000);
    assert.ok(at < perWorker * workers.length, `crashed mid-run (at ${at} commits)`);
    const refused = workers.reduce((n, w) => n + w.refused, 0);
    assert.ok(refused > 0, "writes were refused while PostgreSQL was down");
    await settle({
      name: scenario,
      startedAt,
      truthOf: () => pgTruth(workers[0].cfg.table),
      stream: workers[0].cfg.stream,
      subscribers: workers,
      consumers: workers,
      faults: 1,
      stop: () => stopWorkers(workers),
      extra: `PostgreSQL crashed at ${at} commits, down 1 s + recovery; ${refused} writes refused meanwhile (ER_STORE, retried)`,
    });
  },
);

test(
  "a SQLite writer SIGKILLed with changes unpublished: its restart publishes them first",
  { timeout: 120_000 },
  async () => {
    const scenario = "sqlite-restart";
    const startedAt = Date.now();
    const file = path.join(tmp, "sqlite-restart.db");
    const base = { redisUrl: redis.url, stream: `${scenario}:changes`, entities: 20 };
    const listeners = [1, 2].map((n) =>
      startWorker({
        ...base,
        name: `${scenario}-listener${n}`,
        store: "none",
        prefix: `l${n}`,
        broadcast: true,
        groups: true,
      }),
    );
    const writerCfg = {
      ...base,
      name: `${scenario}-writer`,
      store: "sqlite",
      file,
      prefix: "w0",
      broadcast: true,
      groups: false,
      pauseMs: 5,
    };
    const writer = startWorker(writerCfg, { ER_FAULT_HOLD_RELAY_AFTER: "90", ER_FAULT_KILL_AFTER_COMMITS: "100" });
    await waitFor("workers ready", () => [writer, ...listeners].every((w) => w.ready), 30_000);
    writer.child.send({ type: "write", count: 300, concurrency: 2 });
    const exit = await Promise.race([writer.exited, deadline(60_000)]);
    assert.equal(exit?.signal, "SIGKILL");
    const left = sqliteTruth(file).filter((c) => !c.published).length;
    assert.ok(left >= 10, `the killed writer left its last changes unpublished (${left})`);
    await sleep(500);
    assert.equal(
      sqliteTruth(file).filter((c) => !c.published).length,
      left,
      "nobody else publishes this file's outbox",
    );
    // The same program starts again on the same file; versions go on from 1,000,000.
    const restarted = startWorker({ ...writerCfg, name: `${scenario}-writer-restarted`, startVersion: 1_000_000 });
    await waitFor("restarted writer ready", () => restarted.ready, 30_000);
    restarted.child.send({ type: "write", count: 100, concurrency: 2 });
    await waitFor("writes", () => restarted.wrote, 60_000);
    await settle({
      name: scenario,
      startedAt,
      truthOf: async () => sqliteTruth(file),
      stream: base.stream,
      subscribers: listeners,
      consumers: listeners,
      faults: 1,
      stop: () => stopWorkers([restarted, ...listeners]),
      extra: `${left} changes unpublished when the writer was killed, published by its restart`,
    });
  },
);
