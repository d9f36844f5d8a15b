/**
 * entity-reactor/bus/redis — multi-process delivery (SPEC §6) over one Redis
 * Stream, through node-redis (`redis`, an optional peer dependency: install
 * it yourself and pass a client in; this module imports nothing from it).
 *
 *   import { createClient } from "redis";
 *   import { createEngine } from "entity-reactor";
 *   import { createRedisBus } from "entity-reactor/bus/redis";
 *
 *   const bus = await createRedisBus({ client: createClient({ url: process.env.REDIS_URL }) });
 *   const engine = await createEngine({ transitions });
 *   bus.attach(engine);                        // = engine.wire(bus.emit)
 *   bus.onEntityChanged({ kind: "order", handler, delivery: { mode: "work-queue", workerGroup: "mailer", maxRetries: 3 } });
 *
 * Publishing. bus.emit(event) appends the change to the stream (XADD, one
 * entry per change: fields kind, id, changeId, e = the event as JSON). The
 * engine calls its emitter synchronously, in commit order, and every XADD of
 * a bus goes out on one connection, so the entries of one process are in its
 * commit order.
 *
 * broadcast. One reader per bus (XREAD BLOCK from the bus's own cursor, which
 * starts at the stream's last entry when the bus is created): every bus runs
 * its broadcast handlers for every change, its own included, one entry at a
 * time, in stream order. A throwing handler is logged; the next entry goes on.
 *
 * work-queue. One Redis consumer group per (workerGroup, kind), named
 * `<workerGroup>:<kind>`, created at the end of the stream when the first
 * subscriber of any process subscribes. Each bus reads it as consumer
 * `consumerName` (XREADGROUP ... >): Redis hands each entry to one consumer.
 * The handler runs; on success the entry is XACKed. A throwing handler is
 * retried up to maxRetries more times; when it still fails the error is
 * logged, the entry is copied to `<stream>:dead` (fields group, consumer,
 * error, plus the entry's own) and acknowledged. An entry read by a consumer
 * that then died (never acknowledged) stays pending in the group; every
 * consumer runs XAUTOCLAIM every claimIdleMs/2 and takes entries idle for more
 * than claimIdleMs, so another process handles them. At startup a consumer
 * first re-reads its own pending entries (same consumerName after a restart).
 * Delivery is therefore at least once: a consumer killed after its handler
 * ran but before XACK reached Redis lets the change be handled again —
 * de-duplicate on event.changeId.
 *
 * Ordering. Per entity, entries are in commit order as long as one process
 * writes the entity at a time (or writes to it are serialised by the host).
 * broadcast handlers see them in that order. A work-queue group spreads the
 * entries of one entity over its consumers, so two changes of one entity may
 * be handled concurrently by two processes.
 *
 * Needs Redis >= 6.2 (XAUTOCLAIM). Commands are sent with sendCommand on the
 * bus's own connections (client.duplicate(), one that never blocks plus one
 * per blocking reader); replies are read in their RESP2 and RESP3 shapes, so
 * node-redis 4, 5 and 6 work alike.
 */

import { hostname } from "node:os";
import { randomUUID } from "node:crypto";

const DEFAULTS = {
  stream: "entity-reactor:changes",
  claimIdleMs: 30_000,
  blockMs: 2_000,
  batchSize: 100,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isFunction = (f) => typeof f === "function";
const isObject = (o) => o !== null && typeof o === "object" && !Array.isArray(o);

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
    for (const entries of reply instanceof Map ? reply.values() : Object.values(reply)) out.push(...parseEntries(entries));
  }
  return out;
}

