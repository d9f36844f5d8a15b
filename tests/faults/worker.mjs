// A child process of the fault tests (forked with an IPC channel): one engine
// created with a Redis bus — createEngine({ transitions, bus }) — over a
// transition store with an outbox (the shared PostgreSQL table, a SQLite file)
// or the embedded store, and the subscriptions its config asks for, all made
// through engine.onEntityChanged: a broadcast handler and two work-queue
// groups, "g1" and "g2", on kind "item".
//
// argv[2]: JSON { name, redisUrl, stream, store: "pg" | "sqlite" | "none",
//   pgUrl?, table?, file?, prefix, broadcast, groups, entities, startVersion,
//   claimIdleMs, pauseMs (after each commit of a lane) }
// Parent → child: { type: "write", count, concurrency } | { type: "stop" }
// Child → parent: { type: "ready", consumerName } |
//   { type: "report", broadcast: [[changeId, id, name]], g1: [changeId], g2: [changeId], committed, refused } |
//   { type: "wrote", committed, refused } | { type: "final", stats }
//
// Writes: `count` writes over `entities` entities "<prefix>-e<i>", each one
// renaming its entity to "<prefix>-v<version>" (versions grow in call order,
// so per entity they grow in commit order). A write the store refuses (the
// database is down) is retried as a new write after 100 ms: `count` writes
// are committed in the end.
//
// Test hooks, read here (never by the package), for the engine-kill tests:
//   ER_FAULT_HOLD_RELAY_AFTER=N    after the N-th commit this process's relay stops publishing
//   ER_FAULT_KILL_AFTER_COMMITS=N  right after the N-th commit returns, SIGKILL this process:
//                                  the change is committed, and neither delivered nor published here
import pg from "pg";
import Database from "better-sqlite3";
import { createClient } from "redis";
import { createEngine } from "../../js/src/index.js";
import { createPostgresTransitionStore } from "../../js/src/stores/postgres.js";
import { createSqliteTransitionStore } from "../../js/src/stores/sqlite.js";
import { createRedisBus } from "../../js/src/bus/redis.js";
import { Table, sys, systemSchema } from "../js/helpers.mjs";

const cfg = JSON.parse(process.argv[2]);
const HOLD_AFTER = Number(process.env.ER_FAULT_HOLD_RELAY_AFTER || 0);
const KILL_AFTER = Number(process.env.ER_FAULT_KILL_AFTER_COMMITS || 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const warnings = [];
const logger = {
  warn: (...a) => warnings.push(a.map(String).join(" ")),
  error: (...a) => warnings.push(a.map((x) => (x instanceof Error ? x.message : String(x))).join(" ")),
};

let pool = null;
let db = null;
let store = null;
if (cfg.store === "pg") {
  pool = new pg.Pool({ connectionString: cfg.pgUrl, max: 6, connectionTimeoutMillis: 2000 });
  pool.on("error", () => {}); // idle clients cut by a server restart
  store = createPostgresTransitionStore(pool, { table: cfg.table, outbox: true });
  await store.ready();
} else if (cfg.store === "sqlite") {
  db = new Database(cfg.file);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  store = createSqliteTransitionStore(db, { outbox: true });
  await store.ready();
}

if (store && (HOLD_AFTER || KILL_AFTER)) {
  let commits = 0;
  let held = false;
  const runInTransaction = store.runInTransaction;
  store.runInTransaction = async (fn) => {
    const result = await runInTransaction(fn);
    commits++;
    if (commits === HOLD_AFTER) held = true;
    if (commits === KILL_AFTER) process.kill(process.pid, "SIGKILL");
    return result;
  };
  const relayOutbox = store.relayOutbox;
  store.relayOutbox = (args, publish) => (held ? new Promise(() => {}) : relayOutbox(args, publish));
}

const client = createClient({ url: cfg.redisUrl, socket: { reconnectStrategy: (n) => Math.min(50 + n * 50, 300) } });
client.on("error", () => {});
const bus = await createRedisBus({
  client,
  stream: cfg.stream,
  claimIdleMs: cfg.claimIdleMs ?? 1000,
  blockMs: 300,
  relayPollMs: 200,
  retryMinMs: 50,
  retryMaxMs: 400,
  publishTimeoutMs: 3000,
  logger,
});
const engine = await createEngine({ transitions: store, bus, logger });
const table = new Table();
const handle = engine.defineEntity({ kind: "item", state: systemSchema, read: table.read });

let report = { broadcast: [], g1: [], g2: [] };
let committed = 0;
let refused = 0;
const flush = () => {
  process.send({ type: "report", ...report, committed, refused });
  report = { broadcast: [], g1: [], g2: [] };
};
const timer = setInterval(flush, 25);
engine.wire(() => {}); // local delivery: not what these tests watch

if (cfg.broadcast)
  engine.onEntityChanged({
    kind: "item",
    handler: (e) => void report.broadcast.push([e.changeId, e.id, e.next?.name ?? null]),
  });
if (cfg.groups)
  for (const group of ["g1", "g2"])
    engine.onEntityChanged({
      kind: "item",
      handler: (e) => void report[group].push(e.changeId),
      delivery: { mode: "work-queue", workerGroup: group, maxRetries: 2 },
    });
await bus.ready();

let version = cfg.startVersion ?? 0;
let stopping = false;

async function writeAll(count, concurrency) {
  let next = 0;
  const lane = async () => {
    while (!stopping && next < count) {
      const i = next++;
      const id = `${cfg.prefix}-e${i % cfg.entities}`;
      for (;;) {
        const name = `${cfg.prefix}-v${++version}`;
        try {
          await handle.mutate({ id, apply: table.put(id, sys(name)) });
          committed++;
          if (cfg.pauseMs) await sleep(cfg.pauseMs);
          break;
        } catch {
          refused++;
          if (stopping) return;
          await sleep(100);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

process.on("message", async (m) => {
  if (m.type === "write") {
    await writeAll(m.count, m.concurrency);
    flush();
    process.send({ type: "wrote", committed, refused });
  } else if (m.type === "stop") {
    stopping = true;
    await bus.close();
    clearInterval(timer);
    flush();
    const stats = bus.stats();
    engine.close();
    await pool?.end().catch(() => {});
    db?.close();
    process.send({ type: "final", stats, warnings: warnings.length }, () => process.disconnect());
  }
});
process.send({ type: "ready", consumerName: bus.consumerName });
