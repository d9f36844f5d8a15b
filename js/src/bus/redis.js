/**
 * entity-reactor/bus/redis — multi-process delivery (SPEC §6) over one Redis
 * Stream, through node-redis (`redis`, an optional peer dependency: install
 * it yourself and pass a client in; this module imports nothing from it).
 *
 *   import { createClient } from "redis";
 *   import { createEngine } from "entity-reactor";
 *   import { createPostgresTransitionStore } from "entity-reactor/stores/postgres";
 *   import { createRedisBus } from "entity-reactor/bus/redis";
 *
 *   const bus = await createRedisBus({ client: createClient({ url: process.env.REDIS_URL }) });
 *   const transitions = createPostgresTransitionStore(pool, { outbox: true });
 *   const engine = await createEngine({ transitions, bus });
 *   engine.onEntityChanged({ kind: "order", handler, delivery: { mode: "work-queue", workerGroup: "mailer", maxRetries: 3 } });
 *
 * The bus is an option of the engine: createEngine({ bus }) calls
 * bus.attachEngine({ store, logger }) once, publishes every committed change
 * through bus.publish (or, with a store that has an outbox, leaves that to the
 * bus's relay), and engine.onEntityChanged subscribes through the bus.
 * bus.attach(engine) — engine.wire(bus.publish) — still works for code written
 * before; with an outbox store, pass the bus to createEngine instead.
 *
 * Publishing. One stream entry per change: fields kind, id, changeId, e = the
 * event as JSON.
 * - Without an outbox, bus.publish(event) sends one XADD right after the
 *   commit; every XADD of a bus goes out on one connection, so the entries of
 *   one process are in its commit order. If Redis is unreachable then, the
 *   publish fails and is logged, the write stands, and that change reaches
 *   no other process: at most once into Redis.
 * - With an outbox (a store created with { outbox: true }: the change is
 *   committed in the same transaction as its transition rows), the bus runs a
 *   relay: woken by each commit of this process and every relayPollMs
 *   otherwise, it asks the store for the oldest unpublished changes
 *   (store.relayOutbox — one relay of all the processes sharing the store at
 *   a time), XADDs them in commit order on a connection of its own that
 *   fails fast while Redis is away, and has the store mark the confirmed
 *   prefix published. On failure it backs off (retryMinMs doubling to
 *   retryMaxMs, with jitter) and tries again, forever; a process killed
 *   between commit and publish leaves its changes in the store for the next
 *   relay (another process, or its own restart). Delivery into Redis is at
 *   least once: a change whose XADD went through but whose mark did not (the
 *   process, Redis or the database died in between) is published again.
 *   Published rows are pruned after outboxRetentionMs.
 *
 * broadcast. One reader per bus (XREAD BLOCK from the bus's own cursor, which
 * starts at the stream's last entry when the bus is created): every bus runs
 * its broadcast handlers for every change, its own included, one entry at a
 * time, in stream order. A change published twice is run once: the bus
 * remembers the last dedupeWindow changeIds it delivered. A throwing handler
 * is logged; the next entry goes on.
 *
 * work-queue. One Redis consumer group per (workerGroup, kind), named
 * `<workerGroup>:<kind>`, created at the end of the stream when the first
 * subscriber of any process subscribes. Each bus reads it as consumer
 * `consumerName` (XREADGROUP ... >): Redis hands each entry to one consumer.
 * Exactly once per group at the handler, by changeId: before the handler
 * runs, the consumer takes the key `<stream>:dedupe:<group>:<changeId>`
 * (SET NX, PX claimIdleMs, renewed while the handler runs); after it
 * succeeds the key is set to "done" for dedupeTtlMs and the entry is XACKed.
 * An entry whose key says "done" — a duplicate of a change already handled
 * by the group — is acknowledged without running the handler; one whose key
 * another consumer holds is left pending and looked at again once claimed.
 * If Redis is away when the handler has run, the bus keeps the change as
 * handled and marks it when Redis is back. The one window left: a process
 * killed after its handler ran and before "done" reached Redis lets another
 * consumer run the handler again — make the handler's effect idempotent on
 * changeId if that must never happen. dedupeTtlMs must exceed the time
 * between a change's two copies reaching the group (they are published
 * close together, so the default hour is ample).
 * A throwing handler is retried up to maxRetries more times; when it still
 * fails the error is logged, the entry is copied to `<stream>:dead` (fields
 * group, consumer, error, plus the entry's own), marked done and
 * acknowledged. An entry read by a consumer that then died stays pending in
 * the group; every consumer runs XAUTOCLAIM every claimIdleMs/2 and takes
 * entries idle for more than claimIdleMs. At startup, and after every Redis
 * error, a consumer first re-reads its own pending entries.
 *
 * Ordering. Per entity, entries are in commit order as long as one process
 * writes the entity at a time (or writes to it are serialised by the host).
 * broadcast handlers see them in that order. A work-queue group spreads the
 * entries of one entity over its consumers, so two changes of one entity may
 * be handled concurrently by two processes.
 *
 * Durability. What Redis acknowledged is only as safe as Redis's own
 * persistence: run it with appendonly yes (appendfsync everysec survives a
 * killed redis-server; always also survives a power cut). Without it, a
 * restart loses the stream, the groups and the dedupe keys.
 *
 * Needs Redis >= 6.2 (XAUTOCLAIM). Commands are sent with sendCommand on the
 * bus's own connections (client.duplicate(): one that never blocks, one for
 * the relay, plus one per blocking reader); replies are read in their RESP2
 * and RESP3 shapes, so node-redis 4, 5 and 6 work alike.
 */