function toEvent(entry) {
  try {
    return JSON.parse(entry.fields.e);
  } catch {
    return null;
  }
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
    logger = console,
  } = options;
  if (!template || !isFunction(template.duplicate)) throw badArgument("createRedisBus: client must be a node-redis client (createClient from the redis package)");
  if (typeof stream !== "string" || stream === "") throw badArgument("createRedisBus: stream must be a non-empty string");
  if (typeof consumerName !== "string" || consumerName === "") throw badArgument("createRedisBus: consumerName must be a non-empty string");
  for (const [name, v] of Object.entries({ claimIdleMs, blockMs, batchSize }))
    if (!Number.isInteger(v) || v <= 0) throw badArgument(`createRedisBus: ${name} must be a positive integer`);
  if (maxLen !== undefined && (!Number.isInteger(maxLen) || maxLen <= 0)) throw badArgument("createRedisBus: maxLen must be a positive integer");

  const connections = new Set();
  async function connection() {
    const c = template.duplicate();
    c.on("error", (e) => {
      if (!closed) logger.warn?.(`entity-reactor/bus/redis: connection error: ${e?.message ?? e}`);
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
  const ctl = await connection(); // XADD, XACK, XAUTOCLAIM, XGROUP: never blocks
  const cmd = (args) => ctl.sendCommand(args.map(String));

  // The broadcast cursor: the stream's last entry now ("0-0" when empty).
  const last = await cmd(["XREVRANGE", stream, "+", "-", "COUNT", "1"]);
  let broadcastCursor = Array.isArray(last) && last.length ? String(last[0][0]) : "0-0";

  const inflight = new Set();
  const track = (p) => {
    inflight.add(p);
    p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    );
    return p;
  };

  /** Appends one change to the stream. Pass it to createEngine({ emit }) or engine.wire(). */
  function emit(event) {
    if (closed) return Promise.reject(new Error("entity-reactor/bus/redis: bus is closed"));
    if (!isObject(event) || typeof event.kind !== "string") return Promise.reject(badArgument("bus.emit: expected a change event"));
    const args = ["XADD", stream];
    if (maxLen !== undefined) args.push("MAXLEN", "~", maxLen);
    args.push("*", "kind", event.kind, "id", String(event.id ?? ""), "changeId", String(event.changeId ?? ""), "e", JSON.stringify(event));
    return track(cmd(args));
  }

  // ------------------------------------------------------------ broadcast
  const broadcastSubs = new Set(); // { kind, handler }
  let broadcastLoop = null;

  async function runBroadcast() {
    const conn = await connection();
    try {
      while (!closed && broadcastSubs.size) {
        let reply;
        try {
          reply = await conn.sendCommand(["XREAD", "COUNT", String(batchSize), "BLOCK", String(blockMs), "STREAMS", stream, broadcastCursor]);
        } catch (e) {
          if (closed) break;
          logger.warn?.(`entity-reactor/bus/redis: XREAD failed: ${e?.message ?? e}`);
          await sleep(200);
          continue;
        }
        for (const entry of parseRead(reply)) {
          broadcastCursor = entry.id;
          const event = toEvent(entry);
          if (!event) continue;
          for (const sub of [...broadcastSubs]) {
            if (sub.kind !== event.kind || !broadcastSubs.has(sub)) continue;
            try {
              await sub.handler(event);
            } catch (e) {
              logger.error?.(`entity-reactor/bus/redis: broadcast handler for kind "${sub.kind}" failed`, e);
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
  const groups = new Map(); // "<workerGroup>:<kind>" → { name, kind, subs: [], next, loop, stopped }

  async function handleGroupEntry(g, entry, acks) {
    const event = toEvent(entry);
    const subs = g.subs;
    if (!event) {
      // Unreadable entry: nothing can handle it; acknowledge so it is not claimed forever.
      acks.push(track(cmd(["XACK", stream, g.name, entry.id])));
      return;
    }
    // Unsubscribed meanwhile: left pending, another consumer claims it.
    if (subs.length === 0) return;
    const sub = subs[g.next++ % subs.length];
    let lastError;
    for (let attempt = 0; attempt <= sub.maxRetries; attempt++) {
      try {
        await sub.handler(event);
        acks.push(track(cmd(["XACK", stream, g.name, entry.id])));
        return;
      } catch (e) {
        lastError = e;
      }
    }
    logger.error?.(
      `entity-reactor/bus/redis: work-queue handler for kind "${sub.kind}" (group "${sub.workerGroup}") failed ${sub.maxRetries + 1} time(s); change ${event.changeId} moved to ${stream}:dead`,
      lastError,
    );
    const flat = Object.entries(entry.fields).flat();
    acks.push(
      track(
        cmd(["XADD", `${stream}:dead`, "*", "group", g.name, "consumer", consumerName, "error", String(lastError?.message ?? lastError), "entryId", entry.id, ...flat]).then(() =>
          cmd(["XACK", stream, g.name, entry.id]),
        ),
      ),
    );
  }

  async function ensureGroup(name) {
    try {
      await cmd(["XGROUP", "CREATE", stream, name, "$", "MKSTREAM"]);
    } catch (e) {
      if (!String(e?.message ?? e).includes("BUSYGROUP")) throw e;
    }
  }

  async function runGroup(g) {
    const conn = await connection();
    const acksOf = async (entries) => {
      const acks = [];
      for (const entry of entries) {
        if (g.stopped || closed) break;
        await handleGroupEntry(g, entry, acks);
      }
      await Promise.allSettled(acks);
    };
    try {
      // 1. This consumer's own pending entries (a restart under the same consumerName).
      for (let cursor = "0"; !g.stopped && !closed; ) {
        const reply = await conn.sendCommand(["XREADGROUP", "GROUP", g.name, consumerName, "COUNT", String(batchSize), "STREAMS", stream, cursor]);
        const entries = parseRead(reply);
        if (!entries.length) break;
        await acksOf(entries);
        cursor = entries.at(-1).id;
      }
      // 2. New entries, and now and then the idle pending entries of dead consumers.
      let nextClaim = Date.now() + Math.floor(claimIdleMs / 2);
      while (!g.stopped && !closed) {
        if (Date.now() >= nextClaim) {
          nextClaim = Date.now() + Math.floor(claimIdleMs / 2);
          try {
            for (let start = "0-0"; !g.stopped && !closed; ) {
              const r = await cmd(["XAUTOCLAIM", stream, g.name, consumerName, claimIdleMs, start, "COUNT", batchSize]);
              const claimed = parseEntries(r?.[1]);
              if (claimed.length) g.claimed += claimed.length;
              await acksOf(claimed);
              start = String(r?.[0] ?? "0-0");
              if (start === "0-0") break;
            }
          } catch (e) {
            if (closed) break;
            logger.warn?.(`entity-reactor/bus/redis: XAUTOCLAIM failed: ${e?.message ?? e}`);
          }
        }
        let reply;
        try {
          const block = Math.max(1, Math.min(blockMs, nextClaim - Date.now()));
          reply = await conn.sendCommand(["XREADGROUP", "GROUP", g.name, consumerName, "COUNT", String(batchSize), "BLOCK", String(block), "STREAMS", stream, ">"]);
        } catch (e) {
          if (closed || g.stopped) break;
          const message = String(e?.message ?? e);
          if (message.includes("NOGROUP")) await ensureGroup(g.name).catch(() => {});
          else logger.warn?.(`entity-reactor/bus/redis: XREADGROUP failed: ${message}`);
          await sleep(200);
          continue;
        }
        await acksOf(parseRead(reply));
      }
    } finally {
      connections.delete(conn);
      await closeClient(conn, true);
    }
  }

  /** Same shape as engine.onEntityChanged; returns an idempotent async unsubscribe. */
  function onEntityChanged(subscription) {
    if (closed) throw new Error("entity-reactor/bus/redis: bus is closed");
    if (!isObject(subscription)) throw badArgument("onEntityChanged: expected { kind, handler, delivery? }");
    const { kind, handler, delivery = { mode: "broadcast" } } = subscription;
    if (typeof kind !== "string" || kind === "") throw badArgument("onEntityChanged: kind must be a non-empty string");
    if (!isFunction(handler)) throw badArgument("onEntityChanged: handler must be a function");
    if (!isObject(delivery) || (delivery.mode !== "broadcast" && delivery.mode !== "work-queue"))
      throw badArgument('onEntityChanged: delivery.mode must be "broadcast" or "work-queue"');
    if (delivery.mode === "broadcast") {
      const sub = { kind, handler };
      broadcastSubs.add(sub);
      if (!broadcastLoop) broadcastLoop = runBroadcast().catch((e) => logger.error?.("entity-reactor/bus/redis: broadcast reader stopped", e));
      return async () => {
        broadcastSubs.delete(sub);
      };
    }
    const { workerGroup, maxRetries = 0 } = delivery;
    if (typeof workerGroup !== "string" || workerGroup === "") throw badArgument("onEntityChanged: work-queue delivery needs a non-empty workerGroup");
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw badArgument("onEntityChanged: maxRetries must be a non-negative integer");
    const name = `${workerGroup}:${kind}`;
    const sub = { kind, handler, workerGroup, maxRetries };
    let g = groups.get(name);
    if (!g) {
      g = { name, kind, subs: [], next: 0, stopped: false, claimed: 0, loop: null };
      groups.set(name, g);
      const group = g;
      group.ready = ensureGroup(name);
      group.loop = group.ready
        .then(() => runGroup(group))
        .catch((e) => logger.error?.(`entity-reactor/bus/redis: work-queue reader "${name}" stopped`, e));
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

  /** engine.wire(bus.emit): every committed change of the engine is published. */
  function attach(engine) {
    if (!engine || !isFunction(engine.wire)) throw badArgument("attach: expected an engine");
    engine.wire(emit);
    return engine;
  }

  async function close() {
    if (closed) return;
    await flush();
    closed = true;
    for (const g of groups.values()) g.stopped = true;
    const loops = [broadcastLoop, ...[...groups.values()].map((g) => g.loop)].filter(Boolean);
    // Readers leave after their current blocking read (at most blockMs); then they are cut.
    const timer = (ms) => new Promise((r) => setTimeout(r, ms).unref?.());
    await Promise.race([Promise.allSettled(loops), timer(blockMs + 1000)]);
    for (const c of [...connections]) await closeClient(c, false);
    connections.clear();
    // A handler that never settles keeps its reader; its entry stays pending and is claimed elsewhere.
    await Promise.race([Promise.allSettled(loops), timer(1000)]);
  }

  return {
    stream,
    consumerName,
    emit,
    attach,
    onEntityChanged,
    ready,
    flush,
    close,
    /** Entries this bus took over from other consumers with XAUTOCLAIM, per group. */
    claimedCounts() {
      return Object.fromEntries([...groups.values()].map((g) => [g.name, g.claimed]));
    },
    [Symbol.asyncDispose]: close,
  };
}
