// One adapter contract suite, three stores: the in-memory reference store,
// entity-reactor/stores/sqlite (better-sqlite3 on a temp file) and
// entity-reactor/stores/postgres (pg on a private PostgreSQL started here).
// The suite drives each store through the engine's public API
// (createEngine({ transitions: store, now }) + handle.history / inStateSince /
// transitionCount), and calls the store directly for the failing-append cases.
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
import { FakeClock, Table, quietLogger, sys, systemSchema } from "../js/helpers.mjs";
import { createMemoryTransitionStore } from "./memory-store.mjs";
import { startPostgres } from "./pg-server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const KIND = "sys";

// ------------------------------------------------------------ backends

let pgServer = null;
const pools = new Set();
const tmpDirs = [];
let tableSeq = 0;

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
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Each backend: create() → a fresh, empty log:
 *   { store, count(): rows in the backend, toValues(): every to_value,
 *     reopen(): another store over the same data, host?: the raw connection }
 */
const backends = [
  {
    name: "memory (reference)",
    async create() {
      const store = createMemoryTransitionStore();
      return {
        store,
        count: async () => store.rows.length,
        toValues: async () => store.rows.map((r) => r.toValue),
        reopen: async () => store,
      };
    },
  },
  {
    name: "sqlite (better-sqlite3, temp file)",
    sql: "sqlite",
    async create({ table } = {}) {
      const dir = mkdtempSync(path.join(os.tmpdir(), "er-sqlite-"));
      tmpDirs.push(dir);
      const file = path.join(dir, "transitions.db");
      const db = new Database(file);
      db.pragma("journal_mode = WAL");
      const store = createSqliteTransitionStore(db, table ? { table } : {});
      const name = table ?? "entity_transitions";
      return {
        store,
        db,
        count: async () => db.prepare(`SELECT COUNT(*) FROM "${name}"`).pluck().get(),
        toValues: async () => db.prepare(`SELECT to_value FROM "${name}"`).pluck().all(),
        reopen: async () => {
          db.close();
          return createSqliteTransitionStore(new Database(file), table ? { table } : {});
        },
      };
    },
  },
  {
    name: "postgres (pg, private server)",
    sql: "postgres",
    async create({ table } = {}) {
      const name = table ?? `et_${process.pid}_${++tableSeq}`;
      const pool = newPool();
      const store = createPostgresTransitionStore(pool, { table: name });
      const quoted = name
        .split(".")
        .map((p) => `"${p}"`)
        .join(".");
      return {
        store,
        pool,
        count: async () => Number((await pool.query(`SELECT COUNT(*) AS n FROM ${quoted}`)).rows[0].n),
        toValues: async () => (await pool.query(`SELECT to_value FROM ${quoted}`)).rows.map((r) => r.to_value),
        reopen: async () => createPostgresTransitionStore(newPool(), { table: name }),
      };
    },
  },
];

/** An engine over a Table with a fake clock and the given store (null: the embedded store). */
async function engineWith(store, clock = new FakeClock()) {
  const table = new Table();
  const events = [];
  const logger = quietLogger();
  const engine = await createEngine({ transitions: store, now: clock.now, logger, emit: (e) => events.push(e) });
  const handle = engine.defineEntity({ kind: KIND, state: systemSchema, read: table.read });
  return { engine, handle, table, clock, events, logger };
}

/** A state whose description is set, so a create records all three fields. */
const sysd = (name) => sys(name, { description: "stable" });

const row = (entityId, field, fromValue, toValue, at) => ({
  kind: KIND,
  entityId,
  field,
  fromValue,
  toValue,
  transitionedAt: new Date(at),
});

/** Wraps a store so the n-th appendTransitions call fails after the store accepted its rows. */
function failingOnAppend(store, n) {
  let calls = 0;
  const wrapper = Object.create(store);
  wrapper.calls = () => calls;
  wrapper.appendTransitions = async (args) => {
    calls++;
    await store.appendTransitions(args);
    if (calls === n) throw new Error(`injected failure on append ${n}`);
  };
  return wrapper;
}

