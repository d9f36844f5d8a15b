// The transition store contract: the one definition of each case, run by
// tests/node/transition-stores.test.mjs against the memory, SQLite and
// PostgreSQL stores and by store-worker.mjs inside workerd (each case in a
// fresh Durable Object; durable-object-store.test.mjs reports them), plus
// the cases specific to entity-reactor/stores/durable-object. It imports
// nothing (no node:test, no node:assert), so that workerd can embed it as is.
//
// A case is `async (ctx) => void`, where ctx = { backend, createEngine,
// ErrorCode, createStore, customTable? }: backend.create({ table?, ...options })
// gives { store, count(), toValues(), reopen(), second(), outboxRows(),
// entities()?, sql? } over a fresh, empty log; createStore(options) makes a
// store over a real connection of the same backend (for the option checks).

// ------------------------------------------------------------ assert

class AssertionError extends Error {}

const show = (v) => {
  try {
    return JSON.stringify(v, (_, x) =>
      x instanceof Date ? `Date(${x.toISOString()})` : typeof x === "bigint" ? `${x}n` : x,
    );
  } catch {
    return String(v);
  }
};

function same(a, b) {
  if (Object.is(a, b)) return true;
  if (a instanceof Date || b instanceof Date)
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

export const assert = {
  ok(value, message = "expected a truthy value") {
    if (!value) throw new AssertionError(`${message} (got ${show(value)})`);
  },
  equal(actual, expected, message = "") {
    if (!Object.is(actual, expected))
      throw new AssertionError(`${message ? `${message}: ` : ""}expected ${show(expected)}, got ${show(actual)}`);
  },
  deepEqual(actual, expected, message = "") {
    if (!same(actual, expected))
      throw new AssertionError(`${message ? `${message}: ` : ""}expected\n  ${show(expected)}\ngot\n  ${show(actual)}`);
  },
  match(text, re, message = "") {
    if (typeof text !== "string" || !re.test(text))
      throw new AssertionError(`${message ? `${message}: ` : ""}${show(text)} does not match ${re}`);
  },
  async rejects(promiseOrFn, check, message = "") {
    try {
      await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
    } catch (e) {
      if (check instanceof RegExp && !check.test(String(e?.message ?? e)))
        throw new AssertionError(
          `${message ? `${message}: ` : ""}rejected with ${show(String(e?.message ?? e))}, which does not match ${check}`,
        );
      if (typeof check === "function" && !check(e))
        throw new AssertionError(
          `${message ? `${message}: ` : ""}rejected with an unexpected error: ${e?.code ?? ""} ${e?.message ?? e}`,
        );
      return;
    }
    throw new AssertionError(`${message ? `${message}: ` : ""}expected a rejection`);
  },
  throws(fn, ErrorClass, message = "") {
    try {
      fn();
    } catch (e) {
      if (ErrorClass && !(e instanceof ErrorClass))
        throw new AssertionError(`${message ? `${message}: ` : ""}threw ${e?.name}: ${e?.message}`);
      return;
    }
    throw new AssertionError(`${message ? `${message}: ` : ""}expected a throw`);
  },
};

// ------------------------------------------------------------ helpers (as tests/js/helpers.mjs)

export const KIND = "sys";

const systemSchema = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 1 },
    description: { type: ["string", "null"] },
    metadata: { type: "object", propertyNames: { type: "string" }, additionalProperties: {} },
  },
  required: ["name", "description", "metadata"],
  additionalProperties: false,
};

