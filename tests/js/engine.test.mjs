// SPEC §2-§7 and §9 through the public API, with async host callbacks.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  createEngine,
  SYSTEM_ACTOR,
  withEntityWrite,
  withEntityRemove,
  EntityReactorError,
  ErrorCode,
} from "../../js/src/index.js";
import { setup, sys, systemSchema, Table, HostStore, quietLogger } from "./helpers.mjs";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function rejectsWith(promiseOrFn, code, pattern) {
  let error;
  try {
    await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected an error with code ${code}`);
  assert.ok(
    error instanceof EntityReactorError,
    `expected EntityReactorError, got ${error?.constructor?.name}: ${error?.message}`,
  );
  assert.equal(error.code, code, error.message);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

describe("§2 the change event", () => {
  test("create, update and tombstone events carry the documented shape", async () => {
    const { handle, table, events, clock } = await setup();
    await handle.mutate({ id: "s1", apply: table.put("s1", sys("ada", { metadata: { tier: 1 } })) });
    clock.advance(10);
    await handle.mutate({ id: "s1", apply: table.put("s1", sys("ada", { description: "d" })) });
    clock.advance(10);
    await handle.remove({ id: "s1", apply: table.del("s1") });
    assert.equal(events.length, 3);
    const [create, update, tomb] = events;
    assert.deepEqual(JSON.parse(JSON.stringify(create)), {
      kind: "sys",
      id: "s1",
      prev: null,
      next: { name: "ada", description: null, metadata: { tier: 1 } },
      delta: { metadata: { tier: 1 }, name: "ada" },
      changedFields: ["metadata", "name"], // description: null on create is unchanged (§3)
      actor: { type: "system" },
      occurredAt: "2026-01-02T03:04:05.678Z",
      changeId: create.changeId,
    });
    assert.deepEqual(update.changedFields, ["description", "metadata"]);
    assert.deepEqual(update.delta, { description: "d", metadata: {} });
    assert.deepEqual(update.prev, { name: "ada", description: null, metadata: { tier: 1 } });
    assert.equal(update.occurredAt, "2026-01-02T03:04:05.688Z");
    assert.equal(tomb.next, null);
    assert.deepEqual(tomb.delta, {});
    assert.deepEqual(tomb.changedFields, ["description", "metadata", "name"]);
    for (const e of events) assert.match(e.changeId, UUID_V4);
    assert.equal(new Set(events.map((e) => e.changeId)).size, 3);
  });

  test("changeIds are distinct within one millisecond", async () => {
    const { handle, table, events } = await setup(); // the fake clock stands still
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => handle.mutate({ id: `s${i}`, apply: table.put(`s${i}`, sys("x")) })),
    );
    assert.equal(new Set(events.map((e) => e.changeId)).size, 200);
    assert.equal(new Set(events.map((e) => e.occurredAt)).size, 1);
  });

  test("actor defaults to SYSTEM_ACTOR; a user actor is carried", async () => {
    const { handle, table, events } = await setup();
    assert.deepEqual(SYSTEM_ACTOR, { type: "system" });
    await handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
    const user = { type: "user", id: "u1", name: "Ada" };
    await handle.mutate({ id: "b", opts: { actor: user }, apply: table.put("b", sys("b")) });
    assert.deepEqual(events[0].actor, SYSTEM_ACTOR);
    assert.deepEqual(events[1].actor, user);
  });
});

describe("§3 structural equality and diff", () => {
  test("key order never creates a change", async () => {
    const { handle, table, events, engine } = await setup();
    await handle.mutate({
      id: "a",
      apply: table.put("a", { name: "a", description: null, metadata: { x: 1, y: [1, { p: 1, q: 2 }] } }),
    });
    await handle.mutate({
      id: "a",
      apply: table.put("a", { metadata: { y: [1, { q: 2, p: 1 }], x: 1 }, description: null, name: "a" }),
    });
    assert.equal(events.length, 1);
    assert.equal((await handle.history("a")).length, 2); // the create's rows only
    engine.close();
  });

  test("top-level absent vs null is unchanged; nested null vs missing differs", async () => {
    const { engine } = await setup();
    const table = new Table();
    const events = [];
    engine.onEntityChanged({ kind: "loose", handler: (e) => events.push(e) });
    const h = engine.defineEntity({
      kind: "loose",
      state: { type: "object", additionalProperties: true },
      read: table.read,
    });
    await h.mutate({ id: "x", apply: table.put("x", { description: null, n: 1 }) });
    assert.deepEqual(events[0].changedFields, ["n"]);
    await h.mutate({ id: "x", apply: table.put("x", { n: 1 }) }); // description null -> absent
    assert.equal(events.length, 1);
    await h.mutate({ id: "x", apply: table.put("x", { n: 1, o: {} }) });
    await h.mutate({ id: "x", apply: table.put("x", { n: 1, o: { k: null } }) });
    assert.deepEqual(events.at(-1).changedFields, ["o"]);
    assert.deepEqual(events.at(-1).delta, { o: { k: null } });
    await h.mutate({ id: "x", apply: table.put("x", { o: { k: null } }) });
    assert.deepEqual(events.at(-1).delta, { n: null }); // present before, absent after
  });

  test("changedFields sort by UTF-16 code units, as JavaScript sorts", async () => {
    const { engine } = await setup();
    const table = new Table();
    const events = [];
    engine.onEntityChanged({ kind: "u", handler: (e) => events.push(e) });
    const h = engine.defineEntity({
      kind: "u",
      state: { type: "object", additionalProperties: true },
      read: table.read,
    });
    const keys = ["\uff5e", "\u{1F600}", "b", "B", "é", "a"];
    await h.mutate({ id: "k", apply: table.put("k", Object.fromEntries(keys.map((k, i) => [k, i]))) });
    assert.deepEqual(events[0].changedFields, [...keys].sort());
  });

  test("NaN and Infinity are handled as data (serialised as null)", async () => {
    const { engine } = await setup();
    const table = new Table();
    const events = [];
    engine.onEntityChanged({ kind: "n", handler: (e) => events.push(e) });
    const h = engine.defineEntity({
      kind: "n",
      state: { type: "object", additionalProperties: true },
      read: table.read,
    });
    await h.mutate({ id: "k", apply: table.put("k", { a: 1, b: NaN }) });
    assert.deepEqual(events[0].changedFields, ["a"]); // b: NaN is null, unchanged from absent
    await h.mutate({ id: "k", apply: async () => ({ a: 1, b: Infinity }) });
    assert.equal(events.length, 1);
  });
});

describe("§4 defining a kind", () => {
  test("kind rules and their errors", async () => {
    const { engine, table } = await setup();
    await rejectsWith(
      () => engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read }),
      ErrorCode.ER_DUPLICATE_KIND,
      /duplicate kind "sys"/,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: "  ", state: systemSchema, read: table.read }),
      ErrorCode.ER_BAD_KIND,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: 5, state: systemSchema, read: table.read }),
      ErrorCode.ER_BAD_KIND,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: "r", state: systemSchema, read: "nope" }),
      ErrorCode.ER_BAD_ARGUMENT,
      /read must be a function/,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: "s1", state: { type: "string" }, read: table.read }),
      ErrorCode.ER_BAD_SCHEMA,
      /s1/,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: "s2", state: "object", read: table.read }),
      ErrorCode.ER_BAD_SCHEMA,
      /kind "s2".*received string/,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: "s3", state: null, read: table.read }),
      ErrorCode.ER_BAD_SCHEMA,
      /received null/,
    );
    assert.deepEqual(engine.kinds(), ["sys"]);
  });

  test("zod parse semantics: strip unknown keys, keep with additionalProperties, defaults", async () => {
    const { engine } = await setup();
    const table = new Table();
    const h = engine.defineEntity({
      kind: "z",
      state: {
        type: "object",
        properties: {
          name: { type: "string" },
          tier: { type: "integer", default: 3 },
          tags: { type: "array", items: { type: "string" }, default: [] },
          extra: { type: "object", additionalProperties: { type: "number" } },
        },
        required: ["name", "tier", "tags"],
        additionalProperties: false,
      },
      read: table.read,
    });
    const out = await h.mutate({ id: "a", apply: table.put("a", { name: "a", junk: 1, extra: { x: 1 } }) });
    assert.deepEqual(out, { extra: { x: 1 }, name: "a", tags: [], tier: 3 });
    const bad = await rejectsWith(
      h.mutate({ id: "a", apply: table.put("a", { name: "a", extra: { x: "1" } }) }),
      ErrorCode.ER_SCHEMA,
    );
    assert.equal(bad.path, "extra.x");
    assert.match(bad.message, /kind "z" id "a"/);
  });

  test("strict kinds reject unknown keys instead of stripping them", async () => {
    const { engine } = await setup();
    const table = new Table();
    const h = engine.defineEntity({ kind: "strict", state: systemSchema, read: table.read, strict: true });
    await rejectsWith(h.mutate({ id: "a", apply: table.put("a", sys("a", { junk: 1 })) }), ErrorCode.ER_SCHEMA, /junk/);
  });

  test("validation failure names kind, id and path; nothing is appended or emitted", async () => {
    const { handle, table, events } = await setup();
    const e = await rejectsWith(
      handle.mutate({ id: "s9", apply: table.put("s9", { name: "x", description: 7, metadata: {} }) }),
      ErrorCode.ER_SCHEMA,
    );
    assert.match(e.message, /kind "sys" id "s9": description/);
    assert.equal(e.path, "description");
    assert.equal(events.length, 0);
    assert.deepEqual(await handle.history("s9"), []);
    assert.ok(table.rows.has("s9"), "the host's write stands (apply ran)");
  });
});

describe("§5 the handle", () => {
  test("prev is read strictly before apply; the returned state is validated", async () => {
    const order = [];
    const { engine } = await setup();
    const rows = new Map([["a", sys("old")]]);
    const h = engine.defineEntity({
      kind: "ordered",
      state: systemSchema,
      read: async (ids) => {
        order.push("read");
        return Object.fromEntries(ids.filter((i) => rows.has(i)).map((i) => [i, rows.get(i)]));
      },
    });
    const events = [];
    engine.onEntityChanged({ kind: "ordered", handler: (e) => events.push(e) });
    const out = await h.mutate({
      id: "a",
      apply: async () => {
        order.push("apply");
        rows.set("a", sys("new", { stray: true }));
        return rows.get("a");
      },
    });
    assert.deepEqual(order, ["read", "apply"]);
    assert.deepEqual(out, { description: null, metadata: {}, name: "new" });
    assert.equal(events[0].prev.name, "old");
  });

  test("a rejecting apply propagates; no transaction, no transition, no event", async () => {
    const store = new HostStore();
    const { handle, events } = await setup({ transitions: store });
    await assert.rejects(
      handle.mutate({
        id: "a",
        apply: async () => {
          throw new Error("boom");
        },
      }),
      /boom/,
    );
    await assert.rejects(handle.remove({ id: "a", apply: () => Promise.reject(new Error("nope")) }), /nope/);
    assert.equal(store.transactions, 0);
    assert.equal(store.rows.length, 0);
    assert.equal(events.length, 0);
  });

  test("no-op writes return next without transition or event", async () => {
    const store = new HostStore();
    const { handle, table, events } = await setup({ transitions: store });
    await handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
    const txBefore = store.transactions;
    const out = await handle.mutate({ id: "a", apply: table.put("a", { metadata: {}, name: "a", description: null }) });
    assert.deepEqual(out, { metadata: {}, name: "a", description: null });
    assert.equal(events.length, 1);
    assert.equal(store.transactions, txBefore, "no transaction opened for a no-op");
  });

  test("transition rows: one per changed field, text-encoded", async () => {
    const { handle, table, clock } = await setup();
    await handle.mutate({
      id: "a",
      apply: table.put("a", { name: "a", description: "d", metadata: { b: [1, 2], a: true } }),
    });
    clock.advance(5);
    await handle.mutate({ id: "a", apply: table.put("a", { name: "a", description: null, metadata: {} }) });
    const rows = await handle.history("a");
    assert.deepEqual(
      rows.map((r) => [r.field, r.fromValue, r.toValue, r.transitionedAt.toISOString()]),
      [
        ["metadata", '{"a":true,"b":[1,2]}', "{}", "2026-01-02T03:04:05.683Z"],
        ["description", "d", "null", "2026-01-02T03:04:05.683Z"],
        ["name", null, "a", "2026-01-02T03:04:05.678Z"],
        ["metadata", null, '{"a":true,"b":[1,2]}', "2026-01-02T03:04:05.678Z"],
        ["description", null, "d", "2026-01-02T03:04:05.678Z"],
      ],
    );
    assert.ok(rows.every((r) => r.kind === "sys" && r.entityId === "a"));
    assert.deepEqual(
      (await handle.history("a", { field: "description", limit: 1 })).map((r) => r.toValue),
      ["null"],
    );
  });

  test("remove: tombstone event, no rows; removing a missing id is a no-op", async () => {
    const { handle, table, events } = await setup();
    await handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
    const rowsBefore = (await handle.history("a")).length;
    assert.equal(await handle.remove({ id: "a", apply: table.del("a") }), undefined);
    assert.equal(events.at(-1).next, null);
    assert.equal((await handle.history("a")).length, rowsBefore);
    await handle.remove({ id: "ghost", apply: table.del("ghost") });
    assert.equal(events.length, 2);
  });

  test("get and getMany route to read", async () => {
    const { handle, table } = await setup();
    table.rows.set("a", sys("a"));
    table.rows.set("b", sys("b"));
    assert.deepEqual(await handle.get("a"), sys("a"));
    assert.equal(await handle.get("zz"), undefined, "absent: undefined, as the reference");
    assert.deepEqual(await handle.getMany(["a", "zz", "b"]), { a: sys("a"), b: sys("b") });
    assert.equal(handle.kind, "sys");
  });

  test("inStateSince / inStateForMs / transitionCount with a fake clock", async () => {
    for (const store of [undefined, new HostStore()]) {
      const { handle, table, clock } = await setup({ transitions: store });
      const t0 = clock.t;
      await handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
      clock.advance(1000);
      await handle.mutate({ id: "a", apply: table.put("a", sys("b")) });
      clock.advance(1000);
      await handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
      clock.advance(500);
      assert.equal((await handle.inStateSince("a", "name")).getTime(), t0 + 2000);
      assert.equal(await handle.inStateForMs("a", "name"), 500);
      assert.equal((await handle.inStateSince("a", "metadata")).getTime(), t0);
      assert.equal(await handle.inStateSince("a", "description"), null, "no row ever set description");
      assert.equal(await handle.inStateSince("nobody", "name"), null);
      assert.equal(await handle.inStateForMs("nobody", "name"), 0);
      assert.equal(await handle.transitionCount({ id: "a", field: "name", windowMs: 500 }), 1);
      assert.equal(await handle.transitionCount({ id: "a", field: "name", windowMs: 1500 }), 2);
      assert.equal(await handle.transitionCount({ id: "a", field: "name", windowMs: 1499 }), 1);
      assert.equal(await handle.transitionCount({ id: "a", field: "name", windowMs: 1e9 }), 3);
      clock.advance(-10_000); // a clock that went backwards never gives a negative duration
      assert.equal(await handle.inStateForMs("a", "name"), 0);
    }
  });

  test("withEntityWrite / withEntityRemove with and without a handle", async () => {
    const { handle, table, events } = await setup();
    let ran = 0;
    const r1 = await withEntityWrite({ handle: undefined, id: "a", apply: async () => (ran++, sys("x")) });
    assert.deepEqual(r1, sys("x"));
    await withEntityRemove({ handle: undefined, id: "a", apply: async () => void ran++ });
    assert.equal(ran, 2);
    assert.equal(events.length, 0);
    await withEntityWrite({ handle, id: "a", apply: table.put("a", sys("a")) });
    await withEntityRemove({ handle, id: "a", apply: table.del("a") });
    assert.deepEqual(
      events.map((e) => e.next === null),
      [false, true],
    );
  });

  test("a failing host append: the host's state stands, the error surfaces, no event; the next write works", async () => {
    const store = new HostStore();
    const { handle, table, events } = await setup({ transitions: store });
    store.failAppend = true;
    const e = await rejectsWith(
      handle.mutate({ id: "a", apply: table.put("a", sys("a")) }),
      ErrorCode.ER_STORE,
      /disk full/,
    );
    assert.equal(e.cause.message, "disk full");
    assert.deepEqual(table.rows.get("a"), sys("a"));
    assert.equal(events.length, 0);
    assert.equal(store.rows.length, 0, "the failed transaction kept no rows");
    store.failAppend = false;
    await handle.mutate({ id: "a", apply: table.put("a", sys("b")) });
    assert.equal(events.length, 1);
    assert.deepEqual(
      store.rows.map((r) => [r.field, r.fromValue, r.toValue]),
      [["name", "a", "b"]],
    );
    assert.ok(store.rows[0].transitionedAt instanceof Date);
  });
});

describe("§6 delivery", () => {
  test("events before wire are buffered in order and flushed once on wire", async () => {
    const logger = quietLogger();
    const engine = await createEngine({ logger, bufferLimit: 3 });
    const table = new Table();
    const h = engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
    assert.equal(engine.isWired, false);
    for (let i = 0; i < 5; i++) await h.mutate({ id: `e${i}`, apply: table.put(`e${i}`, sys("x")) });
    assert.equal(logger.warnings.length, 1, "two drops, one warning for the overflow episode");
    assert.match(logger.warnings[0], /buffer is full/);
    const seen = [];
    engine.wire((e) => {
      seen.push(e.id);
      if (e.id === "e2") h.mutate({ id: "late", apply: table.put("late", sys("late")) }); // in flight during the flush
    });
    assert.equal(engine.isWired, true);
    assert.deepEqual(seen, ["e2", "e3", "e4"]);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ["e2", "e3", "e4", "late"], "the emit made during the flush arrives once");
  });

  test("onEntityChanged: kind filter, idempotent unsubscribe, throwing handler isolated", async () => {
    const { engine, handle, table, logger } = await setup();
    const a = [];
    const b = [];
    const unsubA = engine.onEntityChanged({ kind: "sys", handler: (e) => a.push(e.id) });
    engine.onEntityChanged({
      kind: "sys",
      handler: () => {
        throw new Error("handler bug");
      },
    });
    engine.onEntityChanged({
      kind: "sys",
      handler: async () => {
        throw new Error("async handler bug");
      },
    });
    engine.onEntityChanged({ kind: "other", handler: (e) => b.push(e.id) });
    await handle.mutate({ id: "x", apply: table.put("x", sys("x")) });
    await unsubA();
    await unsubA();
    await handle.mutate({ id: "y", apply: table.put("y", sys("y")) });
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(a, ["x"]);
    assert.deepEqual(b, []);
    assert.equal(logger.errors.filter((m) => /handler bug/.test(m)).length, 4);
    await rejectsWith(() => engine.onEntityChanged({ kind: "", handler: () => {} }), ErrorCode.ER_BAD_KIND);
    await rejectsWith(
      () => engine.onEntityChanged({ kind: "sys", handler: () => {}, delivery: { mode: "work-queue" } }),
      ErrorCode.ER_BAD_ARGUMENT,
      /workerGroup/,
    );
    await rejectsWith(
      () =>
        engine.onEntityChanged({ kind: "sys", handler: () => {}, delivery: { mode: "work-queue", workerGroup: "" } }),
      ErrorCode.ER_BAD_ARGUMENT,
      /workerGroup/,
    );
    await rejectsWith(
      () => engine.onEntityChanged({ kind: "sys", handler: () => {}, delivery: { mode: "fanout" } }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  });

  test("work-queue: one consumer per group per change, retried up to maxRetries", async () => {
    const { engine, handle, table, logger } = await setup();
    const g1 = [];
    const g2 = [];
    const bc = [];
    engine.onEntityChanged({
      kind: "sys",
      handler: (e) => g1.push(["w1", e.id]),
      delivery: { mode: "work-queue", workerGroup: "g1" },
    });
    engine.onEntityChanged({
      kind: "sys",
      handler: (e) => g1.push(["w2", e.id]),
      delivery: { mode: "work-queue", workerGroup: "g1" },
    });
    let attempts = 0;
    engine.onEntityChanged({
      kind: "sys",
      handler: (e) => {
        attempts++;
        if (attempts < 3) throw new Error("flaky");
        g2.push(e.id);
      },
      delivery: { mode: "work-queue", workerGroup: "g2", maxRetries: 2 },
    });
    engine.onEntityChanged({ kind: "sys", handler: (e) => bc.push(e.id) });
    for (const id of ["a", "b", "c", "d"]) await handle.mutate({ id, apply: table.put(id, sys(id)) });
    assert.equal(g1.length, 4, "each change handled once in group g1");
    assert.deepEqual(
      g1.map(([, id]) => id),
      ["a", "b", "c", "d"],
    );
    assert.ok(g1.some(([w]) => w === "w1") && g1.some(([w]) => w === "w2"), "the group shares the work");
    assert.deepEqual(g2, ["a", "b", "c", "d"]);
    assert.equal(attempts, 6);
    assert.deepEqual(bc, ["a", "b", "c", "d"]);
    assert.equal(logger.errors.length, 0);
  });

  test("derivers: union in registration order, deduped, bad ids dropped, throwing deriver skipped", async () => {
    const { engine, handle, table, events, logger } = await setup();
    const d1 = (c) => (c.prev === null ? ["x.created", "x.any"] : ["x.any"]);
    engine.registerChangeDeriver({ kind: "sys", derive: d1 });
    engine.registerChangeDeriver({ kind: "sys", derive: d1 }); // harmless
    engine.registerChangeDeriver({
      kind: "sys",
      derive: () => {
        throw new Error("bad deriver");
      },
    });
    engine.registerChangeDeriver({ kind: "sys", derive: () => ["x.any", "", 42, null, "x.last"] });
    await handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
    assert.deepEqual(engine.derive(events[0]), ["x.created", "x.any", "x.last"]);
    assert.ok(logger.warnings.some((w) => /bad deriver/.test(w)));
    assert.deepEqual(engine.derive({ ...events[0], kind: "unknown" }), []);
    assert.equal(engine.payload(events[0]), undefined, "no mapper: undefined");
  });

  test("payload mappers: one per kind", async () => {
    const { engine, handle, table, events } = await setup();
    const derive = () => ["p"];
    const toPayload = (c) => ({ sid: c.id, name: c.next?.name });
    engine.registerChangeDeriver({ kind: "sys", derive, toPayload });
    engine.registerChangeDeriver({ kind: "sys", derive, toPayload }); // the same mapper again
    await rejectsWith(
      () => engine.registerChangeDeriver({ kind: "sys", derive, toPayload: () => ({}) }),
      ErrorCode.ER_DUPLICATE_MAPPER,
      /sys/,
    );
    await handle.mutate({ id: "a", apply: table.put("a", sys("ann")) });
    assert.deepEqual(engine.payload(events[0]), { sid: "a", name: "ann" });
  });

  test("declareNonReactiveState is recorded and listable", async () => {
    const { engine } = await setup();
    engine.declareNonReactiveState({ table: "health_samples", reason: "raw-sample", note: "high volume" });
    engine.declareNonReactiveState({ table: "api_keys", reason: "sensitive", note: "" });
    assert.deepEqual(engine.nonReactiveDeclarations(), [
      { table: "health_samples", reason: "raw-sample", note: "high volume" },
      { table: "api_keys", reason: "sensitive", note: "" },
    ]);
    await rejectsWith(
      () => engine.declareNonReactiveState({ table: "t", reason: "whim", note: "" }),
      ErrorCode.ER_BAD_ARGUMENT,
      /reason/,
    );
  });
});

describe("§7 run-secret masking", () => {
  test("registry: register, overlap, deep, steps, drop, unknown runs", async () => {
    const { engine } = await setup();
    const s = engine.secrets;
    s.register("r1", ["abc", "abcdef", "", 42, "abc", "pässwörd"]);
    assert.equal(s.maskText("r1", "xabcdefx abc"), "x****x ****");
    assert.equal(s.maskText("r1", "my pässwörd!"), "my ****!");
    assert.deepEqual(s.maskDeep("r1", { a: ["abc", 1, true, null], b: { c: "zabcz" }, n: 5 }), {
      a: ["****", 1, true, null],
      b: { c: "z****z" },
      n: 5,
    });
    assert.equal(s.maskDeep("r1", 7), 7);
    // An object with an `error` member is data, never read as a failure.
    assert.deepEqual(s.maskDeep("r1", { error: "token abc", code: 5 }), { error: "token ****", code: 5 });
    assert.deepEqual(s.maskDeepForStep("nobody", { error: "abc" }), { error: "abc" });
    assert.equal(s.maskText("nobody", "abc"), "abc");
    s.linkStep("step-1", "r1");
    assert.equal(s.maskTextForStep("step-1", "abc!"), "****!");
    assert.deepEqual(s.maskDeepForStep("step-1", ["abc"]), ["****"]);
    s.drop("r1");
    assert.equal(s.maskText("r1", "abc"), "abc");
    assert.equal(s.maskTextForStep("step-1", "abc"), "abc", "drop also drops the run's step links");
  });

  test("run secrets are masked in events and rows (both stores); the returned and stored state is not", async () => {
    for (const store of [undefined, new HostStore()]) {
      const { engine, handle, table, events } = await setup({ transitions: store });
      engine.secrets.register("run-1", ["hunter2", "tok-XYZ"]);
      await handle.mutate({ id: "a", apply: table.put("a", sys("a", { metadata: { old: "tok-XYZ" } })) });
      const next = sys("a", { description: "pw hunter2", metadata: { deep: [{ k: "x hunter2 y" }], n: 5 } });
      const out = await handle.mutate({ id: "a", opts: { runId: "run-1" }, apply: table.put("a", next) });
      assert.deepEqual(out, next, "the caller gets the unmasked state");
      assert.deepEqual(table.rows.get("a"), next, "the host stores the real value");
      const ev = events.at(-1);
      const text = JSON.stringify(ev);
      assert.ok(!text.includes("hunter2") && !text.includes("tok-XYZ"), text);
      assert.equal(ev.next.metadata.deep[0].k, "x **** y");
      assert.deepEqual(ev.prev.metadata, { old: "****" });
      const rows = store ? store.rows : await handle.history("a");
      const last = rows.filter((r) => r.transitionedAt.getTime() === rows.at(-1).transitionedAt.getTime());
      assert.ok(last.length >= 2);
      for (const r of rows.slice(-2)) assert.ok(!JSON.stringify(r).includes("hunter2"), JSON.stringify(r));
      assert.ok(!JSON.stringify(await handle.history("a", { field: "metadata", limit: 1 })).includes("tok-XYZ"));
    }
  });
});

describe("§9 beyond the reference", () => {
  test("concurrent writes to one id run one after another in call order", async () => {
    const { handle, table, events } = await setup();
    const log = [];
    let inFlight = 0;
    const write = (i, delay) =>
      handle.mutate({
        id: "a",
        apply: async () => {
          inFlight++;
          log.push(`start ${i}`);
          assert.equal(inFlight, 1, "two applies for one id overlapped");
          await new Promise((r) => setTimeout(r, delay));
          table.rows.set("a", sys(`v${i}`));
          inFlight--;
          log.push(`end ${i}`);
          return sys(`v${i}`);
        },
      });
    await Promise.all([write(1, 20), write(2, 1), write(3, 5)]);
    assert.deepEqual(log, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
    assert.deepEqual(
      events.map((e) => [e.prev?.name ?? null, e.next.name]),
      [
        [null, "v1"],
        ["v1", "v2"],
        ["v2", "v3"],
      ],
    );
    const names = (await handle.history("a", { field: "name" })).map((r) => `${r.fromValue}->${r.toValue}`);
    assert.deepEqual(names, ["v2->v3", "v1->v2", "null->v1"]);
  });

  test("different ids proceed concurrently", async () => {
    const { handle, table } = await setup();
    let inFlight = 0;
    let peak = 0;
    const write = (id) =>
      handle.mutate({
        id,
        apply: async () => {
          peak = Math.max(peak, ++inFlight);
          await new Promise((r) => setTimeout(r, 10));
          inFlight--;
          table.rows.set(id, sys(id));
          return sys(id);
        },
      });
    await Promise.all(["a", "b", "c"].map(write));
    assert.equal(peak, 3);
  });

  test("a failed write frees its place in line", async () => {
    const { handle, table, engine } = await setup();
    const first = handle.mutate({
      id: "a",
      apply: async () => {
        throw new Error("x");
      },
    });
    const second = handle.mutate({ id: "a", apply: table.put("a", sys("a")) });
    const bad = handle.mutate({ id: "a", apply: async () => ({ name: 1 }) });
    const third = handle.mutate({ id: "a", apply: table.put("a", sys("b")) });
    await assert.rejects(first);
    assert.deepEqual(await second, sys("a"));
    await rejectsWith(bad, ErrorCode.ER_SCHEMA);
    assert.deepEqual(await third, sys("b"));
    assert.equal(engine.pendingWrites, 0);
  });

  test("ingest: 10,000 entries in one call", async () => {
    const { engine, handle, table, events } = await setup();
    table.rows.set("s0", sys("n0"));
    table.rows.set("gone", sys("gone"));
    const entries = Array.from({ length: 10_000 }, (_, i) => ({
      id: `s${i}`,
      next: sys(`n${i}`, { metadata: { i } }),
    }));
    entries.push({ id: "gone", next: null });
    const readsBefore = table.reads.length;
    const changes = await engine.ingest("sys", entries);
    assert.equal(table.reads.length, readsBefore + 1, "one read for the whole batch");
    assert.equal(changes.length, 10_001);
    assert.equal(events.length, 10_001);
    assert.deepEqual(changes[0].changedFields, ["metadata"]); // s0 existed with the same name
    assert.equal(changes[1].prev, null);
    assert.deepEqual(changes.at(-1).delta, {});
    assert.equal(changes.at(-1).next, null);
    assert.equal((await handle.history("s9999")).length, 2);
    await rejectsWith(engine.ingest("nope", [{ id: "a", next: sys("a") }]), ErrorCode.ER_UNKNOWN_KIND);
    await rejectsWith(engine.ingest("sys", [{ id: 5, next: sys("a") }]), ErrorCode.ER_BAD_ID);
    await rejectsWith(
      engine.ingest("sys", [
        { id: "ok", next: sys("a") },
        { id: "bad", next: { name: 1 } },
      ]),
      ErrorCode.ER_SCHEMA,
      /entry 1/,
    );
    assert.equal((await handle.history("ok")).length, 0, "a bad entry fails the whole batch");
    assert.deepEqual(await engine.ingest("sys", []), []);
  });

  test("a run's secrets in opts.actor are masked in the event; a write without a run keeps its actor", async () => {
    const { engine, handle, table, events } = await setup();
    engine.secrets.register("run-a", ["hunter2"]);
    const actor = { type: "user", id: "u-hunter2", meta: { note: "pw hunter2" } };
    await handle.mutate({ id: "a", opts: { runId: "run-a", actor }, apply: table.put("a", sys("a")) });
    assert.deepEqual(events.at(-1).actor, { type: "user", id: "u-****", meta: { note: "pw ****" } });
    assert.equal(actor.id, "u-hunter2", "the caller's object is not changed");
    await handle.mutate({ id: "b", opts: { actor }, apply: table.put("b", sys("b")) });
    assert.deepEqual(events.at(-1).actor, actor, "no run: nothing to mask");
    const [change] = await engine.ingest("sys", [{ id: "c", next: sys("c") }], { runId: "run-a", actor });
    assert.equal(change.actor.id, "u-****");
  });

  test("an id holding a secret of its run is refused with ER_SECRET_IN_ID before read; the engine keeps working", async () => {
    for (const store of [undefined, new HostStore()]) {
      const { engine, handle, table, events } = await setup({ transitions: store });
      engine.secrets.register("run-s", ["hunter2"]);
      let applied = 0;
      const apply = () => {
        applied++;
        return sys("x");
      };
      const e = await rejectsWith(
        handle.mutate({ id: "sys-hunter2-1", opts: { runId: "run-s" }, apply }),
        ErrorCode.ER_SECRET_IN_ID,
        /run "run-s"/,
      );
      assert.equal(e.path, "id");
      assert.ok(!e.message.includes("hunter2"), "the message never echoes the id: " + e.message);
      await rejectsWith(handle.remove({ id: "hunter2", opts: { runId: "run-s" }, apply }), ErrorCode.ER_SECRET_IN_ID);
      const b = await rejectsWith(
        engine.ingest(
          "sys",
          [
            { id: "ok", next: sys("o") },
            { id: "x-hunter2", next: sys("x") },
          ],
          { runId: "run-s" },
        ),
        ErrorCode.ER_SECRET_IN_ID,
      );
      assert.equal(b.path, "[1].id");
      assert.deepEqual(table.reads, [], "read is never called for a refused write");
      assert.equal(applied, 0);
      assert.equal(events.length, 0);
      assert.equal((await handle.history("ok")).length, 0, "the batch is refused whole");
      if (store) assert.equal(store.rows.length, 0);
      // The same id without the run, or under a run without that secret, is an ordinary write.
      await handle.mutate({ id: "sys-hunter2-1", apply: table.put("sys-hunter2-1", sys("x")) });
      await handle.mutate({
        id: "sys-hunter2-1",
        opts: { runId: "other" },
        apply: table.put("sys-hunter2-1", sys("y")),
      });
      assert.equal(events.length, 2);
      // After drop the run has no secrets left to protect.
      engine.secrets.drop("run-s");
      await handle.mutate({ id: "hunter2", opts: { runId: "run-s" }, apply: table.put("hunter2", sys("z")) });
      assert.equal(events.at(-1).id, "hunter2");
    }
  });

  test("ingest under a run: repeated ids diff unmasked states; events are snapshots", async () => {
    const { engine, handle } = await setup();
    engine.secrets.register("run-i", ["tok-SECRET"]);
    const first = sys("a", { metadata: { token: "tok-SECRET" } });
    const second = sys("a", { metadata: { token: "tok-SECRET", n: 2 } });
    const changes = await engine.ingest(
      "sys",
      [
        { id: "a", next: first },
        { id: "a", next: second },
      ],
      { runId: "run-i" },
    );
    // The second entry starts from the first's unmasked state: only metadata.n changed.
    assert.deepEqual(changes[1].changedFields, ["metadata"]);
    assert.deepEqual(changes[1].prev.metadata, { token: "****" });
    assert.deepEqual(changes[1].delta, { metadata: { n: 2, token: "****" } });
    const rows = await handle.history("a", { field: "metadata" });
    assert.deepEqual(
      rows.map((r) => [r.fromValue, r.toValue]),
      [
        ['{"token":"****"}', '{"n":2,"token":"****"}'],
        [null, '{"token":"****"}'],
      ],
    );
    assert.ok(!JSON.stringify(changes).includes("SECRET"));
    // Changing the host's objects afterwards changes no event.
    second.name = "changed later";
    first.metadata.token = "x";
    const plain = await engine.ingest("sys", [{ id: "b", next: second }]);
    second.metadata.n = 99;
    assert.equal(plain[0].next.name, "changed later");
    assert.equal(plain[0].next.metadata.n, 2);
    assert.equal(changes[0].next.name, "a");
  });

  test("ingest with a host store appends the batch in one transaction", async () => {
    const store = new HostStore();
    const { engine, events } = await setup({ transitions: store });
    const changes = await engine.ingest("sys", [
      { id: "a", next: sys("a") },
      { id: "b", next: sys("b") },
      { id: "a", next: sys("a2") },
    ]);
    assert.equal(store.transactions, 1);
    assert.deepEqual(
      store.rows.map((r) => `${r.entityId}.${r.field}:${r.fromValue}->${r.toValue}`),
      [
        // appendTransitions is per entity: rows come grouped by entity, in order within each.
        "a.metadata:null->{}",
        "a.name:null->a",
        "a.name:a->a2",
        "b.metadata:null->{}",
        "b.name:null->b",
      ],
    );
    assert.deepEqual(
      changes.map((c) => c.prev?.name ?? null),
      [null, null, "a"],
    );
    assert.equal(events.length, 3);
  });

  test("bad input gets a clear typed error and the engine keeps working", async () => {
    const { engine, handle, table, events } = await setup();
    const deep = {};
    let cur = deep;
    for (let i = 0; i < 300; i++) cur = cur.x = {};
    const cases = [
      [sys("\ud800"), ErrorCode.ER_LONE_SURROGATE],
      [sys("a", { metadata: deep }), ErrorCode.ER_TOO_DEEP],
      [sys("a", { metadata: { blob: "x".repeat(20 * 1024 * 1024) } }), ErrorCode.ER_TOO_LARGE],
      [[1, 2], ErrorCode.ER_NOT_OBJECT],
      [undefined, ErrorCode.ER_NOT_OBJECT],
      ["text", ErrorCode.ER_NOT_OBJECT],
    ];
    for (const [state, code] of cases) {
      await rejectsWith(handle.mutate({ id: "a", apply: async () => state }), code);
      if (state === undefined) continue; // an undefined prev is "absent", not bad input
      table.rows.set("bad-prev", state);
      await rejectsWith(handle.mutate({ id: "bad-prev", apply: table.put("bad-prev", sys("ok")) }), code);
      table.rows.delete("bad-prev");
    }
    const cyclic = sys("c");
    cyclic.metadata.self = cyclic;
    await rejectsWith(handle.mutate({ id: "a", apply: async () => cyclic }), ErrorCode.ER_BAD_ARGUMENT, /serialised/);
    await rejectsWith(handle.mutate({ id: "", apply: table.put("", sys("a")) }), ErrorCode.ER_BAD_ID);
    await rejectsWith(handle.mutate({ id: 5, apply: table.put("5", sys("a")) }), ErrorCode.ER_BAD_ID);
    await rejectsWith(handle.mutate({ id: "a" }), ErrorCode.ER_BAD_ARGUMENT, /apply/);
    await rejectsWith(
      handle.mutate({ id: "a", opts: { actor: "root" }, apply: table.put("a", sys("a")) }),
      ErrorCode.ER_BAD_ARGUMENT,
      /actor/,
    );
    await rejectsWith(
      handle.mutate({ id: "a", opts: { runId: 3 }, apply: table.put("a", sys("a")) }),
      ErrorCode.ER_BAD_ARGUMENT,
      /runId/,
    );
    // __proto__ and constructor are data, and nothing reaches Object.prototype.
    const proto = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"x":1}}');
    await handle.mutate({ id: "__proto__", apply: table.put("__proto__", sys("p", { metadata: proto })) });
    assert.equal({}.polluted, undefined);
    assert.ok(Object.hasOwn(events.at(-1).delta.metadata, "__proto__"));
    assert.deepEqual(Object.keys(events.at(-1).next.metadata).sort(), ["__proto__", "constructor"]);
    assert.equal(engine.pendingWrites, 0);
    await handle.mutate({ id: "fine", apply: table.put("fine", sys("fine")) });
    assert.equal(events.at(-1).id, "fine");
  });

  test("history(id, { field, limit }) reads the log newest first", async () => {
    const { handle, table, clock } = await setup();
    for (let i = 0; i < 5; i++) {
      await handle.mutate({ id: "a", apply: table.put("a", sys(`n${i}`)) });
      clock.advance(1);
    }
    assert.deepEqual(
      (await handle.history("a", { field: "name", limit: 2 })).map((r) => r.toValue),
      ["n4", "n3"],
    );
    assert.equal((await handle.history("a")).length, 6);
    assert.deepEqual(await handle.history("nobody"), []);
  });
});

describe("lifecycle", () => {
  test("close() frees the engine; later calls throw ER_CLOSED", async () => {
    const { engine, handle, table } = await setup();
    engine.close();
    engine.close();
    await rejectsWith(handle.mutate({ id: "a", apply: table.put("a", sys("a")) }), ErrorCode.ER_CLOSED);
    await rejectsWith(() => engine.kinds(), ErrorCode.ER_CLOSED);
  });

  test("createEngine rejects bad options with typed errors", async () => {
    await rejectsWith(createEngine({ emit: 5 }), ErrorCode.ER_BAD_ARGUMENT, /emit/);
    await rejectsWith(createEngine({ now: "x" }), ErrorCode.ER_BAD_ARGUMENT, /now/);
    await rejectsWith(createEngine({ bufferLimit: -1 }), ErrorCode.ER_BAD_ARGUMENT, /bufferLimit/);
    await rejectsWith(
      createEngine({ transitions: { runInTransaction() {} } }),
      ErrorCode.ER_BAD_ARGUMENT,
      /appendTransitions/,
    );
    await rejectsWith(createEngine("x"), ErrorCode.ER_BAD_ARGUMENT);
    await rejectsWith(createEngine({ wasm: 42 }), ErrorCode.ER_BAD_ARGUMENT, /wasm must be/);
  });

  test("createEngine accepts a WebAssembly.Module or bytes", async () => {
    const { readFile } = await import("node:fs/promises");
    const bytes = await readFile(new URL("../../js/wasm/entity-reactor.wasm", import.meta.url));
    for (const wasm of [bytes, await WebAssembly.compile(bytes)]) {
      const engine = await createEngine({ wasm, emit: () => {} });
      const table = new Table();
      const h = engine.defineEntity({ kind: "k", state: systemSchema, read: table.read });
      assert.deepEqual(await h.mutate({ id: "a", apply: table.put("a", sys("a")) }), sys("a"));
      engine.close();
    }
  });
});

describe("zod states", () => {
  test("a zod 4 object schema is converted with zod's own JSON-Schema export", async () => {
    const { z } = await import("zod");
    const { engine } = await setup();
    const table = new Table();
    const events = [];
    engine.onEntityChanged({ kind: "zsys", handler: (e) => events.push(e) });
    const h = engine.defineEntity({
      kind: "zsys",
      state: z.object({
        name: z.string().min(1),
        description: z.string().nullable(),
        tier: z.int().default(2),
        tags: z.array(z.enum(["a", "b"])).optional(),
        metadata: z.record(z.string(), z.unknown()),
      }),
      read: table.read,
    });
    const out = await h.mutate({
      id: "a",
      apply: table.put("a", { name: "x", description: null, metadata: { k: [1] }, extra: true }),
    });
    assert.deepEqual(
      out,
      { description: null, metadata: { k: [1] }, name: "x", tier: 2 },
      "stripped like zod's parse, default filled",
    );
    assert.deepEqual(events[0].changedFields, ["metadata", "name", "tier"]);
    const e = await rejectsWith(
      h.mutate({ id: "a", apply: table.put("a", { name: "x", description: null, metadata: {}, tags: ["c"] }) }),
      ErrorCode.ER_SCHEMA,
    );
    assert.equal(e.path, "tags[0]");
    await rejectsWith(
      h.mutate({ id: "a", apply: table.put("a", { name: "", description: null, metadata: {} }) }),
      ErrorCode.ER_SCHEMA,
      /name/,
    );
    await rejectsWith(
      () => engine.defineEntity({ kind: "zstr", state: z.string(), read: table.read }),
      ErrorCode.ER_BAD_SCHEMA,
      /zstr/,
    );
  });
});
