// Test helpers: an in-memory host table with async read/apply, a fake clock
// and a host transition store, all driven through the public API only.
import { createEngine } from "../../js/src/index.js";

export const systemSchema = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 1 },
    description: { type: ["string", "null"] },
    metadata: { type: "object", propertyNames: { type: "string" }, additionalProperties: {} },
  },
  required: ["name", "description", "metadata"],
  additionalProperties: false,
};

export class Table {
  rows = new Map();
  reads = [];
  read = async (ids) => {
    this.reads.push([...ids]);
    await Promise.resolve();
    const out = {};
    for (const id of ids) if (this.rows.has(id)) out[id] = structuredClone(this.rows.get(id));
    return out;
  };
  put(id, state) {
    return async () => {
      await Promise.resolve();
      this.rows.set(id, structuredClone(state));
      return state;
    };
  }
  del(id) {
    return async () => {
      await Promise.resolve();
      this.rows.delete(id);
    };
  }
}

export class FakeClock {
  t = Date.parse("2026-01-02T03:04:05.678Z");
  now = () => this.t;
  advance(ms) {
    this.t += ms;
  }
}

export const quietLogger = () => {
  const logger = { warnings: [], errors: [] };
  logger.warn = (...a) => logger.warnings.push(a.map(String).join(" "));
  logger.error = (...a) => logger.errors.push(a.map((x) => (x instanceof Error ? x.message : String(x))).join(" "));
  logger.info = () => {};
  return logger;
};

/** An engine with one "sys" kind over a Table, collecting events. */
export async function setup(options = {}) {
  const clock = new FakeClock();
  const table = new Table();
  const events = [];
  const logger = quietLogger();
  const engine = await createEngine({ now: clock.now, logger, emit: (e) => events.push(e), ...options });
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read, ...(options.define ?? {}) });
  return { engine, handle, table, clock, events, logger };
}

export const sys = (name, extra = {}) => ({ name, description: null, metadata: {}, ...extra });

/** A host transition store over arrays, with optional fault injection. */
export class HostStore {
  rows = [];
  transactions = 0;
  failAppend = false;
  async runInTransaction(fn) {
    this.transactions++;
    const staged = [];
    const tx = { staged };
    await fn(tx);
    this.rows.push(...staged);
  }
  async appendTransitions({ tx, kind, entityId, transitions }) {
    await Promise.resolve();
    for (const r of transitions) {
      if (r.kind !== kind || r.entityId !== entityId) throw new Error("row for another entity");
      tx.staged.push(r);
    }
    if (this.failAppend) throw new Error("disk full");
  }
  async inStateSince({ kind, entityId, field, currentValue }) {
    const hits = this.rows.filter(
      (r) => r.kind === kind && r.entityId === entityId && r.field === field && r.toValue === currentValue,
    );
    return hits.length ? hits.at(-1).transitionedAt : null;
  }
  async transitionCount({ kind, entityId, field, windowMs, now }) {
    return this.rows.filter(
      (r) =>
        r.kind === kind &&
        r.entityId === entityId &&
        r.field === field &&
        r.transitionedAt.getTime() >= now.getTime() - windowMs,
    ).length;
  }
  async history({ kind, entityId, field, limit }) {
    const rows = this.rows
      .filter((r) => r.kind === kind && r.entityId === entityId && (field === undefined || r.field === field))
      .reverse();
    return limit ? rows.slice(0, limit) : rows;
  }
}
