// The bad-input matrix (SPEC §9): one table of everything a host or an
// attacker can hand the public API — wrong types for every option and
// argument, non-object states, NaN/Infinity, 300-deep nesting, a 20 MB
// state, lone surrogates, __proto__/constructor keys, bad ids, duplicate
// kinds, unknown kinds in ingest. Each row either throws an
// EntityReactorError with a stable code or is handled as data; after every
// row the engine still works (a canary write commits and emits), no write is
// left in line, and nothing has reached Object.prototype.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine, EntityReactorError, ErrorCode, withEntityWrite, withEntityRemove } from "../../js/src/index.js";
import { Table, FakeClock, quietLogger, systemSchema, sys } from "./helpers.mjs";

const looseSchema = { type: "object", additionalProperties: true };
const deep = (n) => {
  const root = {};
  let cur = root;
  for (let i = 0; i < n; i++) cur = cur.x = {};
  return root;
};
const cyclic = () => {
  const o = sys("c");
  o.metadata.self = o;
  return o;
};
const typeName = (v) => {
  const t =
    typeof v === "symbol"
      ? "symbol"
      : typeof v === "bigint"
        ? `${v}n`
        : typeof v === "function"
          ? "function"
          : (JSON.stringify(v) ?? String(v));
  return t.length > 120 ? `${t.slice(0, 120)}... (${t.length} chars)` : t;
};