class Table {
  rows = new Map();
  read = async (ids) => {
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

class FakeClock {
  t = Date.parse("2026-01-02T03:04:05.678Z");
  now = () => this.t;
  advance(ms) {
    this.t += ms;
  }
}

const quietLogger = () => {
  const logger = { warnings: [], errors: [] };
  logger.warn = (...a) => logger.warnings.push(a.map(String).join(" "));
  logger.error = (...a) => logger.errors.push(a.map((x) => (x instanceof Error ? x.message : String(x))).join(" "));
  logger.info = () => {};
  return logger;
};

const sys = (name, extra = {}) => ({ name, description: null, metadata: {}, ...extra });
/** A state whose description is set, so a create records all three fields. */
const sysd = (name) => sys(name, { description: "stable" });

export const row = (entityId, field, fromValue, toValue, at, kind = KIND) => ({
  kind,
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

/** An engine over a Table with a fake clock and the given store (null: the embedded store). */
export async function engineWith(ctx, store, clock = new FakeClock(), options = {}) {
  const table = new Table();
  const events = [];
  const logger = quietLogger();
  const engine = await ctx.createEngine({
    transitions: store,
    now: clock.now,
    logger,
    emit: (e) => events.push(e),
    ...options,
  });
  const handle = engine.defineEntity({ kind: KIND, state: systemSchema, read: table.read });
  return { engine, handle, table, clock, events, logger };
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

// ------------------------------------------------------------ the contract (every store)

export const contract = {
  "a create appends one row per field (fromValue null) in a table made on first use": async (ctx) => {
    const b = await ctx.backend.create();
    const { handle, table, clock, events } = await engineWith(ctx, b.store);
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
  },

  "history is newest first with field and limit, row for row the embedded store's": async (ctx) => {
    const b = await ctx.backend.create();
    const subject = await engineWith(ctx, b.store);
    const reference = await engineWith(ctx, null);
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
  },

  "inStateSince / inStateForMs follow the current value under an injected clock": async (ctx) => {
    const b = await ctx.backend.create();
    const { handle, table, clock } = await engineWith(ctx, b.store);
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
  },

  "transitionCount counts rows with transitionedAt >= now − windowMs (boundary included)": async (ctx) => {
    const b = await ctx.backend.create();
    const { handle, table, clock } = await engineWith(ctx, b.store);
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
  },

  "a tombstone appends no rows; the history outlives the entity": async (ctx) => {
    const b = await ctx.backend.create();
    const { handle, table, events } = await engineWith(ctx, b.store);
    await handle.mutate({ id: "s", apply: table.put("s", sysd("x")) });
    await handle.remove({ id: "s", apply: table.del("s") });
    assert.equal(events.length, 2);
    assert.equal(events[1].next, null);
    assert.equal(await b.count(), 3);
    assert.equal((await handle.history("s")).length, 3);
    assert.equal(await handle.inStateSince("s", "name"), null, "absent entity");
  },

  "batch ingest: several appends inside one transaction": async (ctx) => {
    const b = await ctx.backend.create();
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
    const { engine } = await engineWith(ctx, counting);
    const changes = await engine.ingest(KIND, [
      { id: "i1", next: sys("one") },
      { id: "i2", next: sys("two") },
      { id: "i3", next: sys("three") },
    ]);
    assert.equal(changes.length, 3);
    assert.equal(transactions, 1);
    assert.equal(appends, 3);
    assert.equal(await b.count(), 6, "name and metadata of each (description null is no change)");
  },

  "an append that fails mid-transaction leaves no partial rows, and the engine goes on": async (ctx) => {
    const b = await ctx.backend.create();
    const failing = failingOnAppend(b.store, 2);
    const { engine, handle, table, events } = await engineWith(ctx, failing);
    const entries = [
      { id: "f1", next: sys("one") },
      { id: "f2", next: sys("two") },
      { id: "f3", next: sys("three") },
    ];
    await assert.rejects(
      engine.ingest(KIND, entries, { apply: async () => entries.forEach((e) => table.rows.set(e.id, e.next)) }),
      (e) => e.code === ctx.ErrorCode.ER_STORE && /injected failure on append 2/.test(e.message),
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
  },

  "direct: runInTransaction commits fn's rows once, and keeps none when fn or an insert fails": async (ctx) => {
    const b = await ctx.backend.create();
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
    // Only the Durable Object store keeps a table of entity keys.
    if (b.entities) assert.equal(await b.entities(), 0, "no entity key either");
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
  },

  "concurrent writes of different ids each land in their own transaction": async (ctx) => {
    const b = await ctx.backend.create();
    const { handle, table } = await engineWith(ctx, b.store);
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    await Promise.all(ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(id)) })));
    await Promise.all(ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(`${id}-2`)) })));
    assert.equal(await b.count(), ids.length * 3);
    for (const id of ids) assert.equal((await handle.history(id, { field: "name" }))[0].toValue, `${id}-2`);
  },

  "run secrets are masked in the rows the store keeps": async (ctx) => {
    const b = await ctx.backend.create();
    const { engine, handle, table } = await engineWith(ctx, b.store);
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
  },

  "another store over the same database reads the same log": async (ctx) => {
    const b = await ctx.backend.create();
    const first = await engineWith(ctx, b.store);
    await script(first);
    const want = await first.handle.history("a");
    const reopened = await b.reopen();
    const second = await engineWith(ctx, reopened, first.clock);
    second.table.rows = first.table.rows;
    assert.deepEqual(await second.handle.history("a"), want);
    assert.equal(
      (await second.handle.inStateSince("a", "name")).getTime(),
      want.find((r) => r.field === "name").transitionedAt.getTime(),
    );
  },

  "key encodings are unambiguous: a NUL in a kind or id never merges two logs, and NUL values round-trip": async (
    ctx,
  ) => {
    const b = await ctx.backend.create();
    const clock = new FakeClock();
    const engine = await ctx.createEngine({ transitions: b.store, now: clock.now, logger: quietLogger() });
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
      assert.ok((await a.inStateSince(id, "description")) !== null);
    }
    assert.equal(await b.count(), 4 + tricky.length * 3);
    engine.close();
  },

  "outbox: each change is recorded in its rows' transaction (tombstones too) and relayed in commit order": async (
    ctx,
  ) => {
    const b = await ctx.backend.create({ outbox: true });
    const { store } = b;
    assert.equal(store.outbox, true);
    let woke = 0;
    const unwatch = store.watchOutbox(() => woke++);
    const { engine, handle, table, events } = await engineWith(ctx, store);
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
  },

  "outbox: a failed transaction records neither rows nor changes; only a publish's confirmed prefix is marked": async (
    ctx,
  ) => {
    const b = await ctx.backend.create({ outbox: true });
    const failing = failingOnAppend(b.store, 1);
    const first = await engineWith(ctx, failing);
    await assert.rejects(
      first.handle.mutate({ id: "x", apply: first.table.put("x", sys("x")) }),
      (e) => e.code === ctx.ErrorCode.ER_STORE,
    );
    assert.equal(await b.count(), 0);
    assert.deepEqual(await b.outboxRows(), [], "no change without its rows");
    const { handle, table, events } = await engineWith(ctx, b.store);
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
      (e) => e instanceof TypeError,
    );
  },

  "outbox: one relay at a time over a shared database; releaseOutbox and pruneOutbox": async (ctx) => {
    const b = await ctx.backend.create({ outbox: true });
    const { handle, table } = await engineWith(ctx, b.store);
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
      await other.relayOutbox({ owner: "r2" }, () => {
        throw new Error("a second relay must not publish now");
      }),
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
  },

  "option table: the log goes to the named table": async (ctx) => {
    // ctx.customTable: PostgreSQL's name is schema-qualified (its backend creates the schema).
    const name = ctx.customTable ?? "custom_log";
    const b = await ctx.backend.create({ table: name });
    const { handle, table: host } = await engineWith(ctx, b.store);
    await handle.mutate({ id: "t", apply: host.put("t", sysd("tee")) });
    assert.equal(await b.count(), 3);
    assert.equal(b.store.table, name);
    assert.throws(() => ctx.createStore({ table: "a b" }), TypeError);
    assert.throws(() => ctx.createStore({ table: 'x"; DROP TABLE y; --' }), TypeError);
  },
};

