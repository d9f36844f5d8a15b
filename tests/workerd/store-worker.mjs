// Runs the transition store contract (store-contract.mjs) inside workerd:
// each case in a fresh SQLite-backed Durable Object, against
// entity-reactor/stores/durable-object over that object's ctx.storage.
//   GET /cases                         the case names
//   GET /run?case=<name>&object=<name> runs one case in the object <name>
//   GET /query?q=<name>&object=<name>  one query on the 100,000-row log
//                                      the case of that name left in <name>
import { DurableObject } from "cloudflare:workers";
import { createEngine, ErrorCode } from "entity-reactor";
import { createDurableObjectTransitionStore } from "entity-reactor/stores/durable-object";
import { cases } from "./store-contract.mjs";

// The object's storage as the store sees it, counting the rows each
// statement reads and, while asked to, capturing the statements.
function tracked(storage) {
  let cursors = null; // while counting
  let captured = null; // while capturing
  const sql = {
    exec(query, ...args) {
      const cursor = storage.sql.exec(query, ...args);
      if (cursors) cursors.push(cursor);
      if (captured) captured.push([query, args]);
      return cursor;
    },
  };
  return {
    storage: { sql, transactionSync: (fn) => storage.transactionSync(fn) },
    count() {
      cursors = [];
    },
    rowsRead: () => (cursors ?? []).reduce((n, c) => n + c.rowsRead, 0),
    async capture(fn) {
      captured = [];
      try {
        await fn();
        return captured;
      } finally {
        captured = null;
      }
    },
  };
}

export class ContractObject extends DurableObject {
  hot = null;

  backend() {
    const storage = this.ctx.storage;
    const raw = (query, ...args) => storage.sql.exec(query, ...args).toArray();
    const counter = tracked(storage);
    return {
      create: async ({ table = "entity_transitions", ...options } = {}) => {
        const store = createDurableObjectTransitionStore(counter.storage, { table, ...options });
        return {
          store,
          sql: raw,
          count: async () => raw(`SELECT COUNT(*) AS n FROM "${table}"`)[0].n,
          entities: async () => raw(`SELECT COUNT(*) AS n FROM "${table}_entities"`)[0].n,
          entityRow: async (kind, entityId) =>
            raw(`SELECT * FROM "${table}_entities" WHERE kind = ? AND entity_id = ?`, kind, entityId)[0],
          toValues: async () => raw(`SELECT to_value FROM "${table}"`).map((r) => r.to_value),
          reopen: async () => createDurableObjectTransitionStore(storage, { table, ...options }),
          // Another store over the same database (the object's other code, an alarm's relay...).
          second: async () => createDurableObjectTransitionStore(storage, { table, ...options }),
          outboxRows: async () =>
            raw(`SELECT change_id, published_at FROM "${store.outboxTable}" ORDER BY seq`).map((r) => ({
              changeId: r.change_id,
              published: r.published_at !== null,
            })),
          resetRowsRead: () => counter.count(),
          rowsRead: () => counter.rowsRead(),
          planOf: async (fn) => {
            const statements = await counter.capture(fn);
            const details = [];
            for (const [query, args] of statements) {
              if (/^\s*CREATE/i.test(query)) continue;
              for (const r of raw(`EXPLAIN QUERY PLAN ${query}`, ...args)) details.push(r.detail);
            }
            return details.join("; ");
          },
        };
      },
    };
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/run") {
      const name = url.searchParams.get("case");
      const run = cases[name];
      if (!run) return Response.json({ error: `no case ${JSON.stringify(name)}` }, { status: 404 });
      const backend = this.backend();
      const ctx = {
        backend,
        createEngine,
        ErrorCode,
        createStore: (options) => createDurableObjectTransitionStore(this.ctx.storage, options),
        createStoreOn: (storage) => createDurableObjectTransitionStore(storage),
        createStoreOnState: () => createDurableObjectTransitionStore(this.ctx),
      };
      try {
        const report = await run(ctx);
        return Response.json({ ok: true, report: report ?? null });
      } catch (e) {
        return Response.json({ ok: false, error: String(e?.stack ?? e), code: e?.code ?? null });
      }
    }
    if (url.pathname === "/query") {
      // One query on the log the 100,000-row case left in this object.
      const store = createDurableObjectTransitionStore(this.ctx.storage);
      const t0 = Date.parse("2026-01-01T00:00:00.000Z");
      const last = t0 + 29_999 * 1000;
      const queries = {
        inStateSinceLatest: () =>
          store.inStateSince({ kind: "sys", entityId: "hot", field: "status", currentValue: `s${29_999 % 7}` }),
        inStateSinceOld: () =>
          store.inStateSince({
            kind: "sys",
            entityId: "hot",
            field: "metadata",
            currentValue: JSON.stringify({ owner: "team-platform-and-infrastructure", tier: 999 }),
          }),
        inStateSinceNever: () =>
          store.inStateSince({ kind: "sys", entityId: "hot", field: "status", currentValue: "never" }),
        count: () =>
          store.transitionCount({
            kind: "sys",
            entityId: "hot",
            field: "status",
            windowMs: 59_000,
            now: new Date(last),
          }),
        history: () => store.history({ kind: "sys", entityId: "hot", limit: 50 }),
        historyField: () => store.history({ kind: "sys", entityId: "hot", field: "status", limit: 50 }),
      };
      const q = queries[url.searchParams.get("q")];
      if (!q) return Response.json({ error: "unknown query" }, { status: 404 });
      const result = await q();
      return Response.json({ ok: true, size: Array.isArray(result) ? result.length : result });
    }
    return new Response("not found", { status: 404 });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/cases") return Response.json(Object.keys(cases));
    const object = url.searchParams.get("object");
    if (!object) return new Response("?object= is required", { status: 400 });
    return env.CONTRACT.get(env.CONTRACT.idFromName(object)).fetch(request);
  },
};