test("bad-input matrix: a typed error with a stable code, or data; the engine keeps working", async () => {
  const clock = new FakeClock();
  const logger = quietLogger();
  const table = new Table();
  const loose = new Table();
  const events = [];
  const engine = await createEngine({ now: clock.now, logger, emit: (e) => events.push(e) });
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  const lh = engine.defineEntity({ kind: "loose", state: looseSchema, read: loose.read });
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  const put = (t, id, state) => t.put(id, state);

  // [name, action, expected]: expected is an ErrorCode (must throw an
  // EntityReactorError with that code) or a function checking the result.
  const rows = [];
  const row = (name, action, expected) => rows.push([name, action, expected]);
  const data = (check = () => {}) => ({ data: check }); // handled as data: the result is checked
  const oneOf = (...codes) => ({ codes }); // one of these codes

  // ---------------------------------------------------------- createEngine options
  for (const v of [null, 5, "x", [], () => {}])
    row(`createEngine(${typeName(v)})`, () => createEngine(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, "x", {}, true])
    row(`createEngine({ emit: ${typeName(v)} })`, () => createEngine({ emit: v }), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, "x", null, {}])
    row(`createEngine({ now: ${typeName(v)} })`, () => createEngine({ now: v }), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [-1, 1.5, NaN, Infinity, "10", null, {}])
    row(
      `createEngine({ bufferLimit: ${typeName(v)} })`,
      () => createEngine({ bufferLimit: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [-1, 1.5, NaN, Infinity, "4", null])
    row(
      `createEngine({ retentionPerEntity: ${typeName(v)} })`,
      () => createEngine({ retentionPerEntity: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [5, "x", {}, { warn() {} }, { warn: 1, error() {} }, null])
    row(`createEngine({ logger: ${typeName(v)} })`, () => createEngine({ logger: v }), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, "x", [], {}, { runInTransaction() {}, appendTransitions() {} }])
    row(
      `createEngine({ transitions: ${typeName(v)} })`,
      () => createEngine({ transitions: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [42, true, {}, []])
    row(`createEngine({ wasm: ${typeName(v)} })`, () => createEngine({ wasm: v }), ErrorCode.ER_BAD_ARGUMENT);
  // Bytes that are not the module, or a module without its imports: a typed
  // error, not a hang (and a later good createEngine still works).
  for (const v of [new Uint8Array([0, 1, 2, 3]), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])])
    row(`createEngine({ wasm: ${typeName(v)} })`, () => createEngine({ wasm: v }), ErrorCode.ER_BAD_WASM);
  row(
    "createEngine({ now: () => NaN }) then a write",
    async () => {
      const e = await createEngine({ now: () => NaN, logger });
      const t = new Table();
      const h = e.defineEntity({ kind: "k", state: systemSchema, read: t.read });
      try {
        await h.mutate({ id: "a", apply: t.put("a", sys("a")) });
      } finally {
        assert.equal(e.pendingWrites, 0);
        e.close();
      }
    },
    ErrorCode.ER_BAD_ARGUMENT,
  );

  // ---------------------------------------------------------- defineEntity
  for (const v of [undefined, null, 5, "sys", []])
    row(`defineEntity(${typeName(v)})`, () => engine.defineEntity(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [undefined, null, 5, {}, [], "", "  ", "\t\n"])
    row(
      `defineEntity kind ${typeName(v)}`,
      () => engine.defineEntity({ kind: v, state: systemSchema, read: table.read }),
      ErrorCode.ER_BAD_KIND,
    );
  row(
    "defineEntity duplicate kind",
    () => engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read }),
    ErrorCode.ER_DUPLICATE_KIND,
  );
  row(
    "defineEntity duplicate kind (loose)",
    () => engine.defineEntity({ kind: "loose", state: looseSchema, read: table.read }),
    ErrorCode.ER_DUPLICATE_KIND,
  );
  for (const v of [
    undefined,
    null,
    5,
    "object",
    [],
    { type: "string" },
    { type: "object", properties: 5 },
    { type: "object", required: "x" },
    { type: 7 },
    { anyOf: 3 },
  ])
    row(
      `defineEntity state ${typeName(v)}`,
      () => engine.defineEntity({ kind: `bad-${rows.length}`, state: v, read: table.read }),
      ErrorCode.ER_BAD_SCHEMA,
    );
  row(
    "defineEntity state 300 deep",
    () =>
      engine.defineEntity({
        kind: "deep-schema",
        state: { type: "object", properties: { a: deep(300) } },
        read: table.read,
      }),
    oneOf(ErrorCode.ER_TOO_DEEP, ErrorCode.ER_BAD_SCHEMA),
  );
  row(
    "defineEntity state with a cycle",
    () => {
      const s = { type: "object", properties: {} };
      s.properties.self = s;
      return engine.defineEntity({ kind: "cyclic-schema", state: s, read: table.read });
    },
    ErrorCode.ER_BAD_ARGUMENT,
  );
  for (const v of [undefined, null, 5, "read", {}])
    row(
      `defineEntity read ${typeName(v)}`,
      () => engine.defineEntity({ kind: `r-${rows.length}`, state: systemSchema, read: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [null, 1, "true", {}])
    row(
      `defineEntity strict ${typeName(v)}`,
      () => engine.defineEntity({ kind: `s-${rows.length}`, state: systemSchema, read: table.read, strict: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  row(
    "defineEntity kind __proto__ is data",
    () => engine.defineEntity({ kind: "__proto__", state: looseSchema, read: loose.read }),
    data((h) => assert.equal(h.kind, "__proto__")),
  );
  row(
    "defineEntity kind constructor is data",
    () => engine.defineEntity({ kind: "constructor", state: looseSchema, read: loose.read }),
    data((h) => assert.equal(h.kind, "constructor")),
  );

  // ---------------------------------------------------------- mutate / remove arguments
  for (const op of ["mutate", "remove"]) {
    for (const v of [undefined, null, 5, "a", []])
      row(`${op}(${typeName(v)})`, () => handle[op](v), ErrorCode.ER_BAD_ARGUMENT);
    for (const v of [undefined, null, 5, {}, [], true, ""])
      row(`${op} id ${typeName(v)}`, () => handle[op]({ id: v, apply: table.put("z", sys("z")) }), ErrorCode.ER_BAD_ID);
    for (const v of [undefined, null, 5, "f", {}])
      row(`${op} apply ${typeName(v)}`, () => handle[op]({ id: "a", apply: v }), ErrorCode.ER_BAD_ARGUMENT);
    for (const v of [5, "x", true, [], () => {}])
      row(
        `${op} opts ${typeName(v)}`,
        () => handle[op]({ id: "a", opts: v, apply: table.put("a", sys("a")) }),
        ErrorCode.ER_BAD_ARGUMENT,
      );
    for (const v of ["root", 5, [], {}, { type: 5 }, { type: "" }, { id: "u" }])
      row(
        `${op} opts.actor ${typeName(v)}`,
        () => handle[op]({ id: "a", opts: { actor: v }, apply: table.put("a", sys("a")) }),
        ErrorCode.ER_BAD_ARGUMENT,
      );
    for (const v of [5, "", {}, [], true, NaN, Infinity])
      row(
        `${op} opts.runId ${typeName(v)}`,
        () => handle[op]({ id: "a", opts: { runId: v }, apply: table.put("a", sys("a")) }),
        ErrorCode.ER_BAD_ARGUMENT,
      );
    row(
      `${op} opts.runId with a lone surrogate`,
      () => handle[op]({ id: "a", opts: { runId: "r\ud800" }, apply: table.put("a", sys("a")) }),
      ErrorCode.ER_LONE_SURROGATE,
    );
    row(
      `${op} opts.actor NaN`,
      () => handle[op]({ id: "a", opts: { actor: NaN }, apply: table.put("a", sys("a")) }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
    row(
      `${op} opts with a cyclic actor`,
      () => {
        const actor = { type: "user" };
        actor.self = actor;
        return handle[op]({ id: "a", opts: { actor }, apply: table.put("a", sys("a")) });
      },
      ErrorCode.ER_BAD_ARGUMENT,
    );
  }
  // opts.runId null / actor null mean "not given"
  row(
    "mutate opts { runId: null, actor: null } is data",
    () => handle.mutate({ id: "nul", opts: { runId: null, actor: null }, apply: table.put("nul", sys("n")) }),
    data(() => assert.deepEqual(events.at(-1).actor, { type: "system" })),
  );
  // Lone surrogates in ids/kinds/fields would reach the core as U+FFFD (or worse), so two ids would name one entity.
  for (const id of ["x\ud800", "\udc00", "a\udbff"]) {
    row(
      `mutate id ${JSON.stringify(id)}`,
      () => handle.mutate({ id, apply: table.put(id, sys("a")) }),
      ErrorCode.ER_LONE_SURROGATE,
    );
    row(
      `remove id ${JSON.stringify(id)}`,
      () => handle.remove({ id, apply: table.del(id) }),
      ErrorCode.ER_LONE_SURROGATE,
    );
    row(
      `ingest id ${JSON.stringify(id)}`,
      () => engine.ingest("sys", [{ id, next: sys("a") }]),
      ErrorCode.ER_LONE_SURROGATE,
    );
    row(`history id ${JSON.stringify(id)}`, () => handle.history(id), ErrorCode.ER_LONE_SURROGATE);
    row(
      `transitionCount id ${JSON.stringify(id)}`,
      () => handle.transitionCount({ id, field: "name", windowMs: 1 }),
      ErrorCode.ER_LONE_SURROGATE,
    );
    row(`inStateSince id ${JSON.stringify(id)}`, () => handle.inStateSince(id, "name"), ErrorCode.ER_LONE_SURROGATE);
  }
  row(
    "history field with a lone surrogate",
    () => handle.history("a", { field: "n\ud800" }),
    ErrorCode.ER_LONE_SURROGATE,
  );
  row(
    "defineEntity kind with a lone surrogate",
    () => engine.defineEntity({ kind: "k\ud800", state: looseSchema, read: loose.read }),
    ErrorCode.ER_LONE_SURROGATE,
  );
  row(
    "ingest kind with a lone surrogate",
    () => engine.ingest("k\ud800", [{ id: "a", next: {} }]),
    ErrorCode.ER_LONE_SURROGATE,
  );
  row(
    "mutate id __proto__ is data",
    () => handle.mutate({ id: "__proto__", apply: table.put("__proto__", sys("p")) }),
    data((s) => assert.deepEqual(s, sys("p"))),
  );
  row(
    "mutate id constructor is data",
    () => handle.mutate({ id: "constructor", apply: table.put("constructor", sys("c")) }),
    data((s) => assert.deepEqual(s, sys("c"))),
  );
  row(
    "mutate actor with __proto__ key is data",
    () =>
      handle.mutate({
        id: "act",
        opts: { actor: JSON.parse('{"type":"user","__proto__":{"polluted":1}}') },
        apply: table.put("act", sys("act")),
      }),
    data(() => assert.ok(Object.hasOwn(events.at(-1).actor, "__proto__"))),
  );

  for (const [fn, name] of [
    [withEntityWrite, "withEntityWrite"],
    [withEntityRemove, "withEntityRemove"],
  ]) {
    for (const v of [undefined, null, 5, "x", []])
      row(`${name}(${typeName(v)})`, () => fn(v), ErrorCode.ER_BAD_ARGUMENT);
    for (const v of [5, "h", {}, { mutate: 1, remove: 1 }])
      row(
        `${name} handle ${typeName(v)}`,
        () => fn({ handle: v, id: "a", apply: table.put("a", sys("a")) }),
        ErrorCode.ER_BAD_ARGUMENT,
      );
    for (const v of [undefined, 5, "f"])
      row(`${name} apply ${typeName(v)}`, () => fn({ handle, id: "a", apply: v }), ErrorCode.ER_BAD_ARGUMENT);
    row(`${name} without a handle just runs apply`, () => fn({ id: "a", apply: async () => sys("w") }), data());
    row(`${name} id 5 through a handle`, () => fn({ handle, id: 5, apply: async () => sys("w") }), ErrorCode.ER_BAD_ID);
  }

  // ---------------------------------------------------------- states
  const states = [
    ["array", [1, 2], ErrorCode.ER_NOT_OBJECT],
    ["string", "text", ErrorCode.ER_NOT_OBJECT],
    ["number", 5, ErrorCode.ER_NOT_OBJECT],
    ["boolean", true, ErrorCode.ER_NOT_OBJECT],
    ["null", null, ErrorCode.ER_NOT_OBJECT],
    ["undefined", undefined, ErrorCode.ER_NOT_OBJECT],
    ["NaN (a top-level number)", NaN, ErrorCode.ER_NOT_OBJECT],
    ["a Date", new Date(0), ErrorCode.ER_NOT_OBJECT],
    ["a BigInt field", { name: 1n }, ErrorCode.ER_BAD_ARGUMENT],
    ["a cycle", cyclic(), ErrorCode.ER_BAD_ARGUMENT],
    ["300-deep nesting", sys("d", { metadata: deep(300) }), ErrorCode.ER_TOO_DEEP],
    ["a 20 MB state", sys("big", { metadata: { blob: "x".repeat(20 * 1024 * 1024) } }), ErrorCode.ER_TOO_LARGE],
    ["a lone high surrogate in a value", sys("\ud800"), ErrorCode.ER_LONE_SURROGATE],
    ["a lone low surrogate in a value", sys("a", { metadata: { k: "x\udc00y" } }), ErrorCode.ER_LONE_SURROGATE],
    ["a lone surrogate in a key", sys("a", { metadata: { ["k\ud83d"]: 1 } }), ErrorCode.ER_LONE_SURROGATE],
    ["a schema violation", { name: 5, description: null, metadata: {} }, ErrorCode.ER_SCHEMA],
  ];
  for (const [what, state, code] of states) {
    row(`apply returns ${what}`, () => handle.mutate({ id: "st", apply: async () => state }), code);
    if (state === undefined || state === null) continue; // an absent prev is a create, not bad input
    row(
      `read returns ${what} as prev`,
      async () => {
        table.rows.set("bad-prev", state);
        try {
          return await handle.mutate({ id: "bad-prev", apply: async () => sys("ok") });
        } finally {
          table.rows.delete("bad-prev");
        }
      },
      code === ErrorCode.ER_SCHEMA ? data() : code,
    ); // stored data that no longer validates is compared as it is
  }
  row(
    "a surrogate pair is fine",
    () => lh.mutate({ id: "emoji", apply: put(loose, "emoji", { "😀": "😀", s: "\ud83d\ude00" }) }),
    data((s) => assert.equal(s.s, "😀")),
  );
  row(
    "NaN and Infinity are data (null)",
    () => lh.mutate({ id: "nan", apply: put(loose, "nan", { a: NaN, b: Infinity, c: -Infinity, d: 1 }) }),
    data(() => {
      const e = events.at(-1);
      assert.deepEqual(e.changedFields, ["d"], "NaN/Infinity serialise as null: unchanged from absent");
    }),
  );
  row(
    "NaN nested is data",
    () => lh.mutate({ id: "nan2", apply: put(loose, "nan2", { m: { a: NaN, b: [Infinity] } }) }),
    data(() => assert.equal(events.at(-1).delta.m.a, null)),
  );
  row("255-deep nesting is data", () => lh.mutate({ id: "deep-ok", apply: put(loose, "deep-ok", deep(250)) }), data());
  row(
    "__proto__ and constructor keys are data",
    () =>
      lh.mutate({
        id: "proto",
        apply: put(
          loose,
          "proto",
          JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":1}'),
        ),
      }),
    data(() => {
      const e = events.at(-1);
      assert.deepEqual(e.changedFields, ["__proto__", "constructor", "prototype"]);
      assert.ok(Object.hasOwn(e.delta, "__proto__"));
      assert.ok(Object.hasOwn(e.next, "__proto__"));
      assert.equal(Object.getPrototypeOf(e.next), Object.prototype);
    }),
  );
  row(
    "__proto__ key in a validated (stripping) kind",
    () =>
      handle.mutate({
        id: "proto2",
        apply: put(
          table,
          "proto2",
          JSON.parse('{"name":"p","description":null,"metadata":{"__proto__":{"x":1}},"__proto__":{"polluted":1}}'),
        ),
      }),
    data((s) => {
      assert.equal(Object.hasOwn(s, "__proto__"), false, "the unknown top-level key is stripped");
      assert.ok(Object.hasOwn(s.metadata, "__proto__"));
    }),
  );
  row(
    "an empty key is data",
    async () => {
      await lh.mutate({ id: "empty-key", apply: put(loose, "empty-key", { "": 1, b: 1 }) });
      return lh.mutate({ id: "empty-key", apply: put(loose, "empty-key", { "": 2, b: 1 }) });
    },
    data(async () => {
      assert.deepEqual(events.at(-1).changedFields, [""]);
      assert.deepEqual(
        (await lh.history("empty-key", { field: "" })).map((r) => r.toValue),
        ["2", "1"],
        'history of the field ""',
      );
      assert.equal((await lh.history("empty-key")).length, 3);
      assert.equal(await lh.transitionCount({ id: "empty-key", field: "", windowMs: 1e9 }), 2);
    }),
  );

  // ---------------------------------------------------------- reads
  for (const v of [undefined, null, 5, {}, []])
    row(`get(${typeName(v)})`, () => handle.get(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [undefined, null, 5, "a", [5], [null]])
    row(`getMany(${typeName(v)})`, () => handle.getMany(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const [id, field] of [
    [5, "name"],
    ["a", 5],
    [undefined, undefined],
    [null, "name"],
  ])
    row(
      `inStateSince(${typeName(id)}, ${typeName(field)})`,
      () => handle.inStateSince(id, field),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [5, null, {}]) row(`history(${typeName(v)})`, () => handle.history(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, "x", true, () => {}])
    row(`history("a", ${typeName(v)})`, () => handle.history("a", v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, {}, null])
    row(`history field ${typeName(v)}`, () => handle.history("a", { field: v }), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [-1, 1.5, NaN, Infinity, "2", null])
    row(`history limit ${typeName(v)}`, () => handle.history("a", { limit: v }), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [undefined, null, 5, "a", []])
    row(`transitionCount(${typeName(v)})`, () => handle.transitionCount(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, null, undefined])
    row(
      `transitionCount id ${typeName(v)}`,
      () => handle.transitionCount({ id: v, field: "name", windowMs: 1 }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [5, null, undefined])
    row(
      `transitionCount field ${typeName(v)}`,
      () => handle.transitionCount({ id: "a", field: v, windowMs: 1 }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [-1, NaN, "5", null, undefined, {}])
    row(
      `transitionCount windowMs ${typeName(v)}`,
      () => handle.transitionCount({ id: "a", field: "name", windowMs: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  row(
    "transitionCount windowMs Infinity is data (everything)",
    () => handle.transitionCount({ id: "__proto__", field: "name", windowMs: Infinity }),
    data((n) => assert.equal(n, 1)),
  );
  row(
    "transitionCount windowMs 1e300 is data",
    () => handle.transitionCount({ id: "__proto__", field: "name", windowMs: 1e300 }),
    data((n) => assert.equal(n, 1)),
  );

  // ---------------------------------------------------------- delivery
  for (const v of [undefined, null, 5, "sys"])
    row(`onEntityChanged(${typeName(v)})`, () => engine.onEntityChanged(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [undefined, null, 5, "", {}])
    row(
      `onEntityChanged kind ${typeName(v)}`,
      () => engine.onEntityChanged({ kind: v, handler() {} }),
      ErrorCode.ER_BAD_KIND,
    );
  for (const v of [undefined, null, 5, "f", {}])
    row(
      `onEntityChanged handler ${typeName(v)}`,
      () => engine.onEntityChanged({ kind: "sys", handler: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [
    null,
    5,
    "broadcast",
    {},
    { mode: "fanout" },
    { mode: "work-queue" },
    { mode: "work-queue", workerGroup: "" },
    { mode: "work-queue", workerGroup: 5 },
    { mode: "work-queue", workerGroup: "g", maxRetries: -1 },
    { mode: "work-queue", workerGroup: "g", maxRetries: 1.5 },
    { mode: "work-queue", workerGroup: "g", maxRetries: "2" },
  ])
    row(
      `onEntityChanged delivery ${typeName(v)}`,
      () => engine.onEntityChanged({ kind: "sys", handler() {}, delivery: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [undefined, null, 5, "d"])
    row(`registerChangeDeriver(${typeName(v)})`, () => engine.registerChangeDeriver(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [undefined, null, 5, "", {}])
    row(
      `registerChangeDeriver kind ${typeName(v)}`,
      () => engine.registerChangeDeriver({ kind: v, derive: () => [] }),
      ErrorCode.ER_BAD_KIND,
    );
  for (const v of [undefined, null, 5, "f"])
    row(
      `registerChangeDeriver derive ${typeName(v)}`,
      () => engine.registerChangeDeriver({ kind: "sys", derive: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [null, 5, "f", {}])
    row(
      `registerChangeDeriver toPayload ${typeName(v)}`,
      () => engine.registerChangeDeriver({ kind: "sys", derive: () => [], toPayload: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  row(
    "registerChangeDeriver a second mapper",
    () => {
      engine.registerChangeDeriver({ kind: "loose", derive: () => ["l"], toPayload: () => 1 });
      engine.registerChangeDeriver({ kind: "loose", derive: () => ["l"], toPayload: () => 2 });
    },
    ErrorCode.ER_DUPLICATE_MAPPER,
  );
  for (const v of [undefined, null, 5, "change", {}, { kind: 5 }])
    row(`derive(${typeName(v)})`, () => engine.derive(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [undefined, null, 5, {}, { kind: 5 }])
    row(`payload(${typeName(v)})`, () => engine.payload(v), ErrorCode.ER_BAD_ARGUMENT);
  row(
    "derive of an unknown kind is data",
    () => engine.derive({ kind: "nope", id: "x" }),
    data((ids) => assert.deepEqual(ids, [])),
  );
  for (const v of [undefined, null, 5, "emit", {}])
    row(`wire(${typeName(v)})`, () => engine.wire(v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [
    undefined,
    null,
    5,
    { table: 5, reason: "sensitive" },
    { table: "t", reason: "whim" },
    { table: "", reason: "sensitive" },
    { table: "t", reason: "sensitive", note: 5 },
  ])
    row(`declareNonReactiveState(${typeName(v)})`, () => engine.declareNonReactiveState(v), ErrorCode.ER_BAD_ARGUMENT);

  // ---------------------------------------------------------- secrets
  const s = engine.secrets;
  for (const m of ["register", "linkStep", "maskText", "maskTextForStep", "maskDeep", "maskDeepForStep", "drop"])
    for (const v of [undefined, null, 5, "", {}, []])
      row(
        `secrets.${m}(${typeName(v)}, ...)`,
        () => s[m](v, m === "register" ? ["x"] : "x"),
        ErrorCode.ER_BAD_ARGUMENT,
      );
  for (const v of [undefined, null, 5, "secret", {}])
    row(`secrets.register("r", ${typeName(v)})`, () => s.register("r", v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [5, "", "ok"])
    row(
      `secrets.linkStep("step", ${typeName(v)})`,
      () => s.linkStep("step", v),
      v === "ok" ? data() : ErrorCode.ER_BAD_ARGUMENT,
    );
  row(
    "secrets.register with non-strings and empties is data",
    () => s.register("r-mixed", [5, null, "", {}, "tok-1"]),
    data(() => assert.equal(s.maskText("r-mixed", "a tok-1 b"), "a **** b")),
  );
  row(
    "secrets.register with a lone surrogate keeps the other values",
    () => s.register("r-lone", ["\ud800", "tok-2", "pass\udc00word"]),
    data(() => {
      assert.equal(s.maskText("r-lone", "a tok-2 b"), "a **** b");
      assert.equal(
        s.maskText("r-lone", "x pass\udc00word y"),
        "x ****\udc00**** y",
        "no piece of an ill-formed secret survives",
      );
    }),
  );
  row(
    "secrets.maskText keeps lone surrogates as they are",
    () => s.maskText("r-lone", "\ud800tok-2\udc00 \ud83d\ude00 \udfff"),
    data((out) => assert.equal(out, "\ud800****\udc00 \ud83d\ude00 \udfff")),
  );
  row(
    "secrets.maskDeep of a lone-surrogate string keeps it",
    () => s.maskDeep("r-lone", "tok-2\ud800"),
    data((out) => assert.equal(out, "****\ud800")),
  );
  row(
    "secrets.maskDeep of an object with a lone surrogate",
    () => s.maskDeep("r-lone", { a: "tok-2\ud800" }),
    ErrorCode.ER_LONE_SURROGATE,
  );
  for (const v of [5, null, undefined, true])
    row(
      `secrets.maskText("r", ${typeName(v)}) is data`,
      () => s.maskText("r-mixed", v),
      data((out) => assert.equal(out, v)),
    );
  row("secrets.maskDeep of a cycle", () => s.maskDeep("r-mixed", cyclic()), ErrorCode.ER_BAD_ARGUMENT);
  row("secrets.maskDeep 300 deep", () => s.maskDeep("r-mixed", deep(300)), ErrorCode.ER_TOO_DEEP);
  row(
    "secrets.maskDeep with __proto__ keys is data",
    () => s.maskDeep("r-mixed", JSON.parse('{"__proto__":{"tok-1":"tok-1"}}')),
    data((out) => assert.deepEqual(Object.entries(out.__proto__ ?? {}), [["****", "****"]])),
  );
  row(
    "secrets.maskDeep of NaN is data",
    () => s.maskDeep("r-mixed", { a: NaN }),
    data((out) => assert.equal(out.a, null)),
  );
  row(
    "secrets for __proto__ run id are data",
    () => {
      s.register("__proto__", ["tok-3"]);
      return s.maskText("__proto__", "tok-3");
    },
    data((out) => assert.equal(out, "****")),
  );

  // ---------------------------------------------------------- ingest
  for (const v of [undefined, null, 5, {}, []])
    row(`ingest kind ${typeName(v)}`, () => engine.ingest(v, [{ id: "a", next: sys("a") }]), ErrorCode.ER_BAD_KIND);
  row("ingest unknown kind", () => engine.ingest("nope", [{ id: "a", next: sys("a") }]), ErrorCode.ER_UNKNOWN_KIND);
  row("ingest unknown kind, no entries", () => engine.ingest("nope", []), ErrorCode.ER_UNKNOWN_KIND);
  row(
    "ingest empty kind",
    () => engine.ingest("", [{ id: "a", next: sys("a") }]),
    oneOf(ErrorCode.ER_BAD_KIND, ErrorCode.ER_UNKNOWN_KIND),
  );
  for (const v of [undefined, null, 5, "entries", {}])
    row(`ingest entries ${typeName(v)}`, () => engine.ingest("sys", v), ErrorCode.ER_BAD_ARGUMENT);
  for (const v of [null, 5, "a", []])
    row(`ingest entry ${typeName(v)}`, () => engine.ingest("sys", [v]), ErrorCode.ER_BAD_ID);
  for (const v of [undefined, null, 5, {}, ""])
    row(`ingest entry id ${typeName(v)}`, () => engine.ingest("sys", [{ id: v, next: sys("a") }]), ErrorCode.ER_BAD_ID);
  for (const [what, next, code] of [
    ["array", [1], ErrorCode.ER_NOT_OBJECT],
    ["number", 5, ErrorCode.ER_NOT_OBJECT],
    ["string", "x", ErrorCode.ER_NOT_OBJECT],
    ["schema violation", { name: 1 }, ErrorCode.ER_SCHEMA],
    ["lone surrogate", sys("\udfff"), ErrorCode.ER_LONE_SURROGATE],
    ["300 deep", sys("a", { metadata: deep(300) }), ErrorCode.ER_TOO_DEEP],
    ["cycle", cyclic(), ErrorCode.ER_BAD_ARGUMENT],
  ])
    row(
      `ingest next ${what}`,
      () =>
        engine.ingest("sys", [
          { id: "i1", next: sys("ok") },
          { id: "i2", next },
        ]),
      code,
    );
  for (const v of [5, "x", null, []])
    row(
      `ingest opts ${typeName(v)}`,
      () => engine.ingest("sys", [{ id: "a", next: sys("a") }], v),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  for (const v of [5, "f", {}])
    row(
      `ingest opts.apply ${typeName(v)}`,
      () => engine.ingest("sys", [{ id: "a", next: sys("a") }], { apply: v }),
      ErrorCode.ER_BAD_ARGUMENT,
    );
  row(
    "ingest opts.runId 5",
    () => engine.ingest("sys", [{ id: "a", next: sys("a") }], { runId: 5 }),
    ErrorCode.ER_BAD_ARGUMENT,
  );
  row(
    "ingest ids __proto__ and constructor are data",
    () =>
      engine.ingest("loose", [
        { id: "__proto__", next: { a: 1 } },
        { id: "constructor", next: { b: 2 } },
        { id: "__proto__", next: null },
      ]),
    data((changes) =>
      assert.deepEqual(
        changes.map((c) => [c.id, c.next]),
        [
          ["__proto__", { a: 1 }],
          ["constructor", { b: 2 }],
          ["__proto__", null],
        ],
      ),
    ),
  );
  row(
    "ingest over a read state with a key the schema strips is no change",
    async () => {
      table.rows.set("legacy", { ...sys("l"), legacy: 1 });
      try {
        return await engine.ingest("sys", [{ id: "legacy", next: sys("l") }]);
      } finally {
        table.rows.delete("legacy");
      }
    },
    data((changes) => assert.deepEqual(changes, [], "the stripped key is not a change (as in mutate)")),
  );
  row(
    "ingest of 255-deep nesting is data, as in mutate",
    () => engine.ingest("loose", [{ id: "deep-ingest", next: deep(255) }]),
    data((changes) => assert.equal(changes.length, 1)),
  );
  row(
    "ingest of 256-deep nesting",
    () => engine.ingest("loose", [{ id: "deep-ingest2", next: deep(256) }]),
    ErrorCode.ER_TOO_DEEP,
  );
  row(
    "ingest over a 255-deep read state is data",
    async () => {
      loose.rows.set("deep-prev", deep(255));
      try {
        return await engine.ingest("loose", [{ id: "deep-prev", next: { a: 1 } }]);
      } finally {
        loose.rows.delete("deep-prev");
      }
    },
    data((changes) => assert.deepEqual(changes[0].changedFields, ["a", "x"])),
  );
  // A state in a batch has the limit of a state in a mutate (16 MiB); a
  // mutate meeting such a state as prev gets the same error.
  row(
    "ingest a 20 MB state",
    () => engine.ingest("loose", [{ id: "big", next: { blob: "y".repeat(20 * 1024 * 1024) } }]),
    ErrorCode.ER_TOO_LARGE,
  );
  row(
    "mutate after a 20 MB ingest",
    async () => {
      loose.rows.set("big", { blob: "y".repeat(20 * 1024 * 1024) });
      try {
        return await lh.mutate({ id: "big", apply: put(loose, "big", { small: 1 }) });
      } finally {
        loose.rows.delete("big");
      }
    },
    ErrorCode.ER_TOO_LARGE,
  );

  // ---------------------------------------------------------- run them
  const failures = [];
  let canary = 0;
  for (const [name, action, expected] of rows) {
    let result;
    let error;
    try {
      result = await action();
    } catch (e) {
      error = e;
    }
    try {
      if (typeof expected === "string") {
        assert.ok(error, `expected ${expected}, but it succeeded with ${typeName(result)}`);
        assert.ok(
          error instanceof EntityReactorError,
          `expected an EntityReactorError, got ${error?.constructor?.name}: ${error?.message}`,
        );
        assert.equal(error.code, expected, error.message);
        assert.ok(error.message.length > 0);
      } else if (expected.codes) {
        assert.ok(
          error instanceof EntityReactorError,
          `expected an EntityReactorError, got ${error?.constructor?.name}: ${error?.message}`,
        );
        assert.ok(expected.codes.includes(error.code), `unexpected code ${error.code}: ${error.message}`);
      } else {
        assert.equal(
          error,
          undefined,
          `expected data, got ${error?.constructor?.name} ${error?.code}: ${error?.message}`,
        );
        await expected.data(result);
      }
      // The engine keeps working.
      assert.equal(engine.pendingWrites, 0, "a write is left in line");
      const id = `canary-${canary++}`;
      const before = events.length;
      await handle.mutate({ id, apply: table.put(id, sys(id)) });
      assert.equal(events.length, before + 1, "the canary write emitted no event");
      assert.equal(events.at(-1).id, id);
      assert.equal({}.polluted, undefined, "Object.prototype was polluted");
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoBefore, "Object.prototype changed");
    } catch (e) {
      failures.push(`${name}: ${e.message}`);
    }
  }
  console.log(`bad-input matrix: ${rows.length} rows, ${failures.length} failures`);
  assert.deepEqual(failures, []);
  engine.close();
});