/** A scripted sequence of writes, each at a known time. */
async function script({ handle, table, clock }) {
  await handle.mutate({ id: "a", apply: table.put("a", sys("alpha")) });
  clock.advance(1000);
  await handle.mutate({ id: "a", apply: table.put("a", sys("alpha-2")) });
  clock.advance(1000);
  await handle.mutate({ id: "a", apply: table.put("a", sys("alpha-2", { description: "first", metadata: { tier: 1 } })) });
  // Two changes in the same millisecond: append order breaks the tie.
  await handle.mutate({ id: "a", apply: table.put("a", sys("alpha-3", { description: "first", metadata: { tier: 1 } })) });
  await handle.mutate({ id: "a", apply: table.put("a", sys("alpha", { description: "first", metadata: { tier: 2 } })) });
  await handle.mutate({ id: "b", apply: table.put("b", sys("beta")) });
  clock.advance(500);
}

// ------------------------------------------------------------ the suite

for (const backend of backends) {
  describe(`transition store contract: ${backend.name}`, () => {
    test("a create appends one row per field (fromValue null) in a table made on first use", async () => {
      const b = await backend.create();
      const { handle, table, clock, events } = await engineWith(b.store);
      await handle.mutate({ id: "s1", apply: table.put("s1", sys("one", { description: "first", metadata: { env: "prod" } })) });
      const rows = await handle.history("s1");
      assert.equal(rows.length, 3);
      for (const r of rows) {
        assert.ok(r.transitionedAt instanceof Date, "transitionedAt is a Date");
        assert.equal(r.transitionedAt.getTime(), clock.t);
        assert.equal(r.fromValue, null);
        assert.equal(r.kind, KIND);
        assert.equal(r.entityId, "s1");
      }
      const byField = Object.fromEntries(rows.map((r) => [r.field, r.toValue]));
      assert.deepEqual(byField, { name: "one", description: "first", metadata: '{"env":"prod"}' });
      assert.equal(await b.count(), 3);
      assert.equal(events.length, 1);
      // A top-level null on create is no change (SPEC §3): no row for it.
      await handle.mutate({ id: "s2", apply: table.put("s2", sys("two")) });
      assert.deepEqual((await handle.history("s2")).map((r) => r.field).sort(), ["metadata", "name"]);
    });

    test("history is newest first with field and limit, row for row the embedded store's", async () => {
      const b = await backend.create();
      const subject = await engineWith(b.store);
      const reference = await engineWith(null);
      await script(subject);
      await script(reference);
      for (const [id, options] of [
        ["a", undefined],
        ["a", { field: "name" }],
        ["a", { field: "metadata", limit: 1 }],
        ["a", { limit: 3 }],
        ["b", {}],
        ["missing", {}],
      ]) {
        const got = await subject.handle.history(id, options);
        const want = await reference.handle.history(id, options);
        assert.deepEqual(got, want, `history(${id}, ${JSON.stringify(options)})`);
      }
      const names = (await subject.handle.history("a", { field: "name" })).map((r) => [r.fromValue, r.toValue]);
      assert.deepEqual(names, [
        ["alpha-3", "alpha"],
        ["alpha-2", "alpha-3"],
        ["alpha", "alpha-2"],
        [null, "alpha"],
      ]);
      reference.engine.close();
    });

    test("inStateSince / inStateForMs follow the current value under an injected clock", async () => {
      const b = await backend.create();
      const { handle, table, clock } = await engineWith(b.store);
      const t0 = clock.t;
      await handle.mutate({ id: "s", apply: table.put("s", sysd("up")) });
      clock.advance(1000);
      await handle.mutate({ id: "s", apply: table.put("s", sysd("down")) });
      assert.equal((await handle.inStateSince("s", "name")).getTime(), t0 + 1000);
      clock.advance(1000);
      await handle.mutate({ id: "s", apply: table.put("s", sysd("up")) });
      // Back to "up": the latest entry into it counts, not the first.
      assert.equal((await handle.inStateSince("s", "name")).getTime(), t0 + 2000);
      assert.equal((await handle.inStateSince("s", "description")).getTime(), t0, "description unchanged since the create");
      clock.advance(750);
      assert.equal(await handle.inStateForMs("s", "name"), 750);
      assert.equal(await handle.inStateForMs("s", "description"), 2750);
      // Absent entity, and a value that never went through the engine.
      assert.equal(await handle.inStateSince("nobody", "name"), null);
      assert.equal(await handle.inStateForMs("nobody", "name"), 0);
      table.rows.set("s", sys("sideways"));
      assert.equal(await handle.inStateSince("s", "name"), null);
    });

    test("transitionCount counts rows with transitionedAt >= now − windowMs (boundary included)", async () => {
      const b = await backend.create();
      const { handle, table, clock } = await engineWith(b.store);
      const t0 = clock.t;
      await handle.mutate({ id: "s", apply: table.put("s", sysd("v0")) }); // t0
      clock.advance(1000);
      await handle.mutate({ id: "s", apply: table.put("s", sysd("v1")) }); // t0+1000
      clock.advance(4000);
      await handle.mutate({ id: "s", apply: table.put("s", sysd("v2")) }); // t0+5000
      clock.advance(1000); // now = t0+6000
      assert.equal(clock.t, t0 + 6000);
      const count = (windowMs, field = "name", id = "s") => handle.transitionCount({ id, field, windowMs });
      assert.equal(await count(0), 0);
      assert.equal(await count(999), 0);
      assert.equal(await count(1000), 1, "a row exactly windowMs old is counted");
      assert.equal(await count(4999), 1);
      assert.equal(await count(5000), 2);
      assert.equal(await count(6000), 3);
      assert.equal(await count(1e12), 3);
      assert.equal(await count(Number.MAX_VALUE), 3);
      assert.equal(await count(Infinity), 3, "an unbounded window counts every row");
      assert.equal(await count(1e12, "description"), 1);
      assert.equal(await count(1e12, "name", "other"), 0);
      clock.advance(10_000);
      assert.equal(await count(6000), 0, "the window moves with the clock");
    });

    test("a tombstone appends no rows; the history outlives the entity", async () => {
      const b = await backend.create();
      const { handle, table, events } = await engineWith(b.store);
      await handle.mutate({ id: "s", apply: table.put("s", sysd("x")) });
      await handle.remove({ id: "s", apply: table.del("s") });
      assert.equal(events.length, 2);
      assert.equal(events[1].next, null);
      assert.equal(await b.count(), 3);
      assert.equal((await handle.history("s")).length, 3);
      assert.equal(await handle.inStateSince("s", "name"), null, "absent entity");
    });

    test("batch ingest: several appends inside one transaction", async () => {
      const b = await backend.create();
      let transactions = 0;
      let appends = 0;
      const counting = Object.create(b.store);
      counting.runInTransaction = (fn) => {
        transactions++;
        return b.store.runInTransaction(fn);
      };
      counting.appendTransitions = (args) => {
        appends++;
        return b.store.appendTransitions(args);
      };
      const { engine } = await engineWith(counting);
      const changes = await engine.ingest(KIND, [
        { id: "i1", next: sys("one") },
        { id: "i2", next: sys("two") },
        { id: "i3", next: sys("three") },
      ]);
      assert.equal(changes.length, 3);
      assert.equal(transactions, 1);
      assert.equal(appends, 3);
      assert.equal(await b.count(), 6, "name and metadata of each (description null is no change)");
    });

    test("an append that fails mid-transaction leaves no partial rows, and the engine goes on", async () => {
      const b = await backend.create();
      const failing = failingOnAppend(b.store, 2);
      const { engine, handle, table, events } = await engineWith(failing);
      const entries = [
        { id: "f1", next: sys("one") },
        { id: "f2", next: sys("two") },
        { id: "f3", next: sys("three") },
      ];
      await assert.rejects(
        engine.ingest(KIND, entries, { apply: async () => entries.forEach((e) => table.rows.set(e.id, e.next)) }),
        (e) => e.code === ErrorCode.ER_STORE && /injected failure on append 2/.test(e.message),
      );
      assert.equal(failing.calls(), 2, "the first append was accepted before the failure");
      assert.equal(await b.count(), 0, "no partial rows");
      for (const e of entries) assert.deepEqual(await handle.history(e.id), []);
      assert.equal(events.length, 0, "no event for a change without history");
      assert.equal(table.rows.size, 3, "the host's write stands");
      // The next write goes through and is recorded.
      await handle.mutate({ id: "f1", apply: table.put("f1", sys("one-b")) });
      assert.deepEqual(
        (await handle.history("f1")).map((r) => [r.field, r.fromValue, r.toValue]),
        [["name", "one", "one-b"]],
      );
    });

    test("direct: runInTransaction commits fn's rows once, and keeps none when fn or an insert fails", async () => {
      const b = await backend.create();
      const { store } = b;
      const at = Date.parse("2026-03-01T00:00:00.000Z");
      const good = [row("d1", "name", null, "n1", at), row("d1", "description", null, "null", at)];
      // fn throws after a successful append.
      await assert.rejects(
        store.runInTransaction(async (tx) => {
          await store.appendTransitions({ tx, kind: KIND, entityId: "d1", transitions: good });
          throw new Error("boom");
        }),
        /boom/,
      );
      assert.equal(await b.count(), 0);
      // The second append of the transaction breaks a NOT NULL constraint.
      await assert.rejects(
        store.runInTransaction(async (tx) => {
          await store.appendTransitions({ tx, kind: KIND, entityId: "d1", transitions: good });
          await store.appendTransitions({ tx, kind: KIND, entityId: "d2", transitions: [row("d2", "name", null, null, at)] });
        }),
      );
      assert.equal(await b.count(), 0, "no partial rows after a failing insert");
      assert.deepEqual(await store.history({ kind: KIND, entityId: "d1" }), []);
      // A good transaction: both rows, fn's result returned.
      const result = await store.runInTransaction(async (tx) => {
        await store.appendTransitions({ tx, kind: KIND, entityId: "d1", transitions: good });
        return "done";
      });
      assert.equal(result, "done");
      assert.equal(await b.count(), 2);
      const since = await store.inStateSince({ kind: KIND, entityId: "d1", field: "name", currentValue: "n1" });
      assert.equal(new Date(since).getTime(), at);
      assert.equal(await store.transitionCount({ kind: KIND, entityId: "d1", field: "name", windowMs: 0, now: new Date(at) }), 1);
    });

    test("concurrent writes of different ids each land in their own transaction", async () => {
      const b = await backend.create();
      const { handle, table } = await engineWith(b.store);
      const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
      await Promise.all(ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(id)) })));
      await Promise.all(ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(`${id}-2`)) })));
      assert.equal(await b.count(), ids.length * 3);
      for (const id of ids) assert.equal((await handle.history(id, { field: "name" }))[0].toValue, `${id}-2`);
    });

    test("run secrets are masked in the rows the store keeps", async () => {
      const b = await backend.create();
      const { engine, handle, table } = await engineWith(b.store);
      engine.secrets.register("run-1", ["hunter2-token"]);
      const next = sys("svc", { metadata: { url: "https://x.invalid/?key=hunter2-token" } });
      const returned = await handle.mutate({ id: "m", opts: { runId: "run-1" }, apply: table.put("m", next) });
      assert.equal(returned.metadata.url, "https://x.invalid/?key=hunter2-token", "the host keeps the real value");
      const values = await b.toValues();
      assert.ok(values.length > 0);
      assert.ok(values.every((v) => !v.includes("hunter2-token")), `no secret in ${values.join(" | ")}`);
      const [meta] = await handle.history("m", { field: "metadata" });
      assert.equal(meta.toValue, '{"url":"https://x.invalid/?key=****"}');
    });

    test("another store over the same database reads the same log", async () => {
      const b = await backend.create();
      const first = await engineWith(b.store);
      await script(first);
      const want = await first.handle.history("a");
      const reopened = await b.reopen();
      const second = await engineWith(reopened, first.clock);
      second.table.rows = first.table.rows;
      assert.deepEqual(await second.handle.history("a"), want);
      assert.equal((await second.handle.inStateSince("a", "name")).getTime(), want.find((r) => r.field === "name").transitionedAt.getTime());
    });

    if (backend.sql)
      test("option table: the log goes to the named table", async () => {
        const table = backend.sql === "postgres" ? `audit_${process.pid}.custom_log` : "custom_log";
        if (backend.sql === "postgres") {
          const pool = newPool();
          await pool.query(`CREATE SCHEMA IF NOT EXISTS audit_${process.pid}`);
        }
        const b = await backend.create({ table });
        const { handle, table: host } = await engineWith(b.store);
        await handle.mutate({ id: "t", apply: host.put("t", sysd("tee")) });
        assert.equal(await b.count(), 3);
        assert.equal(b.store.table, table);
        assert.throws(
          () => (backend.sql === "postgres" ? createPostgresTransitionStore(b.pool, { table: 'x"; DROP TABLE y; --' }) : createSqliteTransitionStore(b.db, { table: "a b" })),
          TypeError,
        );
      });
  });
}

