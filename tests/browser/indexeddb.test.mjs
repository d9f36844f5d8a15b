// entity-reactor/stores/indexeddb in a real headless Chromium (it needs real
// IndexedDB). The same contract as the host store of tests/js/helpers.mjs:
// rows appended in one transaction, a failing append leaving no rows,
// inStateSince, transitionCount windows with an injected clock, history
// newest first with field and limit; plus persistence and a shared database.
// The package is imported from the demo server; the test page is a blank
// document on the same origin (served by page.route, no extra file).
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, startServer, watch } from "./harness.mjs";

let server;
let browser;
let page;
const errors = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  page = watch(await context.newPage(), errors);
  const blank = `${server.url}__adapter-test`;
  await page.route(blank, (route) =>
    route.fulfill({
      status: 200,
      contentType: "text/html",
      body: '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>adapter test</title>',
    }),
  );
  await page.goto(blank);
  // Shared in-page helpers: the adapter, the engine, a fake clock, a table.
  await page.evaluate(async () => {
    const { createIndexedDbTransitionStore } = await import("/js/src/stores/indexeddb.js");
    const { createEngine, ErrorCode } = await import("/js/src/index.js");
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1 },
        description: { type: ["string", "null"] },
        metadata: { type: "object", propertyNames: { type: "string" }, additionalProperties: {} },
      },
      required: ["name", "description", "metadata"],
      additionalProperties: false,
    };
    let dbCount = 0;
    // Counts readwrite transactions opened on IndexedDB (any database).
    const counter = { readwrite: 0 };
    const original = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (stores, mode, ...rest) {
      if (mode === "readwrite") counter.readwrite++;
      return original.call(this, stores, mode, ...rest);
    };
    globalThis.t = {
      createIndexedDbTransitionStore,
      ErrorCode,
      counter,
      sys: (name, extra = {}) => ({ name, description: null, metadata: {}, ...extra }),
      freshDb: () => `adapter-test-${Date.now()}-${dbCount++}`,
      row: (entityId, field, toValue, at, fromValue = null, kind = "sys") => ({
        kind,
        entityId,
        field,
        fromValue,
        toValue,
        transitionedAt: new Date(at),
      }),
      /** An engine with kind "sys" over a Map, the adapter as its transition store, and a fake clock. */
      async setup(storeOptions = {}, wrap = (s) => s) {
        const store = createIndexedDbTransitionStore({ dbName: t.freshDb(), ...storeOptions });
        const clock = { t: Date.parse("2026-01-02T03:04:05.678Z") };
        const table = new Map();
        const events = [];
        const engine = await createEngine({
          transitions: wrap(store),
          now: () => clock.t,
          emit: (e) => events.push(e),
        });
        const handle = engine.defineEntity({
          kind: "sys",
          state: schema,
          read: async (ids) =>
            Object.fromEntries(ids.filter((id) => table.has(id)).map((id) => [id, structuredClone(table.get(id))])),
        });
        const put = (id, state) => async () => {
          table.set(id, structuredClone(state));
          return state;
        };
        return { store, engine, handle, clock, table, events, put };
      },
      plain: (rows) => rows.map((r) => ({ ...r, transitionedAt: r.transitionedAt.toISOString() })),
    };
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(() => {
  assert.deepEqual(errors, [], "no console errors, page errors or failed requests");
});

