// Delivery of change events (SPEC §6): the outbound emitter with its
// buffer for events produced before it is wired, and in-process
// subscriptions (broadcast, or one handler per work-queue group). Events
// are JavaScript objects, so they are delivered where they are built.
import { EntityReactorError, ErrorCode, badArgument } from "./errors.js";

const isFunction = (f) => typeof f === "function";
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

export function checkKind(kind, what) {
  if (typeof kind !== "string" || kind.trim() === "")
    throw new EntityReactorError(
      ErrorCode.ER_BAD_KIND,
      `${what}: kind must be a non-empty string, received ${typeof kind === "string" ? JSON.stringify(kind) : typeof kind}`,
      { path: "kind" },
    );
  return kind;
}

export class Delivery {
  #emit = null;
  #buffer = []; // events produced before wire(), oldest first
  #head = 0; // #buffer[0, #head) were taken
  #limit;
  #overflowing = false; // one warning per overflow episode
  #dropped = 0;
  #flushing = false;
  #logger;
  #subs = new Map(); // kind -> { broadcast: Set<sub>, groups: Map<group, { subs: sub[], turn }> }

  constructor(limit, logger) {
    this.#limit = limit;
    this.#logger = logger;
  }

  get isWired() {
    return this.#emit !== null;
  }

  /** Wires the outbound emitter and flushes what was buffered, in order. */
  wire(emit) {
    this.#emit = emit;
    // Drain synchronously: events published during an emit call are
    // appended to the buffer and come out of this loop once, in order.
    this.#flushing = true;
    try {
      while (this.#head < this.#buffer.length) {
        const event = this.#buffer[this.#head];
        this.#buffer[this.#head++] = undefined;
        this.#safeEmit(event);
      }
    } finally {
      this.#buffer = [];
      this.#head = 0;
      this.#flushing = false;
      this.#overflowing = false;
    }
  }

  /** Delivers a committed change: emitter (or its buffer), then handlers. */
  publish(event) {
    if (this.#emit !== null && !this.#flushing) this.#safeEmit(event);
    else this.#keep(event);
    const subs = this.#subs.get(event.kind);
    if (subs !== undefined) this.#route(subs, event);
  }

  #keep(event) {
    this.#buffer.push(event);
    if (this.#buffer.length - this.#head <= this.#limit) return;
    this.#buffer[this.#head++] = undefined; // drop the oldest
    this.#dropped++;
    if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    if (!this.#overflowing) {
      this.#overflowing = true;
      this.#warn(
        `entity-reactor: the event buffer is full (${this.#limit} events, no emitter wired): ` +
          "the oldest events are dropped until wire(emit) is called (warned once per overflow)",
      );
    }
  }

  /** Events waiting for wire() (tests, diagnostics). */
  get buffered() {
    return this.#buffer.length - this.#head;
  }

  get dropped() {
    return this.#dropped;
  }

  #warn(message) {
    try {
      this.#logger.warn(message);
    } catch {
      // A throwing logger never changes a write's outcome.
    }
  }

  #error(message, cause) {
    try {
      this.#logger.error(message, cause);
    } catch {
      // As #warn.
    }
  }

  #safeEmit(event) {
    try {
      const r = this.#emit(event);
      if (r && isFunction(r.then)) r.then(undefined, (e) => this.#error("entity-reactor: emit failed", e));
    } catch (e) {
      this.#error("entity-reactor: emit failed", e);
    }
  }

  /** onEntityChanged: returns an idempotent unsubscribe. */
  subscribe(subscription) {
    if (!isObject(subscription)) throw badArgument("onEntityChanged: expected { kind, handler, delivery? }");
    const { kind, handler, delivery = { mode: "broadcast" } } = subscription;
    checkKind(kind, "onEntityChanged");
    if (!isFunction(handler)) throw badArgument("onEntityChanged: handler must be a function", "handler");
    if (!isObject(delivery) || (delivery.mode !== "broadcast" && delivery.mode !== "work-queue"))
      throw badArgument('onEntityChanged: delivery.mode must be "broadcast" or "work-queue"', "delivery.mode");
    const workQueue = delivery.mode === "work-queue";
    const group = delivery.workerGroup;
    if (workQueue && (typeof group !== "string" || group.trim() === ""))
      throw badArgument("onEntityChanged: work-queue delivery needs a non-empty workerGroup", "delivery.workerGroup");
    const maxRetries = delivery.maxRetries ?? 0;
    if (!Number.isInteger(maxRetries) || maxRetries < 0)
      throw badArgument("onEntityChanged: maxRetries must be a non-negative integer", "delivery.maxRetries");
    const sub = { kind, handler, maxRetries: workQueue ? maxRetries : 0 };
    let byKind = this.#subs.get(kind);
    if (!byKind) this.#subs.set(kind, (byKind = { broadcast: new Set(), groups: new Map() }));
    if (!workQueue) {
      byKind.broadcast.add(sub);
    } else {
      let g = byKind.groups.get(group);
      if (!g) byKind.groups.set(group, (g = { subs: [], turn: 0 }));
      g.subs.push(sub);
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      if (!workQueue) {
        byKind.broadcast.delete(sub);
      } else {
        const g = byKind.groups.get(group);
        g.subs.splice(g.subs.indexOf(sub), 1);
        if (g.subs.length === 0) byKind.groups.delete(group);
      }
      if (byKind.broadcast.size === 0 && byKind.groups.size === 0 && this.#subs.get(kind) === byKind)
        this.#subs.delete(kind);
    };
  }

  // Every broadcast subscriber, and one subscriber per work-queue group
  // (round robin).
  #route(byKind, event) {
    for (const sub of byKind.broadcast) this.#run(sub, event, 0);
    for (const g of byKind.groups.values()) this.#run(g.subs[g.turn++ % g.subs.length], event, 0);
  }

  #run(sub, event, attempt) {
    const fail = (e) => {
      if (attempt < sub.maxRetries) {
        this.#run(sub, event, attempt + 1);
        return;
      }
      this.#error(`entity-reactor: handler for kind "${sub.kind}" failed`, e);
    };
    try {
      const r = sub.handler(event);
      if (r && isFunction(r.then)) r.then(undefined, fail);
    } catch (e) {
      fail(e);
    }
  }

  clear() {
    this.#subs.clear();
    this.#buffer = [];
    this.#head = 0;
  }
}