import { hostname } from "node:os";
import { randomUUID } from "node:crypto";

const DEFAULTS = {
  stream: "entity-reactor:changes",
  claimIdleMs: 30_000,
  blockMs: 2_000,
  batchSize: 100,
  dedupeTtlMs: 3_600_000,
  dedupeWindow: 10_000,
  relayPollMs: 500,
  relayLeaseMs: 10_000,
  retryMinMs: 100,
  retryMaxMs: 5_000,
  publishTimeoutMs: 10_000,
  outboxRetentionMs: 86_400_000,
};
const PRUNE_EVERY_MS = 60_000;
const DONE = "done";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isFunction = (f) => typeof f === "function";
const isObject = (o) => o !== null && typeof o === "object" && !Array.isArray(o);
const messageOf = (e) => String(e?.message ?? e);

function badArgument(message) {
  const e = new TypeError(message);
  e.code = "ER_BAD_ARGUMENT";
  return e;
}

/** Parses [[id, [f1, v1, ...]], ...] (nil entries — deleted — skipped). */
function parseEntries(list) {
  const out = [];
  for (const item of list ?? []) {
    if (!Array.isArray(item) || !Array.isArray(item[1])) continue;
    const [id, flat] = item;
    const fields = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
    out.push({ id: String(id), fields });
  }
  return out;
}

/** XREAD / XREADGROUP reply: RESP2 [[stream, entries]], RESP3 a map stream → entries, or null. */
function parseRead(reply) {
  if (reply === null || typeof reply !== "object") return [];
  const out = [];
  if (Array.isArray(reply)) {
    for (const s of reply) if (Array.isArray(s)) out.push(...parseEntries(s[1]));
  } else {
    for (const entries of reply instanceof Map ? reply.values() : Object.values(reply))
      out.push(...parseEntries(entries));
  }
  return out;
}

function toEvent(entry) {
  try {
    const event = JSON.parse(entry.fields.e);
    return isObject(event) && typeof event.kind === "string" ? event : null;
  } catch {
    return null;
  }
}

/** Stream ids "ms-seq" compared as numbers: <0, 0, >0. */
function compareIds(a, b) {
  const [am, as = "0"] = a.split("-");
  const [bm, bs = "0"] = b.split("-");
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}

async function closeClient(c, graceful) {
  if (!c) return;
  try {
    if (graceful && c.isOpen) {
      if (isFunction(c.close)) await c.close();
      else await c.quit();
      return;
    }
  } catch {}
  try {
    if (isFunction(c.destroy)) c.destroy();
    else if (isFunction(c.disconnect)) await c.disconnect();
  } catch {}
}