// ------------------------------------------------------------ adapter specifics

describe("sqlite adapter", () => {
  test("a failed transition transaction does not roll back the host's own writes on the shared connection", async () => {
    const b = await backends[1].create();
    const { db, store } = b;
    db.exec("CREATE TABLE host_rows (id TEXT PRIMARY KEY)");
    const at = Date.now();
    await assert.rejects(
      store.runInTransaction(async (tx) => {
        await store.appendTransitions({ tx, kind: KIND, entityId: "h", transitions: [row("h", "name", null, "x", at)] });
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
    const indexes = b.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entity_transitions' ORDER BY name").pluck().all();
    assert.deepEqual(indexes, ["entity_transitions_entity_time_idx", "entity_transitions_field_time_idx"]);
    const plan = b.db
      .prepare("EXPLAIN QUERY PLAN SELECT COUNT(*) FROM entity_transitions WHERE kind = ? AND entity_id = ? AND field = ? AND transitioned_at >= ?")
      .all("k", "e", "f", 0)
      .map((r) => r.detail)
      .join(" ");
    assert.match(plan, /entity_transitions_field_time_idx/);
  });
});

describe("postgres adapter", () => {
  test("the index on (kind, entity_id, field, transitioned_at DESC, id DESC) exists", async () => {
    const b = await backends[2].create();
    await b.store.ready();
    const { rows } = await b.pool.query("SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname", [b.store.table]);
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
    const { rows } = await pool.query(`SELECT COUNT(*)::int AS n, COUNT(DISTINCT entity_id)::int AS ids FROM "${table}"`);
    // Each writer creates perWriter entities (2 rows each) and renames each once (1 row).
    assert.deepEqual(rows[0], { n: writers * perWriter * 3, ids: writers * perWriter });
    // Every process reads what the others wrote.
    for (const r of reports) assert.equal(r.seenFromOthers, (writers - 1) * perWriter);
  });

  test("a pool without a reachable server: the error surfaces and the next call retries table creation", async () => {
    const dead = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:1/none", connectionTimeoutMillis: 2000 });
    dead.on("error", () => {});
    const store = createPostgresTransitionStore(dead, { table: "never" });
    await assert.rejects(store.history({ kind: KIND, entityId: "x" }));
    await assert.rejects(store.ready());
    await dead.end();
  });
});
