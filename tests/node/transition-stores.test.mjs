// One adapter contract suite, three stores: the in-memory reference store,
// entity-reactor/stores/sqlite (better-sqlite3 on a temp file) and
// entity-reactor/stores/postgres (pg on a private PostgreSQL started here).
// The contract's cases live in tests/workerd/store-contract.mjs, shared with
// the Durable Object store's run inside workerd; they drive each store through
// the engine's public API (createEngine({ transitions: store, now }) +
// handle.history / inStateSince / transitionCount), and call the store
// directly for the failing-append cases. The adapter specifics stay here.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { createEngine, ErrorCode } from "../../js/src/index.js";
import { createSqliteTransitionStore } from "../../js/src/stores/sqlite.js";
import { createPostgresTransitionStore } from "../../js/src/stores/postgres.js";
import { Table, quietLogger, sys, systemSchema } from "../js/helpers.mjs";
import { KIND, contract, engineWith, row } from "../workerd/store-contract.mjs";
import { createMemoryTransitionStore } from "./memory-store.mjs";
import { startPostgres } from "./pg-server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

// ------------------------------------------------------------ backends

let pgServer = null;
const pools = new Set();
const tmpDirs = [];
let tableSeq = 0;
let scratchDb = null; // a connection for the stores the option checks make

function newPool() {
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 8 });
  pool.on("error", () => {}); // an idle client cut at shutdown
  pools.add(pool);
  return pool;
}

before(async () => {
  pgServer = await startPostgres();
});