test("rows appended in runInTransaction land in one IndexedDB transaction, all at once", async () => {
  const out = await page.evaluate(async () => {
    const store = t.createIndexedDbTransitionStore({ dbName: t.freshDb() });
    await store.history({ kind: "sys", entityId: "a" }); // open (and create) the database first
    const before = t.counter.readwrite;
    let seenInside;
    const result = await store.runInTransaction(async (tx) => {
      await store.appendTransitions({
        tx,
        kind: "sys",
        entityId: "a",
        transitions: [t.row("a", "name", "A", 1000), t.row("a", "metadata", "{}", 1000)],
      });
      await store.appendTransitions({ tx, kind: "sys", entityId: "b", transitions: [t.row("b", "name", "B", 1000)] });
      seenInside = (await store.history({ kind: "sys", entityId: "a" })).length;
      return "done";
    });
    const transactions = t.counter.readwrite - before;
    const a = await store.history({ kind: "sys", entityId: "a" });
    const b = await store.history({ kind: "sys", entityId: "b" });
    // A transaction with no rows opens nothing.
    const idle = t.counter.readwrite;
    await store.runInTransaction(async () => {});
    const emptyTransactions = t.counter.readwrite - idle;
    await store.close();
    return { result, transactions, seenInside, a: t.plain(a), b: t.plain(b), emptyTransactions };
  });
  assert.equal(out.result, "done");
  assert.equal(out.transactions, 1);
  assert.equal(out.seenInside, 0, "nothing is visible before the transaction commits");
  assert.equal(out.emptyTransactions, 0);
  assert.deepEqual(out.a.map((r) => r.field).sort(), ["metadata", "name"]);
  assert.deepEqual(out.b, [
    {
      kind: "sys",
      entityId: "b",
      field: "name",
      fromValue: null,
      toValue: "B",
      transitionedAt: "1970-01-01T00:00:01.000Z",
    },
  ]);
});

test("through the engine: one transaction per mutate, rows as the engine built them", async () => {
  const out = await page.evaluate(async () => {
    const { handle, put, clock, store, events } = await t.setup();
    const before = t.counter.readwrite;
    await handle.mutate({ id: "s1", apply: put("s1", t.sys("Billing", { metadata: { tier: "gold" } })) });
    const afterCreate = t.counter.readwrite - before;
    clock.t += 1000;
    await handle.mutate({
      id: "s1",
      apply: put("s1", t.sys("Billing", { metadata: { tier: "gold" }, description: "cards" })),
    });
    const rows = await handle.history("s1");
    await store.close();
    return { afterCreate, rows: t.plain(rows), events: events.length };
  });
  assert.equal(out.afterCreate, 1);
  assert.equal(out.events, 2);
  assert.deepEqual(out.rows[0], {
    kind: "sys",
    entityId: "s1",
    field: "description",
    fromValue: "null",
    toValue: "cards",
    transitionedAt: "2026-01-02T03:04:06.678Z",
  });
  // Newest first: the description row, then the create's two rows.
  assert.equal(out.rows[0].field, "description");
  assert.deepEqual(
    out.rows
      .slice(1)
      .map((r) => r.field)
      .sort(),
    ["metadata", "name"],
  );
  assert.ok(out.rows.slice(1).every((r) => r.fromValue === null && r.transitionedAt === "2026-01-02T03:04:05.678Z"));
});

test("a failing append leaves no rows", async () => {
  const out = await page.evaluate(async () => {
    const store = t.createIndexedDbTransitionStore({ dbName: t.freshDb() });
    // 1. fn throws after appending: nothing is written.
    let thrown;
    try {
      await store.runInTransaction(async (tx) => {
        await store.appendTransitions({ tx, kind: "sys", entityId: "a", transitions: [t.row("a", "name", "A", 1000)] });
        throw new Error("disk full");
      });
    } catch (e) {
      thrown = e.message;
    }
    // 2. an append the adapter refuses (a row for another entity) fails the whole transaction.
    let refused;
    try {
      await store.runInTransaction(async (tx) => {
        await store.appendTransitions({ tx, kind: "sys", entityId: "a", transitions: [t.row("a", "name", "A", 1000)] });
        await store.appendTransitions({ tx, kind: "sys", entityId: "b", transitions: [t.row("c", "name", "C", 1000)] });
      });
    } catch (e) {
      refused = e.message;
    }
    // 3. a tx used after its transaction finished is rejected.
    let stale;
    let kept;
    await store.runInTransaction(async (tx) => (kept = tx));
    try {
      await store.appendTransitions({
        tx: kept,
        kind: "sys",
        entityId: "a",
        transitions: [t.row("a", "name", "A", 1000)],
      });
    } catch (e) {
      stale = e.message;
    }
    const a = await store.history({ kind: "sys", entityId: "a" });
    const b = await store.history({ kind: "sys", entityId: "b" });
    await store.close();
    return { thrown, refused, stale, rows: a.length + b.length };
  });
  assert.equal(out.thrown, "disk full");
  assert.match(out.refused, /another|passed for sys\/b/);
  assert.match(out.stale, /not an open transaction/);
  assert.equal(out.rows, 0);
});