// ------------------------------------------------------------ Durable Object specifics

export const specific = {
  "the storage must be a SQLite-backed object's; options are checked": async (ctx) => {
    assert.throws(() => ctx.createStoreOn({}), TypeError);
    assert.throws(() => ctx.createStoreOn({ sql: {} }), TypeError);
    assert.throws(() => ctx.createStoreOn(null), TypeError);
    assert.throws(() => ctx.createStore({ retentionPerEntity: -1 }), TypeError);
    assert.throws(() => ctx.createStore({ retentionPerEntity: 1.5 }), TypeError);
    assert.throws(() => ctx.createStore({ outbox: "yes" }), TypeError);
    // ctx (the DurableObjectState) is accepted as well as ctx.storage.
    const viaState = ctx.createStoreOnState();
    await viaState.ready();
    assert.equal(viaState.table, "entity_transitions");
  },

  "a NUL inside a kind or an id never merges two entities": async (ctx) => {
    const b = await ctx.backend.create();
    const { store } = b;
    const at = Date.parse("2026-03-01T00:00:00.000Z");
    const cases = [
      ["k", "a\u0000b"],
      ["k", "a"],
      ["k", "a\u0000"],
      ["k\u0000a", "b"],
      ["k", "a\u0000b\u0000"],
      ["k\u0000", "a\u0000b"],
    ];
    let i = 0;
    for (const [kind, entityId] of cases)
      await store.runInTransaction(async (tx) => {
        await store.appendTransitions({
          tx,
          kind,
          entityId,
          transitions: [row(entityId, "name", null, `v${i++}`, at, kind)],
        });
      });
    assert.equal(await b.entities(), cases.length, "one entity per (kind, id)");
    i = 0;
    for (const [kind, entityId] of cases) {
      const rows = await store.history({ kind, entityId });
      assert.equal(rows.length, 1, `history of ${JSON.stringify([kind, entityId])}`);
      assert.deepEqual(rows[0], row(entityId, "name", null, `v${i++}`, at, kind));
    }
    // Through the engine: ids "x\0y" and "x" stay apart.
    const { handle, table } = await engineWith(ctx, store);
    await handle.mutate({ id: "x\u0000y", apply: table.put("x\u0000y", sys("with-nul")) });
    await handle.mutate({ id: "x", apply: table.put("x", sys("plain")) });
    assert.deepEqual(
      (await handle.history("x\u0000y", { field: "name" })).map((r) => r.toValue),
      ["with-nul"],
    );
    assert.deepEqual(
      (await handle.history("x", { field: "name" })).map((r) => r.toValue),
      ["plain"],
    );
    assert.equal(
      (await handle.inStateSince("x", "name")).getTime(),
      (await handle.history("x"))[0].transitionedAt.getTime(),
    );
  },

  "retentionPerEntity keeps each entity's newest rows, in the appending transaction": async (ctx) => {
    const b = await ctx.backend.create({ retentionPerEntity: 4 });
    const { engine, handle, table, clock } = await engineWith(ctx, b.store);
    const reference = await engineWith(ctx, (await ctx.backend.create({ table: "unbounded" })).store);
    for (let i = 0; i < 6; i++) {
      for (const e of [{ handle, table }, reference])
        await e.handle.mutate({ id: "r", apply: e.table.put("r", sys(`n${i}`)) });
      clock.advance(10);
      reference.clock.advance(10);
    }
    await handle.mutate({ id: "other", apply: table.put("other", sys("o")) });
    // r: 2 rows on create + 5 renames = 7 rows, 4 kept: the newest, as history orders them.
    const kept = await handle.history("r");
    assert.equal(kept.length, 4);
    assert.deepEqual(kept, (await reference.handle.history("r")).slice(0, 4));
    assert.equal(await b.count(), 4 + 2, "the other entity keeps its own rows");
    assert.equal((await b.entityRow("sys", "r")).row_count, 4, "row_count follows the deletes");
    // The retained rows still answer the queries.
    assert.equal((await handle.inStateSince("r", "name")).getTime(), kept[0].transitionedAt.getTime());
    assert.equal(await handle.transitionCount({ id: "r", field: "name", windowMs: 1e9 }), 4);
    // One batch larger than the limit for one entity keeps its newest rows too.
    const entries = Array.from({ length: 9 }, (_, i) => ({ id: "batch", next: sys(`b${i}`) }));
    await engine.ingest(KIND, entries);
    const batch = await handle.history("batch");
    assert.equal(batch.length, 4);
    assert.deepEqual(
      batch.map((r) => [r.field, r.toValue]),
      [
        ["name", "b8"],
        ["name", "b7"],
        ["name", "b6"],
        ["name", "b5"],
      ],
    );
    reference.engine.close();
  },

  "outbox: off by default; with outbox: true its table, partial index and lease table exist, and the relay's read uses the index":
    async (ctx) => {
      const plain = await ctx.backend.create({ table: "plain_log" });
      await plain.store.ready();
      assert.equal(plain.store.outbox, false);
      assert.equal(plain.store.outboxTable, null);
      assert.equal(plain.store.appendChanges, undefined);
      assert.equal(plain.sql("SELECT COUNT(*) AS n FROM sqlite_master WHERE name LIKE '%outbox%'")[0].n, 0);
      const b = await ctx.backend.create({ outbox: true });
      await b.store.ready();
      assert.equal(b.store.outboxTable, "entity_transitions_outbox");
      const names = b
        .sql("SELECT name FROM sqlite_master WHERE name LIKE 'entity_transitions_outbox%' ORDER BY name")
        .map((r) => r.name);
      assert.deepEqual(names, [
        "entity_transitions_outbox",
        "entity_transitions_outbox_lease",
        "entity_transitions_outbox_unpublished_idx",
      ]);
      const { handle, table } = await engineWith(ctx, b.store);
      await handle.mutate({ id: "i", apply: table.put("i", sys("i")) });
      const plan = await b.planOf(() => b.store.relayOutbox({ owner: "p" }, async () => 0));
      assert.match(plan, /entity_transitions_outbox_unpublished_idx/);
      assert.ok(!/TEMP B-TREE/.test(plan), `no sort: ${plan}`);
      assert.throws(() => ctx.createStore({ outbox: true, outboxTable: "entity_transitions" }), TypeError);
      assert.throws(() => ctx.createStore({ outbox: true, outboxTable: "bad name" }), TypeError);
      // The events of a retention-pruned log stay in the outbox until relayed.
      const r = await ctx.backend.create({ table: "kept", outbox: true, retentionPerEntity: 1 });
      const e = await engineWith(ctx, r.store);
      for (let i = 0; i < 3; i++) await e.handle.mutate({ id: "k", apply: e.table.put("k", sys(`k${i}`)) });
      assert.equal(await r.count(), 1);
      assert.equal(await r.store.outboxBacklog(), 3);
    },

  "the queries use the indexes: no scan of the log, no sort": async (ctx) => {
    const b = await ctx.backend.create({ retentionPerEntity: 2 });
    const { store } = b;
    await store.ready();
    const indexes = b.sql(
      `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entity_transitions' AND sql IS NOT NULL ORDER BY name`,
    );
    assert.deepEqual(
      indexes.map((r) => r.name),
      ["entity_transitions_field_time_idx", "entity_transitions_field_value_idx"],
    );
    const at = Date.parse("2026-03-01T00:00:00.000Z");
    const rows = (n) => Array.from({ length: n }, (_, i) => row("p", i % 2 ? "name" : "status", null, `v${i}`, at + i));
    await store.appendTransitions({ kind: KIND, entityId: "p", transitions: rows(4) });
    // The statements each call runs, explained with their own parameters.
    const plans = {
      append: await b.planOf(() => store.appendTransitions({ kind: KIND, entityId: "p", transitions: rows(3) })),
      inStateSince: await b.planOf(() =>
        store.inStateSince({ kind: KIND, entityId: "p", field: "name", currentValue: "v1" }),
      ),
      count: await b.planOf(() =>
        store.transitionCount({ kind: KIND, entityId: "p", field: "name", windowMs: 10, now: new Date(at) }),
      ),
      history: await b.planOf(() => store.history({ kind: KIND, entityId: "p", limit: 2 })),
      historyField: await b.planOf(() => store.history({ kind: KIND, entityId: "p", field: "name" })),
    };
    for (const [what, plan] of Object.entries(plans)) {
      assert.ok(plan.length > 0, `${what}: no plan captured`);
      assert.ok(!/\bSCAN\b/.test(plan.replace(/SCAN CONSTANT ROW/g, "")), `${what} scans a table: ${plan}`);
      assert.ok(!/TEMP B-TREE/.test(plan), `${what} sorts: ${plan}`);
    }
    assert.match(plans.inStateSince, /entity_transitions_field_value_idx/);
    assert.match(plans.count, /entity_transitions_field_time_idx/);
    assert.match(plans.historyField, /entity_transitions_field_time_idx/);
    assert.match(plans.history, /PRIMARY KEY/);
    return plans;
  },

  "100,000 rows: every query reads only the rows it returns": async (ctx) => {
    const b = await ctx.backend.create();
    const { store } = b;
    const t0 = Date.parse("2026-01-01T00:00:00.000Z");
    // One hot entity with 60,000 rows (two fields, a long JSON value),
    // and 400 others with 100 each.
    const hot = [];
    for (let i = 0; i < 30_000; i++) {
      const at = t0 + i * 1000;
      hot.push(row("hot", "status", i ? `s${(i - 1) % 7}` : null, `s${i % 7}`, at));
      hot.push(
        row("hot", "metadata", null, JSON.stringify({ owner: "team-platform-and-infrastructure", tier: i }), at),
      );
    }
    const started = Date.now();
    for (let i = 0; i < hot.length; i += 5000)
      await store.appendTransitions({ kind: KIND, entityId: "hot", transitions: hot.slice(i, i + 5000) });
    for (let e = 0; e < 400; e++) {
      const rows = Array.from({ length: 100 }, (_, i) => row(`e${e}`, "name", null, `n${i}`, t0 + i));
      await store.appendTransitions({ kind: KIND, entityId: `e${e}`, transitions: rows });
    }
    const insertMs = Date.now() - started;
    assert.equal(await b.count(), 100_000);
    const last = t0 + 29_999 * 1000;
    const timed = async (what, fn, maxRowsRead) => {
      b.resetRowsRead();
      const s = performance.now();
      const result = await fn();
      const ms = performance.now() - s;
      const read = b.rowsRead();
      assert.ok(read <= maxRowsRead, `${what} read ${read} rows (at most ${maxRowsRead})`);
      return { result, ms, read };
    };
    const q = {};
    q.inStateSinceLatest = await timed(
      "inStateSince (latest value)",
      () => store.inStateSince({ kind: KIND, entityId: "hot", field: "status", currentValue: `s${29_999 % 7}` }),
      5,
    );
    assert.equal(q.inStateSinceLatest.result.getTime(), last);
    // A long JSON value entered 29,000 rows ago: found through the value index.
    const old = JSON.stringify({ owner: "team-platform-and-infrastructure", tier: 999 });
    q.inStateSinceOld = await timed(
      "inStateSince (an old long value)",
      () => store.inStateSince({ kind: KIND, entityId: "hot", field: "metadata", currentValue: old }),
      5,
    );
    assert.equal(q.inStateSinceOld.result.getTime(), t0 + 999 * 1000);
    q.inStateSinceNever = await timed(
      "inStateSince (a value never logged)",
      () => store.inStateSince({ kind: KIND, entityId: "hot", field: "status", currentValue: "never" }),
      5,
    );
    assert.equal(q.inStateSinceNever.result, null);
    q.count = await timed(
      "transitionCount (60 s window)",
      () =>
        store.transitionCount({ kind: KIND, entityId: "hot", field: "status", windowMs: 59_000, now: new Date(last) }),
      70,
    );
    assert.equal(q.count.result, 60);
    q.history = await timed("history (limit 50)", () => store.history({ kind: KIND, entityId: "hot", limit: 50 }), 60);
    assert.equal(q.history.result.length, 50);
    q.historyField = await timed(
      "history (field, limit 50)",
      () => store.history({ kind: KIND, entityId: "hot", field: "status", limit: 50 }),
      60,
    );
    assert.deepEqual(
      q.historyField.result.slice(0, 2).map((r) => r.toValue),
      [`s${29_999 % 7}`, `s${29_998 % 7}`],
    );
    q.small = await timed("history of a small entity", () => store.history({ kind: KIND, entityId: "e399" }), 110);
    assert.equal(q.small.result.length, 100);
    // (workerd's clock stands still while a request computes, so the ms here
    // may read 0: durable-object-store.test.mjs times these queries over HTTP.)
    return {
      insertMs,
      queries: Object.fromEntries(
        Object.entries(q).map(([k, r]) => [k, { ms: Number(r.ms.toFixed(3)), rowsRead: r.read }]),
      ),
    };
  },
};

export const cases = { ...contract, ...specific };
