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
    async create({ table, outbox = false } = {}) {
      const name = table ?? `et_${process.pid}_${++tableSeq}`;
      const pool = newPool();
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
  await handle.mutate({
    id: "a",
    apply: table.put("a", sys("alpha-2", { description: "first", metadata: { tier: 1 } })),
  });
  // Two changes in the same millisecond: append order breaks the tie.
  await handle.mutate({
    id: "a",
    apply: table.put("a", sys("alpha-3", { description: "first", metadata: { tier: 1 } })),
  });
  await handle.mutate({
    id: "a",
    apply: table.put("a", sys("alpha", { description: "first", metadata: { tier: 2 } })),
  });
  await handle.mutate({ id: "b", apply: table.put("b", sys("beta")) });
  clock.advance(500);
}

// ------------------------------------------------------------ the suite

for (const backend of backends) {
  describe(`transition store contract: ${backend.name}`, () => {
    test("a create appends one row per field (fromValue null) in a table made on first use", async () => {
      const b = await backend.create();
      const { handle, table, clock, events } = await engineWith(b.store);
      await handle.mutate({
        id: "s1",
        apply: table.put("s1", sys("one", { description: "first", metadata: { env: "prod" } })),
      });
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
      assert.equal(
        (await handle.inStateSince("s", "description")).getTime(),
        t0,
        "description unchanged since the create",
      );
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
          await store.appendTransitions({
            tx,
            kind: KIND,
            entityId: "d2",
            transitions: [row("d2", "name", null, null, at)],
          });
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
      assert.equal(
        await store.transitionCount({ kind: KIND, entityId: "d1", field: "name", windowMs: 0, now: new Date(at) }),
        1,
      );
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
      assert.ok(
        values.every((v) => !v.includes("hunter2-token")),
        `no secret in ${values.join(" | ")}`,
      );
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
      assert.equal(
        (await second.handle.inStateSince("a", "name")).getTime(),
        want.find((r) => r.field === "name").transitionedAt.getTime(),
      );
    });

    test("key encodings are unambiguous: a NUL in a kind or id never merges two logs, and NUL values round-trip", async () => {
      const b = await backend.create();
      const clock = new FakeClock();
      const engine = await createEngine({ transitions: b.store, now: clock.now, logger: quietLogger() });
      const t1 = new Table();
      const t2 = new Table();
      const a = engine.defineEntity({ kind: "a", state: systemSchema, read: t1.read });
      const ab = engine.defineEntity({ kind: "a\0b", state: systemSchema, read: t2.read });
      // Joined with a NUL separator, both keys would be "a\0b\0c".
      await a.mutate({ id: "b\0c", apply: t1.put("b\0c", sys("one")) });
      clock.advance(1000);
      await ab.mutate({ id: "c", apply: t2.put("c", sys("two\0nul")) });
      // Strings shaped like an escaped one (PostgreSQL's encoding: U+FDD0, "\\", "\0") stay themselves.
      const tricky = ["\uFDD0", "\uFDD0b\\0c", "\uFDD0b\0c", "b\\0c", "\\", "\0"];
      for (const id of tricky) await a.mutate({ id, apply: t1.put(id, sys(`name ${id}`, { description: id })) });

      const one = await a.history("b\0c");
      assert.deepEqual(one.map((r) => [r.kind, r.entityId, r.field, r.toValue]).sort(), [
        ["a", "b\0c", "metadata", "{}"],
        ["a", "b\0c", "name", "one"],
      ]);
      const two = await ab.history("c");
      assert.deepEqual(two.map((r) => [r.kind, r.entityId, r.field, r.toValue]).sort(), [
        ["a\0b", "c", "metadata", "{}"],
        ["a\0b", "c", "name", "two\0nul"],
      ]);
      assert.equal((await a.inStateSince("b\0c", "name")).getTime(), clock.t - 1000);
      assert.equal((await ab.inStateSince("c", "name")).getTime(), clock.t);
      assert.equal(await a.transitionCount({ id: "b\0c", field: "name", windowMs: 1e9 }), 1);
      assert.equal(await ab.transitionCount({ id: "c", field: "name", windowMs: 1e9 }), 1);
      // Directly: the halves of one log do not answer for the other.
      assert.deepEqual(await b.store.history({ kind: "a", entityId: "b" }), []);
      assert.deepEqual(await b.store.history({ kind: "a\0b", entityId: "b\0c" }), []);
      assert.deepEqual(await b.store.history({ kind: "a", entityId: "c" }), []);
      for (const id of tricky) {
        const rows = await a.history(id, { field: "description" });
        assert.deepEqual(
          rows.map((r) => [r.entityId, r.toValue]),
          [[id, id]],
          `id ${JSON.stringify(id)}`,
        );
        assert.notEqual(await a.inStateSince(id, "description"), null);
      }
      assert.equal(await b.count(), 4 + tricky.length * 3);
      engine.close();
    });

    test("outbox: each change is recorded in its rows' transaction (tombstones too) and relayed in commit order", async () => {
      const b = await backend.create({ outbox: true });
      const { store } = b;
      assert.equal(store.outbox, true);
      let woke = 0;
      const unwatch = store.watchOutbox(() => woke++);
      const { engine, handle, table, events } = await engineWith(store);
      await handle.mutate({ id: "o1", apply: table.put("o1", sys("one")) });
      await handle.mutate({ id: "o1", apply: table.put("o1", sys("one-b")) });
      await handle.remove({ id: "o1", apply: table.del("o1") });
      await engine.ingest(KIND, [
        { id: "o2", next: sys("two") },
        { id: "o3", next: sys("three") },
      ]);
      assert.equal(events.length, 5);
      assert.deepEqual(
        await b.outboxRows(),
        events.map((e) => ({ changeId: e.changeId, published: false })),
      );
      assert.ok(woke >= 4, `watchOutbox listeners are told after each commit (${woke})`);
      assert.equal(await store.outboxBacklog(), 5);
      const batches = [];
      const relay = (limit) =>
        store.relayOutbox({ owner: "relay-1", limit }, async (changes) => (batches.push(changes), changes.length));
      assert.deepEqual(await relay(3), { locked: false, count: 3, published: 3 });
      assert.deepEqual(await relay(3), { locked: false, count: 2, published: 2 });
      assert.deepEqual(await relay(3), { locked: false, count: 0, published: 0 });
      const relayed = batches.flat();
      assert.deepEqual(
        relayed.map((c) => c.changeId),
        events.map((e) => e.changeId),
      );
      for (const [i, c] of relayed.entries()) {
        assert.equal(c.kind, KIND);
        assert.equal(c.id, events[i].id);
        assert.deepEqual(
          JSON.parse(c.event),
          JSON.parse(JSON.stringify(events[i])),
          "the event as JSON, tombstone included",
        );
      }
      assert.equal(JSON.parse(relayed[2].event).next, null);
      assert.equal(await store.outboxBacklog(), 0);
      assert.ok((await b.outboxRows()).every((r) => r.published));
      unwatch();
      engine.close();
    });

    test("outbox: a failed transaction records neither rows nor changes; only a publish's confirmed prefix is marked", async () => {
      const b = await backend.create({ outbox: true });
      const failing = failingOnAppend(b.store, 1);
      const first = await engineWith(failing);
      await assert.rejects(
        first.handle.mutate({ id: "x", apply: first.table.put("x", sys("x")) }),
        (e) => e.code === ErrorCode.ER_STORE,
      );
      assert.equal(await b.count(), 0);
      assert.deepEqual(await b.outboxRows(), [], "no change without its rows");
      const { handle, table, events } = await engineWith(b.store);
      for (const id of ["p1", "p2", "p3"]) await handle.mutate({ id, apply: table.put(id, sys(id)) });
      // Only the first of three reached the bus.
      assert.deepEqual(await b.store.relayOutbox({ owner: "r" }, async () => 1), {
        locked: false,
        count: 3,
        published: 1,
      });
      assert.deepEqual(
        (await b.outboxRows()).map((r) => r.published),
        [true, false, false],
      );
      // A publish that throws marks nothing.
      await assert.rejects(
        b.store.relayOutbox({ owner: "r" }, async () => Promise.reject(new Error("redis down"))),
        /redis down/,
      );
      assert.deepEqual(
        (await b.outboxRows()).map((r) => r.published),
        [true, false, false],
      );
      const rest = [];
      await b.store.relayOutbox(
        { owner: "r" },
        async (changes) => (rest.push(...changes.map((c) => c.changeId)), changes.length),
      );
      assert.deepEqual(
        rest,
        events.slice(1).map((e) => e.changeId),
        "the next relay starts at the first unconfirmed change",
      );
      await assert.rejects(
        b.store.relayOutbox({ owner: "" }, async () => 0),
        TypeError,
      );
    });

    test("outbox: one relay at a time over a shared database; releaseOutbox and pruneOutbox", async () => {
      const b = await backend.create({ outbox: true });
      const { handle, table } = await engineWith(b.store);
      await handle.mutate({ id: "l1", apply: table.put("l1", sys("l1")) });
      await handle.mutate({ id: "l2", apply: table.put("l2", sys("l2")) });
      const other = await b.second();
      let release = null;
      const holding = b.store.relayOutbox(
        { owner: "r1" },
        (changes) => new Promise((r) => (release = () => r(changes.length))),
      );
      for (let i = 0; release === null && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(release, "the first relay is publishing");
      assert.deepEqual(
        await other.relayOutbox({ owner: "r2" }, () => assert.fail("a second relay must not publish now")),
        { locked: true, count: 0, published: 0 },
      );
      release();
      assert.deepEqual(await holding, { locked: false, count: 2, published: 2 });
      await b.store.releaseOutbox({ owner: "r1" });
      await handle.mutate({ id: "l3", apply: table.put("l3", sys("l3")) });
      const got = [];
      assert.deepEqual(await other.relayOutbox({ owner: "r2" }, async (c) => (got.push(...c), c.length)), {
        locked: false,
        count: 1,
        published: 1,
      });
      assert.equal(got[0].id, "l3");
      await handle.mutate({ id: "l4", apply: table.put("l4", sys("l4")) }); // left unpublished
      assert.equal(
        await b.store.pruneOutbox({ before: new Date(Date.now() - 3_600_000) }),
        0,
        "nothing published that long ago",
      );
      assert.equal(await b.store.pruneOutbox({ before: new Date(Date.now() + 1000) }), 3);
      assert.deepEqual(
        (await b.outboxRows()).map((r) => r.published),
        [false],
        "the unpublished change is kept",
      );
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
          () =>
            backend.sql === "postgres"
              ? createPostgresTransitionStore(b.pool, { table: 'x"; DROP TABLE y; --' })
              : createSqliteTransitionStore(b.db, { table: "a b" }),
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
    const { handle, table } = await engineWith(b.store);
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