/** The changeIds seen last, at most `size` of them. */
class RecentSet {
  #set = new Set();
  #ring;
  #next = 0;
  constructor(size) {
    this.#ring = new Array(size);
  }
  /** Adds id; false when it was already there. */
  add(id) {
    if (this.#set.has(id)) return false;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#set.add(id);
    return true;
  }
}

// Takes each dedupe key (SET NX PX ARGV[1] to its value ARGV[i + 1]): "" when
// taken, else the key's value ("done", or another holder's lease; "?" if it
// lapsed in between).
const ACQUIRE = `local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[i + 1], 'NX', 'PX', ARGV[1]) then out[i] = '' else out[i] = redis.call('GET', key) or '?' end
end
return out`;
// Marks a change done for its group and acknowledges its entry, in one command.
const DONE_AND_ACK = `redis.call('SET', KEYS[1], '${DONE}', 'PX', ARGV[1]) return redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])`;
// Renews a dedupe lease while it is ours, or takes it again if it lapsed
// (Redis was away longer than the lease): never over another's or "done".
const RENEW =
  "local v = redis.call('GET', KEYS[1]) if v == ARGV[1] or not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";

/**
 * @param {object} options
 * @param {object} options.client a node-redis client (connected or not); the bus duplicates it and never closes it.
 */
export async function createRedisBus(options = {}) {
  if (!isObject(options)) throw badArgument("createRedisBus: expected an options object");
  const {
    client: template,
    stream = DEFAULTS.stream,
    consumerName = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    claimIdleMs = DEFAULTS.claimIdleMs,
    blockMs = DEFAULTS.blockMs,
    batchSize = DEFAULTS.batchSize,
    maxLen,
    dedupeTtlMs = DEFAULTS.dedupeTtlMs,
    dedupeWindow = DEFAULTS.dedupeWindow,
    relayPollMs = DEFAULTS.relayPollMs,
    relayLeaseMs = DEFAULTS.relayLeaseMs,
    retryMinMs = DEFAULTS.retryMinMs,
    retryMaxMs = DEFAULTS.retryMaxMs,
    publishTimeoutMs = DEFAULTS.publishTimeoutMs,
    outboxRetentionMs = DEFAULTS.outboxRetentionMs,
  } = options;
  let logger = options.logger ?? console;
  if (!template || !isFunction(template.duplicate))
    throw badArgument("createRedisBus: client must be a node-redis client (createClient from the redis package)");
  if (typeof stream !== "string" || stream === "")
    throw badArgument("createRedisBus: stream must be a non-empty string");
  if (typeof consumerName !== "string" || consumerName === "")
    throw badArgument("createRedisBus: consumerName must be a non-empty string");
  const positive = {
    claimIdleMs,
    blockMs,
    batchSize,
    dedupeTtlMs,
    dedupeWindow,
    relayPollMs,
    relayLeaseMs,
    retryMinMs,
    retryMaxMs,
    publishTimeoutMs,
    outboxRetentionMs,
  };
  for (const [name, v] of Object.entries(positive))
    if (!Number.isInteger(v) || v <= 0) throw badArgument(`createRedisBus: ${name} must be a positive integer`);
  if (retryMaxMs < retryMinMs) throw badArgument("createRedisBus: retryMaxMs must be at least retryMinMs");
  if (maxLen !== undefined && (!Number.isInteger(maxLen) || maxLen <= 0))
    throw badArgument("createRedisBus: maxLen must be a positive integer");

  const log = {
    warn: (...a) => {
      try {
        logger.warn?.(...a);
      } catch {}
    },
    error: (...a) => {
      try {
        logger.error?.(...a);
      } catch {}
    },
  };

  const connections = new Set();
  async function connection(overrides) {
    const c = overrides ? template.duplicate(overrides) : template.duplicate();
    // One warning per outage and connection, not one per reconnect attempt.
    let failing = false;
    c.on("error", (e) => {
      if (closed || failing) return;
      failing = true;
      log.warn(`entity-reactor/bus/redis: connection error: ${messageOf(e)} (reconnecting)`);
    });
    c.on("ready", () => {
      failing = false;
    });
    connections.add(c);
    try {
      await c.connect();
    } catch (e) {
      connections.delete(c);
      await closeClient(c, false);
      throw e;
    }
    return c;
  }

  let closed = false;
  let closing = null;
  const ctl = await connection(); // XADD, XACK, SET, XAUTOCLAIM, XGROUP: never blocks
  const cmd = (args) => ctl.sendCommand(args.map(String));

  // The broadcast cursor: the stream's last entry now ("0-0" when empty).
  async function lastId() {
    const last = await cmd(["XREVRANGE", stream, "+", "-", "COUNT", "1"]);
    return Array.isArray(last) && last.length ? String(last[0][0]) : "0-0";
  }
  let broadcastCursor = await lastId();

  const inflight = new Set();
  const track = (p) => {
    inflight.add(p);
    p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    );
    return p;
  };

  const xadd = (kind, id, changeId, json) => {
    const args = ["XADD", stream];
    if (maxLen !== undefined) args.push("MAXLEN", "~", String(maxLen));
    args.push("*", "kind", kind, "id", String(id ?? ""), "changeId", String(changeId ?? ""), "e", json);
    return args;
  };