after(async () => {
  // A pool whose client was never released would wait forever: bounded.
  const bounded = (p) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
  await Promise.all([...pools].map((pool) => bounded(pool.end())));
  await pgServer?.stop();
  scratchDb?.close();
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Each backend: create() → a fresh, empty log:
 *   { store, count(): rows in the backend, toValues(): every to_value,
 *     reopen(): another store over the same data, host?: the raw connection }
 * createStore(options): a store over a real connection (the option checks);
 * lacks: the contract cases that do not apply to it.
 */
const backends = [
  {
    name: "memory (reference)",
    // It has no table to name.
    lacks: ["option table: the log goes to the named table"],
    async create({ outbox = false } = {}) {
      const store = createMemoryTransitionStore({ outbox });
      return {
        store,
        count: async () => store.rows.length,
        toValues: async () => store.rows.map((r) => r.toValue),
        reopen: async () => store,
        second: async () => store,
        outboxRows: async () => store.changes.map((c) => ({ changeId: c.changeId, published: c.publishedAt !== null })),
      };
    },
  },
  {
    name: "sqlite (better-sqlite3, temp file)",
    sql: "sqlite",
    createStore: (options) => createSqliteTransitionStore((scratchDb ??= new Database(":memory:")), options),
    async create({ table, outbox = false } = {}) {
      const dir = mkdtempSync(path.join(os.tmpdir(), "er-sqlite-"));
      tmpDirs.push(dir);
      const file = path.join(dir, "transitions.db");
      const db = new Database(file);
      db.pragma("journal_mode = WAL");
      const options = { ...(table ? { table } : {}), ...(outbox ? { outbox } : {}) };
      const store = createSqliteTransitionStore(db, options);
      const name = table ?? "entity_transitions";
      return {
        store,
        db,
        count: async () => db.prepare(`SELECT COUNT(*) FROM "${name}"`).pluck().get(),
        toValues: async () => db.prepare(`SELECT to_value FROM "${name}"`).pluck().all(),
        reopen: async () => {
          db.close();
          return createSqliteTransitionStore(new Database(file), options);
        },
        // Another connection to the same file (another process, as far as SQLite is concerned).
        second: async () => createSqliteTransitionStore(new Database(file), options),
        outboxRows: async () =>
          db
            .prepare(`SELECT change_id, published_at FROM "${name}_outbox" ORDER BY seq`)
            .all()
            .map((r) => ({ changeId: r.change_id, published: r.published_at !== null })),
      };
    },
  },
  {
    name: "postgres (pg, private server)",
    sql: "postgres",
    createStore: (options) => createPostgresTransitionStore(newPool(), options),
    // A schema-qualified name, which only PostgreSQL takes.
    customTable: `audit_${process.pid}.custom_log`,
    async create({ table, outbox = false } = {}) {
      const name = table ?? `et_${process.pid}_${++tableSeq}`;
      const pool = newPool();
      if (name.includes(".")) await pool.query(`CREATE SCHEMA IF NOT EXISTS "${name.split(".")[0]}"`);
      const options = { table: name, ...(outbox ? { outbox } : {}) };
      const store = createPostgresTransitionStore(pool, options);
      const quoted = name
        .split(".")
        .map((p) => `"${p}"`)
        .join(".");
      return {
        store,
        pool,
        count: async () => Number((await pool.query(`SELECT COUNT(*) AS n FROM ${quoted}`)).rows[0].n),
        toValues: async () => (await pool.query(`SELECT to_value FROM ${quoted}`)).rows.map((r) => r.to_value),
        reopen: async () => createPostgresTransitionStore(newPool(), options),
        second: async () => createPostgresTransitionStore(newPool(), options),
        outboxRows: async () =>
          (await pool.query(`SELECT change_id, published_at FROM "${name}_outbox" ORDER BY seq`)).rows.map((r) => ({
            changeId: r.change_id,
            published: r.published_at !== null,
          })),
      };
    },
  },
];

// ------------------------------------------------------------ the suite

// Each case once, in store-contract.mjs, which workerd runs as well: here each
// is a node:test test per backend, over a ctx of the shape store-worker.mjs gives.
for (const backend of backends) {
  for (const name of backend.lacks ?? [])
    if (!Object.hasOwn(contract, name)) throw new Error(`${backend.name}: no contract case ${JSON.stringify(name)}`);
  const ctx = {
    backend,
    createEngine,
    ErrorCode,
    createStore: backend.createStore,
    customTable: backend.customTable,
  };
  describe(`transition store contract: ${backend.name}`, () => {
    for (const [name, run] of Object.entries(contract)) if (!backend.lacks?.includes(name)) test(name, () => run(ctx));
  });
}

/** The Node-only cases below build their engines as the contract does. */
const node = { createEngine };

// ------------------------------------------------------------ adapter specifics

describe("sqlite adapter", () => {
  test("a failed transition transaction does not roll back the host's own writes on the shared connection", async () => {
    const b = await backends[1].create();
    const { db, store } = b;
    db.exec("CREATE TABLE host_rows (id TEXT PRIMARY KEY)");
    const at = Date.now();
    await assert.rejects(
      store.runInTransaction(async (tx) => {
        await store.appendTransitions({
          tx,
          kind: KIND,
          entityId: "h",
          transitions: [row("h", "name", null, "x", at)],
        });
        // Another request writes the host's table on the same connection meanwhile.
        await new Promise((r) => setTimeout(r, 5));
        db.prepare("INSERT INTO host_rows (id) VALUES (?)").run("kept");
        throw new Error("append failed");
      }),
      /append failed/,
    );
    assert.equal(await b.count(), 0);
    assert.equal(db.prepare("SELECT COUNT(*) FROM host_rows").pluck().get(), 1);
  });

  test("the table and both indexes exist, and the queries use them", async () => {
    const b = await backends[1].create();
    await b.store.ready();
    const indexes = b.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entity_transitions' ORDER BY name")
      .pluck()
      .all();
    assert.deepEqual(indexes, ["entity_transitions_entity_time_idx", "entity_transitions_field_time_idx"]);
    const plan = b.db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM entity_transitions WHERE kind = ? AND entity_id = ? AND field = ? AND transitioned_at >= ?",
      )
      .all("k", "e", "f", 0)
      .map((r) => r.detail)
      .join(" ");
    assert.match(plan, /entity_transitions_field_time_idx/);
  });
});

describe("sqlite adapter: outbox", () => {
  test("off by default; with outbox: true its table, the partial index and the lease table exist, and the relay's read uses the index", async () => {
    const plain = await backends[1].create();
    await plain.store.ready();
    assert.equal(plain.store.outbox, false);
    assert.equal(plain.store.appendChanges, undefined);
    assert.equal(plain.db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%outbox%'").pluck().get(), 0);
    const b = await backends[1].create({ outbox: true });
    await b.store.ready();
    assert.equal(b.store.outboxTable, "entity_transitions_outbox");
    const names = b.db
      .prepare("SELECT name FROM sqlite_master WHERE name LIKE 'entity_transitions_outbox%' ORDER BY name")
      .pluck()
      .all();
    assert.deepEqual(names, [
      "entity_transitions_outbox",
      "entity_transitions_outbox_lease",
      "entity_transitions_outbox_unpublished_idx",
    ]);
    const plan = b.db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT seq, change_id, kind, entity_id, event FROM entity_transitions_outbox WHERE published_at IS NULL ORDER BY seq LIMIT 100",
      )
      .all()
      .map((r) => r.detail)
      .join(" ");
    assert.match(plan, /entity_transitions_outbox_unpublished_idx/);
    assert.doesNotMatch(plan, /TEMP B-TREE/, "no sort: the index is in seq order");
    assert.throws(() => createSqliteTransitionStore(b.db, { outbox: "yes" }), TypeError);
    assert.throws(
      () => createSqliteTransitionStore(b.db, { outbox: true, outboxTable: "entity_transitions" }),
      TypeError,
    );
  });

  test("a lease left by a relay that died expires, then another relay takes over", async () => {
    const b = await backends[1].create({ outbox: true });
    const { handle, table } = await engineWith(node, b.store);
    await handle.mutate({ id: "e1", apply: table.put("e1", sys("e1")) });
    // The relay "dies" holding a short lease: it read the change, never published it.
    await assert.rejects(
      b.store.relayOutbox({ owner: "dead", leaseMs: 150 }, () => Promise.reject(new Error("killed"))),
    );
    const other = await b.second();
    assert.equal((await other.relayOutbox({ owner: "alive" }, async (c) => c.length)).locked, true);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await other.relayOutbox({ owner: "alive" }, async (c) => c.length), {
      locked: false,
      count: 1,
      published: 1,
    });
  });
});