test("through the engine: an append that fails after apply → ER_STORE, no rows, no event", async () => {
  const out = await page.evaluate(async () => {
    let fail = false;
    const { handle, put, store, events, table } = await t.setup({}, (s) => ({
      ...s,
      runInTransaction: (fn) => s.runInTransaction(fn),
      appendTransitions: async (args) => {
        await s.appendTransitions(args); // staged, then the failure
        if (fail) throw new Error("quota exceeded");
      },
    }));
    await handle.mutate({ id: "s1", apply: put("s1", t.sys("A")) });
    fail = true;
    let error;
    try {
      await handle.mutate({ id: "s1", apply: put("s1", t.sys("B", { metadata: { x: 1 } })) });
    } catch (e) {
      error = { code: e.code, message: e.message };
    }
    const rows = await handle.history("s1");
    const hostState = table.get("s1");
    await store.close();
    return { error, rows: t.plain(rows), events: events.length, hostState };
  });
  assert.equal(out.error.code, "ER_STORE");
  assert.match(out.error.message, /quota exceeded/);
  assert.equal(out.events, 1, "only the create's event");
  assert.deepEqual(
    out.rows.map((r) => `${r.field}=${r.toValue}`).sort(),
    ["metadata={}", "name=A"],
    "the create's rows only",
  );
  assert.ok(out.rows.every((r) => r.fromValue === null));
  assert.equal(out.hostState.name, "B", "the host's write stands (SPEC §5)");
});

test("inStateSince: the latest entry into the current value", async () => {
  const out = await page.evaluate(async () => {
    const { handle, put, clock, store } = await t.setup();
    const t0 = clock.t;
    const absent = await handle.inStateSince("s1", "name");
    await handle.mutate({ id: "s1", apply: put("s1", t.sys("A")) });
    clock.t = t0 + 1000;
    await handle.mutate({ id: "s1", apply: put("s1", t.sys("B")) });
    clock.t = t0 + 2000;
    await handle.mutate({ id: "s1", apply: put("s1", t.sys("A")) });
    clock.t = t0 + 3000;
    await handle.mutate({ id: "s1", apply: put("s1", t.sys("A", { metadata: { k: 1 } })) }); // name untouched
    clock.t = t0 + 10_000;
    const name = await handle.inStateSince("s1", "name");
    const forMs = await handle.inStateForMs("s1", "name");
    const description = await handle.inStateSince("s1", "description"); // null never logged
    const direct = {
      b: await store.inStateSince({ kind: "sys", entityId: "s1", field: "name", currentValue: "B" }),
      none: await store.inStateSince({ kind: "sys", entityId: "s1", field: "name", currentValue: "Z" }),
      otherEntity: await store.inStateSince({ kind: "sys", entityId: "s", field: "name", currentValue: "A" }),
      otherKind: await store.inStateSince({ kind: "sys2", entityId: "s1", field: "name", currentValue: "A" }),
    };
    await store.close();
    return {
      t0,
      absent,
      name: name?.getTime(),
      forMs,
      description,
      b: direct.b?.getTime(),
      isDate: direct.b instanceof Date,
      none: direct.none,
      otherEntity: direct.otherEntity,
      otherKind: direct.otherKind,
    };
  });
  assert.equal(out.absent, null);
  assert.equal(out.name, out.t0 + 2000);
  assert.equal(out.forMs, 8000);
  assert.equal(out.description, null);
  assert.equal(out.b, out.t0 + 1000);
  assert.ok(out.isDate);
  assert.equal(out.none, null);
  assert.equal(out.otherEntity, null);
  assert.equal(out.otherKind, null);
});

