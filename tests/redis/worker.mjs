// A child process of the multi-process bus test (forked with an IPC channel):
// one engine over the shared PostgreSQL transition store, one Redis bus, a
// broadcast subscriber and two work-queue groups ("g1", "g2") on kind "item".
// argv: <redisUrl> <pgUrl | "memory"> <table> <stream> <claimIdleMs> [stallAfter]
// Parent → child: { type: "write", chunk, ids } | { type: "stop" }
// Child → parent: { type: "ready", consumerName } | { type: "wrote", chunk } |
//   { type: "seen", broadcast, g1, g2, claimed } (changeIds, in handling order) |
//   { type: "stalled" } (stallAfter: after that many work-queue changes every
//   further work-queue handler hangs, its entry stays unacknowledged).
import pg from "pg";
import { createClient } from "redis";
import { createEngine } from "../../js/src/index.js";
import { createPostgresTransitionStore } from "../../js/src/stores/postgres.js";
import { createRedisBus } from "../../js/src/bus/redis.js";
import { Table, quietLogger, sys, systemSchema } from "../js/helpers.mjs";

const [redisUrl, pgUrl, tableName, stream, claimIdleText, stallText] = process.argv.slice(2);
const stallAfter = stallText ? Number(stallText) : Infinity;

// pgUrl "memory": the engine's embedded store (measures the bus without PostgreSQL).
const pool = pgUrl === "memory" ? null : new pg.Pool({ connectionString: pgUrl, max: 6 });
pool?.on("error", () => {});
const store = pool ? createPostgresTransitionStore(pool, { table: tableName }) : null;
await store?.ready();
const logger = quietLogger();
const engine = await createEngine({ transitions: store, logger });
const table = new Table();
const handle = engine.defineEntity({ kind: "item", state: systemSchema, read: table.read });

const client = createClient({ url: redisUrl });
client.on("error", () => {});
const bus = await createRedisBus({ client, stream, claimIdleMs: Number(claimIdleText), blockMs: 500, logger });
bus.attach(engine);

let report = { broadcast: [], g1: [], g2: [] };
const flush = () => {
  if (report.broadcast.length || report.g1.length || report.g2.length) {
    process.send({ type: "seen", ...report, claimed: bus.claimedCounts() });
    report = { broadcast: [], g1: [], g2: [] };
  }
};
const timer = setInterval(flush, 25);

let handled = 0;
let stalled = false;
const never = new Promise(() => {});
const workHandler = (group) => (event) => {
  if (handled >= stallAfter) {
    if (!stalled) {
      stalled = true;
      flush();
      // Let the XACKs of the changes handled so far reach Redis, then tell the parent.
      bus.flush().then(() => setTimeout(() => process.send({ type: "stalled" }), 200));
    }
    return never;
  }
  handled++;
  report[group].push(event.changeId);
};

bus.onEntityChanged({ kind: "item", handler: (e) => void report.broadcast.push(e.changeId) });
bus.onEntityChanged({
  kind: "item",
  handler: workHandler("g1"),
  delivery: { mode: "work-queue", workerGroup: "g1", maxRetries: 2 },
});
bus.onEntityChanged({
  kind: "item",
  handler: workHandler("g2"),
  delivery: { mode: "work-queue", workerGroup: "g2", maxRetries: 2 },
});
await bus.ready();

process.on("message", async (m) => {
  if (m.type === "write") {
    await Promise.all(m.ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(`${id}-v1`)) })));
    // "wrote" means published: without an outbox a change whose XADD is still
    // in flight when the process dies reaches no one (at most once, README
    // "Reliability"), and the parent would not requeue its chunk.
    await bus.flush();
    process.send({ type: "wrote", chunk: m.chunk });
  } else if (m.type === "stop") {
    clearInterval(timer);
    flush();
    await bus.close();
    engine.close();
    await pool?.end();
    process.disconnect();
  }
});
process.send({ type: "ready", consumerName: bus.consumerName });