describe("postgres adapter", () => {
  test("outbox: off by default; with outbox: true the table and its partial index on unpublished changes exist", async () => {
    const plain = await backends[2].create();
    await plain.store.ready();
    assert.equal(plain.store.outbox, false);
    const none = await plain.pool.query("SELECT to_regclass($1) AS t", [`"${plain.store.table}_outbox"`]);
    assert.equal(none.rows[0].t, null);
    const b = await backends[2].create({ outbox: true });
    await b.store.ready();
    assert.equal(b.store.outboxTable, `${b.store.table}_outbox`);
    const { rows } = await b.pool.query(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
      [b.store.outboxTable],
    );
    assert.match(rows.map((r) => r.indexdef).join("\n"), /\(seq\) WHERE \(published_at IS NULL\)/);
    assert.throws(
      () => createPostgresTransitionStore(b.pool, { table: "t", outbox: true, outboxTable: "t" }),
      TypeError,
    );
    assert.throws(() => createPostgresTransitionStore(b.pool, { outbox: true, outboxTable: "a.b.c" }), TypeError);
  });

  test("outbox: with NUL in a kind or id the change is recorded and relayed as committed", async () => {
    const b = await backends[2].create({ outbox: true });
    const engine = await createEngine({ transitions: b.store, logger: quietLogger() });
    const t = new Table();
    const h = engine.defineEntity({ kind: "k\0x", state: systemSchema, read: t.read });
    await h.mutate({ id: "i\0d", apply: t.put("i\0d", sys("n\0")) });
    const got = [];
    await b.store.relayOutbox({ owner: "r" }, async (c) => (got.push(...c), c.length));
    assert.deepEqual([got[0].kind, got[0].id, JSON.parse(got[0].event).next.name], ["k\0x", "i\0d", "n\0"]);
    engine.close();
  });

  test("the index on (kind, entity_id, field, transitioned_at DESC, id DESC) exists", async () => {
    const b = await backends[2].create();
    await b.store.ready();
    const { rows } = await b.pool.query("SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname", [
      b.store.table,
    ]);
    const defs = rows.map((r) => r.indexdef).join("\n");
    assert.match(defs, /\(kind, entity_id, field, transitioned_at DESC, id DESC\)/);
    assert.match(defs, /\(kind, entity_id, transitioned_at DESC, id DESC\)/);
  });

  test("several Node processes share one table: created once, every row written once", async () => {
    const table = `shared_${process.pid}`;
    const writers = 3;
    const perWriter = 5;
    const outputs = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        run(process.execPath, [path.join(here, "pg-writer.mjs"), pgServer.url, table, `w${w}`, String(perWriter)], {
          timeout: 60_000,
        }),
      ),
    );
    const reports = outputs.map((o) => JSON.parse(o.stdout.trim().split("\n").at(-1)));
    const pool = newPool();
    const { rows } = await pool.query(
      `SELECT COUNT(*)::int AS n, COUNT(DISTINCT entity_id)::int AS ids FROM "${table}"`,
    );
    // Each writer creates perWriter entities (2 rows each) and renames each once (1 row).
    assert.deepEqual(rows[0], { n: writers * perWriter * 3, ids: writers * perWriter });
    // Every process reads what the others wrote.
    for (const r of reports) assert.equal(r.seenFromOthers, (writers - 1) * perWriter);
  });

  test("a pool without a reachable server: the error surfaces and the next call retries table creation", async () => {
    const dead = new pg.Pool({
      connectionString: "postgres://postgres@127.0.0.1:1/none",
      connectionTimeoutMillis: 2000,
    });
    dead.on("error", () => {});
    const store = createPostgresTransitionStore(dead, { table: "never" });
    await assert.rejects(store.history({ kind: KIND, entityId: "x" }));
    await assert.rejects(store.ready());
    await dead.end();
  });
});