test("transitionCount: windows over transitionedAt with an injected clock", async () => {
  const out = await page.evaluate(async () => {
    const { handle, put, clock, store } = await t.setup();
    const t0 = clock.t;
    for (const [dt, name] of [
      [0, "A"],
      [1000, "B"],
      [5000, "C"],
    ]) {
      clock.t = t0 + dt;
      await handle.mutate({ id: "s1", apply: put("s1", t.sys(name)) });
    }
    await handle.mutate({ id: "s2", apply: put("s2", t.sys("other")) });
    const count = (windowMs) => handle.transitionCount({ id: "s1", field: "name", windowMs });
    const at5 = [await count(0), await count(3999), await count(4000), await count(5000), await count(60_000)];
    clock.t = t0 + 7000;
    const at7 = [await count(1000), await count(2000), await count(6000), await count(7000)];
    const metadata = await handle.transitionCount({ id: "s1", field: "metadata", windowMs: 60_000 });
    const missing = await handle.transitionCount({ id: "nope", field: "name", windowMs: 60_000 });
    const direct = await store.transitionCount({
      kind: "sys",
      entityId: "s1",
      field: "name",
      windowMs: 1000,
      now: new Date(t0 + 1500),
    });
    await store.close();
    return { at5, at7, metadata, missing, direct };
  });
  // At t0+5000: rows at +5000 (window 0 includes now), +1000 (≥ now−4000), +0.
  assert.deepEqual(out.at5, [1, 1, 2, 3, 3]);
  assert.deepEqual(out.at7, [0, 1, 2, 3]);
  assert.equal(out.metadata, 1, "the create's metadata row");
  assert.equal(out.missing, 0);
  // now = t0+1500, window 1000: rows at +1000 and +5000 (no upper bound, as in the host store of tests/js).
  assert.equal(out.direct, 2);
});

test("history: newest first, by field, with a limit; other entities never leak in", async () => {
  const out = await page.evaluate(async () => {
    const { handle, put, clock, store } = await t.setup();
    await handle.mutate({ id: "a", apply: put("a", t.sys("A1")) });
    await handle.mutate({ id: "ab", apply: put("ab", t.sys("AB1")) }); // id with "a" as prefix
    for (let i = 2; i <= 4; i++) {
      clock.t += 1000;
      await handle.mutate({ id: "a", apply: put("a", t.sys(`A${i}`, { metadata: { i } })) });
    }
    const all = await handle.history("a");
    const name = await handle.history("a", { field: "name" });
    const limited = await handle.history("a", { limit: 2 });
    const nameLimited = await handle.history("a", { field: "name", limit: 2 });
    const zero = await handle.history("a", { limit: 0 });
    const ab = await handle.history("ab");
    const none = await handle.history("zzz");
    const unknownField = await handle.history("a", { field: "nope" });
    await store.close();
    const pick = (rows) => rows.map((r) => `${r.entityId}:${r.field}=${r.toValue}`);
    return {
      all: pick(all),
      name: pick(name),
      limited: pick(limited),
      nameLimited: pick(nameLimited),
      zero: zero.length,
      ab: pick(ab),
      none: none.length,
      unknownField: unknownField.length,
      dates: all.every((r) => r.transitionedAt instanceof Date),
      ordered: all.every((r, i) => i === 0 || all[i - 1].transitionedAt >= r.transitionedAt),
    };
  });
  // Newest first; rows of one write come back in reverse append order, like the embedded store.
  assert.deepEqual(out.all, [
    "a:name=A4",
    'a:metadata={"i":4}',
    "a:name=A3",
    'a:metadata={"i":3}',
    "a:name=A2",
    'a:metadata={"i":2}',
    "a:name=A1",
    "a:metadata={}",
  ]);
  assert.deepEqual(out.name, ["a:name=A4", "a:name=A3", "a:name=A2", "a:name=A1"]);
  assert.deepEqual(out.limited, ["a:name=A4", 'a:metadata={"i":4}']);
  assert.deepEqual(out.nameLimited, ["a:name=A4", "a:name=A3"]);
  assert.equal(out.zero, 8, "limit 0 means all");
  assert.deepEqual(out.ab, ["ab:name=AB1", "ab:metadata={}"]);
  assert.equal(out.none, 0);
  assert.equal(out.unknownField, 0);
  assert.ok(out.dates);
  assert.ok(out.ordered);
});