  /** Appends one committed change to the stream (XADD): what createEngine({ bus }) calls when the store has no outbox. */
  function publish(event) {
    if (closed) return Promise.reject(new Error("entity-reactor/bus/redis: bus is closed"));
    if (!isObject(event) || typeof event.kind !== "string")
      return Promise.reject(badArgument("bus.publish: expected a change event"));
    return track(cmd(xadd(event.kind, event.id, event.changeId, JSON.stringify(event))));
  }

  // ------------------------------------------------------------ relay (outbox → stream)
  const relays = new Map(); // store → relay state
  const relayStats = { published: 0, batches: 0, failures: 0, locked: 0 };

  let pubConnecting = null;
  function publisher() {
    pubConnecting ??= connection({ disableOfflineQueue: true }).catch((e) => {
      pubConnecting = null; // the next step tries again
      throw e;
    });
    return pubConnecting;
  }

  // XADDs the changes in order; resolves to the confirmed prefix (bounded by publishTimeoutMs).
  async function publishBatch(relay, changes) {
    let conn = await publisher();
    if (conn.isOpen === false) {
      // Its reconnect strategy gave up: a new connection.
      connections.delete(conn);
      pubConnecting = null;
      conn = await publisher();
    }
    const settled = new Array(changes.length).fill(0); // 0 pending, 1 ok, -1 failed
    let firstError = null;
    const sends = changes.map((c, i) =>
      conn.sendCommand(xadd(c.kind, c.id, c.changeId, c.event)).then(
        () => void (settled[i] = 1),
        (e) => {
          settled[i] = -1;
          firstError ??= e;
        },
      ),
    );
    let timer;
    const timeout = new Promise((r) => (timer = setTimeout(r, publishTimeoutMs, "timeout")));
    const outcome = await Promise.race([Promise.all(sends), timeout]);
    clearTimeout(timer);
    let n = 0;
    while (n < settled.length && settled[n] === 1) n++;
    if (n < changes.length)
      relay.error =
        firstError ?? (outcome === "timeout" ? new Error(`XADD not confirmed within ${publishTimeoutMs} ms`) : null);
    return n;
  }

  function startRelay(store) {
    if (relays.has(store)) return;
    const relay = { store, wanted: true, wake: null, error: null, failures: 0, loop: null, unwatch: null };
    relay.signal = () => {
      relay.wanted = true;
      relay.wake?.();
    };
    relay.unwatch = isFunction(store.watchOutbox) ? store.watchOutbox(relay.signal) : null;
    relays.set(store, relay);
    publisher().catch(() => {}); // connected before the first commit needs it (or retried then)
    relay.loop = runRelay(relay).catch((e) => log.error("entity-reactor/bus/redis: outbox relay stopped", e));
  }

  const jitter = (ms) => Math.round(ms * (0.8 + Math.random() * 0.4));

  // Sleeps ms, cut short by a wake when wakeable, or by close.
  function pause(relay, ms, wakeable) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        relay.wake = null;
        relay.stopWait = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      relay.wake = wakeable ? done : null;
      relay.stopWait = done;
    });
  }

  async function runRelay(relay) {
    let nextPrune = Date.now() + jitter(PRUNE_EVERY_MS / 6);
    let failingSince = 0;
    let lastReport = 0;
    let lockedInRow = 0;
    while (!closed) {
      if (!relay.wanted && !closing) await pause(relay, relayPollMs, true);
      if (closed) break;
      relay.wanted = false;
      let step;
      relay.error = null;
      try {
        step = await relay.store.relayOutbox(
          { owner: consumerName, limit: batchSize, leaseMs: relayLeaseMs },
          (changes) => publishBatch(relay, changes),
        );
        relayStats.published += step.published;
        if (step.count) relayStats.batches++;
        if (step.published < step.count) throw relay.error ?? new Error("publish failed");
      } catch (e) {
        relayStats.failures++;
        relay.failures++;
        const now = Date.now();
        if (failingSince === 0) failingSince = now;
        if (relay.failures === 1 || now - lastReport >= 30_000) {
          lastReport = now;
          log.warn(
            `entity-reactor/bus/redis: outbox relay: ${messageOf(e)}; retrying (failure ${relay.failures}, unpublished changes stay in the store)`,
          );
        }
        if (closing) break; // close() drains what it can, not more
        const backoff = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(relay.failures - 1, 20));
        await pause(relay, jitter(backoff), false);
        relay.wanted = true;
        continue;
      }
      if (relay.failures) {
        log.warn(
          `entity-reactor/bus/redis: outbox relay resumed after ${relay.failures} failure(s) in ${Date.now() - failingSince} ms`,
        );
        relay.failures = 0;
        failingSince = 0;
      }
      if (step.locked) {
        // Another relay is publishing (it publishes this process's changes
        // too): try again soon a few times, then at the poll's pace, so a
        // relay that never gets the lease (a SQLite file another process
        // relays) costs no more than polling.
        relayStats.locked++;
        if (closing) break;
        lockedInRow++;
        await pause(relay, lockedInRow <= 3 ? Math.min(relayPollMs, 50) : relayPollMs, false);
        if (lockedInRow <= 3) relay.wanted = true;
        continue;
      }
      lockedInRow = 0;
      if (step.count === batchSize) relay.wanted = true; // more to publish
      if (closing && !relay.wanted) break; // drained
      if (Date.now() >= nextPrune && isFunction(relay.store.pruneOutbox)) {
        nextPrune = Date.now() + PRUNE_EVERY_MS;
        try {
          await relay.store.pruneOutbox({ before: new Date(Date.now() - outboxRetentionMs) });
        } catch (e) {
          log.warn(`entity-reactor/bus/redis: outbox prune failed: ${messageOf(e)}`);
        }
      }
    }
  }

  /**
   * Called once by createEngine({ bus }) with the engine's transition store
   * and logger. A store with an outbox gets a relay (it may also be called
   * directly, to run a relay for a store in a process without an engine).
   */
  function attachEngine({ store = null, logger: engineLogger } = {}) {
    if (closed) throw new Error("entity-reactor/bus/redis: bus is closed");
    if (options.logger === undefined && engineLogger) logger = engineLogger;
    if (store?.outbox !== true) return;
    if (!isFunction(store.relayOutbox))
      throw badArgument(
        "bus.attachEngine: a store with an outbox must have relayOutbox (entity-reactor/stores/sqlite or /postgres with { outbox: true })",
      );
    startRelay(store);
  }

  // ------------------------------------------------------------ broadcast
  const broadcastSubs = new Set(); // { kind, handler }
  const broadcastSeen = new RecentSet(dedupeWindow);
  const broadcastStats = { delivered: 0, duplicates: 0 };
  let broadcastLoop = null;

  async function runBroadcast() {
    const conn = await connection();
    let failed = false;
    try {
      while (!closed && broadcastSubs.size) {
        let reply;
        try {
          if (failed) {
            // After an outage: a stream that went back (Redis lost its data) restarts from its beginning.
            const last = await lastId();
            if (compareIds(last, broadcastCursor) < 0) {
              log.warn(
                `entity-reactor/bus/redis: stream ${stream} ends at ${last}, before this bus's cursor ${broadcastCursor} (Redis lost data?); reading it from the start`,
              );
              broadcastCursor = "0-0";
            }
            failed = false;
          }
          reply = await conn.sendCommand([
            "XREAD",
            "COUNT",
            String(batchSize),
            "BLOCK",
            String(blockMs),
            "STREAMS",
            stream,
            broadcastCursor,
          ]);
        } catch (e) {
          if (closed) break;
          failed = true;
          await sleep(200);
          continue;
        }
        for (const entry of parseRead(reply)) {
          broadcastCursor = entry.id;
          const event = toEvent(entry);
          if (!event) continue;
          if (typeof event.changeId === "string" && !broadcastSeen.add(event.changeId)) {
            broadcastStats.duplicates++;
            continue;
          }
          broadcastStats.delivered++;
          for (const sub of [...broadcastSubs]) {
            if (sub.kind !== event.kind || !broadcastSubs.has(sub)) continue;
            try {
              await sub.handler(event);
            } catch (e) {
              log.error(`entity-reactor/bus/redis: broadcast handler for kind "${sub.kind}" failed`, e);
            }
          }
        }
      }
    } finally {
      connections.delete(conn);
      await closeClient(conn, true);
      broadcastLoop = null;
    }
  }

  // ------------------------------------------------------------ work-queue
  // "<workerGroup>:<kind>" → { name, kind, subs, next, loop, stopped, claimed, handled, duplicates, dead, held, unmarked }
  const groups = new Map();
  const dedupeKey = (g, changeId) => `${stream}:dedupe:${g.name}:${changeId}`;

  // Takes the dedupe key of each entry: "mine" | "done" | "busy" (held by another consumer).
  async function acquire(g, items) {
    // One command for the batch: SET NX each key, else report its value.
    const replies = await cmd([
      "EVAL",
      ACQUIRE,
      items.length,
      ...items.map((it) => it.key),
      claimIdleMs,
      ...items.map((it) => it.value),
    ]);
    const out = new Array(items.length);
    const takeovers = [];
    for (let i = 0; i < items.length; i++) {
      const value = String(replies?.[i] ?? "");
      if (value === "") out[i] = "mine";
      else if (value === DONE) out[i] = "done";
      else if (value.startsWith(`p:${consumerName}:`) && !g.held.has(items[i].changeId)) {
        // Left by this consumer before a restart (same consumerName): ours again.
        takeovers.push(i);
      } else out[i] = "busy";
    }
    const taken = await Promise.all(
      takeovers.map((i) => cmd(["SET", items[i].key, items[i].value, "XX", "PX", claimIdleMs])),
    );
    takeovers.forEach((i, j) => (out[i] = taken[j] === null || taken[j] === undefined ? "busy" : "mine"));
    return out;
  }

  // "done" and XACK; a failure keeps the change in g.unmarked (marked when Redis is back).
  // it: { changeId, key, value, entryId }
  async function markDone(g, it) {
    g.unmarked.set(it.changeId, it);
    await cmd(["EVAL", DONE_AND_ACK, "2", it.key, stream, dedupeTtlMs, g.name, it.entryId]);
    g.unmarked.delete(it.changeId);
  }

  async function flushUnmarked(g) {
    for (const it of [...g.unmarked.values()]) await markDone(g, it);
  }

  async function handleEntries(g, entries) {
    if (g.unmarked.size) await flushUnmarked(g);
    const items = [];
    for (const entry of entries) {
      const event = toEvent(entry);
      if (!event || typeof event.changeId !== "string" || event.changeId === "") {
        // Unreadable entry: nothing can handle it; acknowledge so it is not claimed forever.
        await cmd(["XACK", stream, g.name, entry.id]).catch(() => {});
        continue;
      }
      if (g.unmarked.has(event.changeId)) {
        await markDone(g, { ...g.unmarked.get(event.changeId), entryId: entry.id });
        continue;
      }
      items.push({
        entry,
        entryId: entry.id,
        event,
        changeId: event.changeId,
        key: dedupeKey(g, event.changeId),
        value: `p:${consumerName}:${randomUUID()}`,
      });
    }
    if (!items.length) return;
    const states = await acquire(g, items);
    const acks = [];
    const errors = [];
    const later = (p) => acks.push(p.catch((e) => void errors.push(e)));
    for (let i = 0; i < items.length; i++) if (states[i] === "mine") g.held.set(items[i].changeId, items[i]);
    try {
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (states[i] === "done") {
          g.duplicates++;
          later(cmd(["XACK", stream, g.name, it.entry.id]));
          continue;
        }
        if (states[i] !== "mine") continue; // another consumer has it: left pending
        if (g.stopped || closed || g.subs.length === 0) continue; // left pending: claimed elsewhere
        await runHandler(g, it);
        g.held.delete(it.changeId);
        later(markDone(g, it));
      }
    } finally {
      for (const it of items) g.held.delete(it.changeId);
    }
    await Promise.all(acks);
    if (errors.length) throw errors[0];
  }

  async function runHandler(g, it) {
    const sub = g.subs[g.next++ % g.subs.length];
    let lastError;
    for (let attempt = 0; attempt <= sub.maxRetries; attempt++) {
      try {
        await sub.handler(it.event);
        g.handled++;
        return;
      } catch (e) {
        lastError = e;
      }
    }
    g.dead++;
    log.error(
      `entity-reactor/bus/redis: work-queue handler for kind "${sub.kind}" (group "${sub.workerGroup}") failed ${sub.maxRetries + 1} time(s); change ${it.changeId} moved to ${stream}:dead`,
      lastError,
    );
    const flat = Object.entries(it.entry.fields).flat();
    await track(
      cmd([
        "XADD",
        `${stream}:dead`,
        "*",
        "group",
        g.name,
        "consumer",
        consumerName,
        "error",
        messageOf(lastError),
        "entryId",
        it.entry.id,
        ...flat,
      ]),
    );
  }

  // Keeps the leases of held changes — waiting, running, or handled and not
  // yet marked (Redis away) — alive, and their entries unclaimable.
  function renewLeases(g) {
    for (const it of [...g.held.values(), ...g.unmarked.values()]) {
      cmd(["EVAL", RENEW, "1", it.key, it.value, claimIdleMs]).catch(() => {});
      cmd(["XCLAIM", stream, g.name, consumerName, "0", it.entryId, "JUSTID"]).catch(() => {});
    }
  }

  async function ensureGroup(name) {
    try {
      await cmd(["XGROUP", "CREATE", stream, name, "$", "MKSTREAM"]);
    } catch (e) {
      if (!messageOf(e).includes("BUSYGROUP")) throw e;
    }
  }

  async function runGroup(g) {
    const conn = await connection();
    // The group's entries for this consumer: its own pending ones after `id`,
    // or (id ">") new ones, waiting up to `block` ms when given.
    const readGroup = async (id, block) =>
      parseRead(
        await conn.sendCommand([
          "XREADGROUP",
          "GROUP",
          g.name,
          consumerName,
          "COUNT",
          String(batchSize),
          ...(block === undefined ? [] : ["BLOCK", String(block)]),
          "STREAMS",
          stream,
          id,
        ]),
      );
    const renew = setInterval(() => renewLeases(g), Math.max(1, Math.floor(claimIdleMs / 3)));
    let rescan = true; // this consumer's own pending entries: at start and after every error
    let nextClaim = Date.now() + Math.floor(claimIdleMs / 2);
    let recovering = false;
    const failed = async (e, what) => {
      rescan = true;
      recovering = true;
      if (closed || g.stopped) return;
      const message = messageOf(e);
      if (message.includes("NOGROUP")) await ensureGroup(g.name).catch(() => {});
      else if (!g.failing) log.warn(`entity-reactor/bus/redis: ${what} failed: ${message}; retrying`);
      g.failing = true;
      await sleep(200);
    };
    try {
      while (!g.stopped && !closed) {
        try {
          if (rescan) {
            // After an outage, first what this consumer handled and could not mark.
            if (g.unmarked.size) await flushUnmarked(g);
            for (let cursor = "0"; !g.stopped && !closed;) {
              const entries = await readGroup(cursor);
              if (!entries.length) break;
              await handleEntries(g, entries);
              cursor = entries.at(-1).id;
            }
            rescan = false;
            // Redis was away: every pending entry may look idle now. Claim
            // nothing for claimIdleMs, while each live consumer marks and
            // renews what it holds (else another would run it again).
            if (recovering) nextClaim = Date.now() + claimIdleMs;
            recovering = false;
          }
          if (Date.now() >= nextClaim) {
            nextClaim = Date.now() + Math.floor(claimIdleMs / 2);
            for (let start = "0-0"; !g.stopped && !closed;) {
              const r = await cmd(["XAUTOCLAIM", stream, g.name, consumerName, claimIdleMs, start, "COUNT", batchSize]);
              const claimed = parseEntries(r?.[1]);
              if (claimed.length) g.claimed += claimed.length;
              await handleEntries(g, claimed);
              start = String(r?.[0] ?? "0-0");
              if (start === "0-0") break;
            }
          }
          const block = Math.max(1, Math.min(blockMs, nextClaim - Date.now()));
          await handleEntries(g, await readGroup(">", block));
          if (g.failing) {
            g.failing = false;
            log.warn(`entity-reactor/bus/redis: work-queue reader "${g.name}" resumed`);
          }
        } catch (e) {
          await failed(e, `work-queue reader "${g.name}"`);
        }
      }
    } finally {
      clearInterval(renew);
      connections.delete(conn);
      await closeClient(conn, true);
    }
  }

  /** Same shape as engine.onEntityChanged; returns an idempotent async unsubscribe. */
  function onEntityChanged(subscription) {
    if (closed) throw new Error("entity-reactor/bus/redis: bus is closed");
    if (!isObject(subscription)) throw badArgument("onEntityChanged: expected { kind, handler, delivery? }");
    const { kind, handler, delivery = { mode: "broadcast" } } = subscription;
    if (typeof kind !== "string" || kind.trim() === "")
      throw badArgument("onEntityChanged: kind must be a non-empty string");
    if (!isFunction(handler)) throw badArgument("onEntityChanged: handler must be a function");
    if (!isObject(delivery) || (delivery.mode !== "broadcast" && delivery.mode !== "work-queue"))
      throw badArgument('onEntityChanged: delivery.mode must be "broadcast" or "work-queue"');
    if (delivery.mode === "broadcast") {
      const sub = { kind, handler };
      broadcastSubs.add(sub);
      if (!broadcastLoop)
        broadcastLoop = runBroadcast().catch((e) => log.error("entity-reactor/bus/redis: broadcast reader stopped", e));
      return async () => {
        broadcastSubs.delete(sub);
      };
    }
    const { workerGroup, maxRetries = 0 } = delivery;
    if (typeof workerGroup !== "string" || workerGroup.trim() === "")
      throw badArgument("onEntityChanged: work-queue delivery needs a non-empty workerGroup");
    if (!Number.isInteger(maxRetries) || maxRetries < 0)
      throw badArgument("onEntityChanged: maxRetries must be a non-negative integer");
    const name = `${workerGroup}:${kind}`;
    const sub = { kind, handler, workerGroup, maxRetries };
    let g = groups.get(name);
    if (!g) {
      g = {
        name,
        kind,
        subs: [],
        next: 0,
        stopped: false,
        failing: false,
        claimed: 0,
        handled: 0,
        duplicates: 0,
        dead: 0,
        held: new Map(),
        unmarked: new Map(),
        loop: null,
      };
      groups.set(name, g);
      const group = g;
      group.ready = ensureGroup(name);
      group.loop = group.ready
        .then(() => runGroup(group))
        .catch((e) => log.error(`entity-reactor/bus/redis: work-queue reader "${name}" stopped`, e));
    }
    g.subs.push(sub);
    return async () => {
      const i = g.subs.indexOf(sub);
      if (i < 0) return;
      g.subs.splice(i, 1);
      if (g.subs.length === 0 && groups.get(name) === g) {
        g.stopped = true;
        groups.delete(name);
        await g.loop;
      }
    };
  }

  /** Resolves once every consumer group this bus subscribed to exists (subscribe, await ready(), then write). */
  async function ready() {
    await Promise.all([...groups.values()].map((g) => g.ready));
  }

  /** Resolves once every XADD / XACK sent so far has been answered. */
  async function flush() {
    while (inflight.size) await Promise.allSettled([...inflight]);
  }

  /** Compatibility: engine.wire(bus.publish). New code passes the bus to createEngine({ bus }). */
  function attach(engine) {
    if (!engine || !isFunction(engine.wire)) throw badArgument("attach: expected an engine");
    engine.wire(publish);
    return engine;
  }

  /**
   * Drains the relays (what the outbox holds now, while Redis answers; bounded
   * by blockMs + 1 s), flushes, stops the readers and closes the connections.
   */
  async function close() {
    if (closing) return closing;
    closing = (async () => {
      const timer = (ms) => new Promise((r) => setTimeout(r, ms).unref?.());
      for (const relay of relays.values()) {
        relay.wanted = true;
        relay.stopWait?.();
      }
      const relayLoops = [...relays.values()].map((r) => r.loop);
      await Promise.race([Promise.allSettled(relayLoops), timer(blockMs + 1000)]);
      await flush();
      closed = true;
      for (const relay of relays.values()) {
        relay.stopWait?.();
        relay.unwatch?.();
        try {
          await relay.store.releaseOutbox?.({ owner: consumerName });
        } catch {}
      }
      for (const g of groups.values()) g.stopped = true;
      const loops = [broadcastLoop, ...[...groups.values()].map((g) => g.loop), ...relayLoops].filter(Boolean);
      // Readers leave after their current blocking read (at most blockMs); then they are cut.
      await Promise.race([Promise.allSettled(loops), timer(blockMs + 1000)]);
      for (const c of [...connections]) await closeClient(c, false);
      connections.clear();
      // A handler that never settles keeps its reader; its entry stays pending and is claimed elsewhere.
      await Promise.race([Promise.allSettled(loops), timer(1000)]);
    })();
    return closing;
  }

  return {
    stream,
    consumerName,
    publish,
    /** The old name of publish (engine.wire(bus.emit)). */
    emit: publish,
    attachEngine,
    attach,
    onEntityChanged,
    ready,
    flush,
    close,
    /** Entries this bus took over from other consumers with XAUTOCLAIM, per group. */
    claimedCounts() {
      return Object.fromEntries([...groups.values()].map((g) => [g.name, g.claimed]));
    },
    /** Counters: relay (published, batches, failures, locked), broadcast (delivered, duplicates) and per work-queue group (handled, duplicates, claimed, dead, unmarked). */
    stats() {
      return {
        relay: { ...relayStats, relays: relays.size },
        broadcast: { ...broadcastStats },
        groups: Object.fromEntries(
          [...groups.values()].map((g) => [
            g.name,
            {
              handled: g.handled,
              duplicates: g.duplicates,
              claimed: g.claimed,
              dead: g.dead,
              unmarked: g.unmarked.size,
            },
          ]),
        ),
      };
    },
    [Symbol.asyncDispose]: close,
  };
}