test("the log persists across store instances and shares a database the app already has", async () => {
  const out = await page.evaluate(async () => {
    const dbName = t.freshDb();
    // The app's own database, version 1, with its own store and a record.
    const appDb = await new Promise((resolve, reject) => {
      const r = indexedDB.open(dbName, 1);
      r.onupgradeneeded = () => r.result.createObjectStore("things", { keyPath: "id" }).put({ id: 1, v: "kept" });
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    appDb.onversionchange = () => appDb.close(); // as an app sharing the database should
    const first = t.createIndexedDbTransitionStore({ dbName, storeName: "log" });
    await first.runInTransaction(async (tx) => {
      await first.appendTransitions({ tx, kind: "sys", entityId: "a", transitions: [t.row("a", "name", "A", 5000)] });
    });
    await first.close();
    let closedError;
    try {
      await first.history({ kind: "sys", entityId: "a" });
    } catch (e) {
      closedError = e.message;
    }
    const second = t.createIndexedDbTransitionStore({ dbName, storeName: "log" });
    const rows = await second.history({ kind: "sys", entityId: "a" });
    const since = await second.inStateSince({ kind: "sys", entityId: "a", field: "name", currentValue: "A" });
    await second.close();
    const check = await new Promise((resolve, reject) => {
      const r = indexedDB.open(dbName);
      r.onsuccess = () => {
        const db = r.result;
        const stores = [...db.objectStoreNames].sort();
        const get = db.transaction("things").objectStore("things").get(1);
        get.onsuccess = () => {
          db.close();
          resolve({ stores, thing: get.result, version: db.version });
        };
      };
      r.onerror = () => reject(r.error);
    });
    return { rows: t.plain(rows), since: since?.getTime(), closedError, ...check };
  });
  assert.deepEqual(out.rows, [
    {
      kind: "sys",
      entityId: "a",
      field: "name",
      fromValue: null,
      toValue: "A",
      transitionedAt: "1970-01-01T00:00:05.000Z",
    },
  ]);
  assert.equal(out.since, 5000);
  assert.match(out.closedError, /closed/);
  assert.deepEqual(out.stores, ["log", "things"]);
  assert.deepEqual(out.thing, { id: 1, v: "kept" });
  assert.equal(out.version, 2);
});

test("two stores on one database (two tabs) read each other's rows; each row is written once", async () => {
  const out = await page.evaluate(async () => {
    const dbName = t.freshDb();
    const one = t.createIndexedDbTransitionStore({ dbName });
    const two = t.createIndexedDbTransitionStore({ dbName });
    await one.runInTransaction(async (tx) =>
      one.appendTransitions({ tx, kind: "sys", entityId: "a", transitions: [t.row("a", "name", "A", 1000)] }),
    );
    await two.runInTransaction(async (tx) =>
      two.appendTransitions({ tx, kind: "sys", entityId: "a", transitions: [t.row("a", "name", "B", 2000, "A")] }),
    );
    const fromOne = await one.history({ kind: "sys", entityId: "a" });
    const fromTwo = await two.history({ kind: "sys", entityId: "a" });
    await one.close();
    await two.close();
    return { one: fromOne.map((r) => r.toValue), two: fromTwo.map((r) => r.toValue) };
  });
  assert.deepEqual(out.one, ["B", "A"]);
  assert.deepEqual(out.two, ["B", "A"]);
});

test("bad options are refused clearly", async () => {
  const out = await page.evaluate(() => {
    const tryIt = (opts) => {
      try {
        t.createIndexedDbTransitionStore(opts);
        return "ok";
      } catch (e) {
        return e.message;
      }
    };
    return { emptyName: tryIt({ dbName: "" }), noFactory: tryIt({ indexedDB: {} }), defaults: tryIt(undefined) };
  });
  assert.match(out.emptyName, /dbName must be a non-empty string/);
  assert.match(out.noFactory, /no IndexedDB/);
  assert.equal(out.defaults, "ok");
});
