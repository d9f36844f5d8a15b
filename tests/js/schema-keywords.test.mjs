// Every schema keyword is enforced with zod's semantics or refused at
// defineEntity with a typed error naming it (SPEC §4): patterns and formats
// (run as ECMAScript RegExps), uniqueItems, not, multipleOf, counts and
// exclusive bounds; zod types whose JSON Schema cannot say what parse does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { createEngine, ErrorCode } from "../../js/src/index.js";
import { Table, quietLogger } from "./helpers.mjs";

async function kindOf(state, options = {}) {
  const engine = await createEngine({ logger: quietLogger() });
  const table = new Table();
  const handle = engine.defineEntity({ kind: "k", state, read: table.read, ...options });
  return { engine, handle, table };
}

async function accepts(handle, table, state) {
  return handle.mutate({ id: "x", apply: table.put("x", state) });
}

async function rejects(handle, table, state, path) {
  await assert.rejects(
    () => handle.mutate({ id: "x", apply: table.put("x", state) }),
    (e) => e.code === ErrorCode.ER_SCHEMA && (path === undefined || e.path === path),
    JSON.stringify(state),
  );
}

test("zod string formats and regexes are enforced as zod enforces them", async () => {
  const { engine, handle, table } = await kindOf(
    z.object({
      email: z.email().optional(),
      id: z.uuid().optional(),
      site: z.url().optional(),
      at: z.iso.datetime().optional(),
      day: z.iso.date().optional(),
      ip: z.ipv4().optional(),
      ip6: z.ipv6().optional(),
      code: z
        .string()
        .regex(/^[A-Z]{3}-\d+$/)
        .optional(),
      token: z.jwt().optional(),
    }),
  );
  const good = {
    email: "ada@example.com",
    id: "123e4567-e89b-42d3-a456-426614174000",
    site: "https://example.com/a?b=c",
    at: "2026-12-01T10:00:00Z",
    day: "2024-02-29",
    ip: "10.0.0.1",
    ip6: "2001:db8::1",
    code: "ABC-42",
    token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.sig",
  };
  assert.deepEqual(await accepts(handle, table, good), good);
  const bad = {
    email: "not an email",
    id: "123e4567",
    site: "no scheme",
    at: "2026-13-01T10:00:00Z",
    day: "2023-02-29",
    ip: "10.0.0.256",
    ip6: "2001:db8::g",
    code: "abc-42",
    token: "a.b",
  };
  for (const [field, value] of Object.entries(bad)) await rejects(handle, table, { [field]: value }, field);
  // Every valid value still accepted after the rejections: the engine keeps working.
  assert.deepEqual(await accepts(handle, table, { ...good, code: "XYZ-1" }), { ...good, code: "XYZ-1" });
  engine.close();
});

test("JSON Schema pattern, format, uniqueItems, not, multipleOf, counts and exclusive bounds", async () => {
  const { engine, handle, table } = await kindOf({
    type: "object",
    properties: {
      sku: { type: "string", pattern: "^[a-z]+-\\d{2}$" },
      mail: { type: "string", format: "email" },
      tags: { type: "array", items: { type: "string" }, uniqueItems: true, minItems: 1, maxItems: 3 },
      not5: { type: "number", not: { const: 5 } },
      step: { type: "number", multipleOf: 0.5, exclusiveMinimum: 0, exclusiveMaximum: 10 },
      bag: { type: "object", minProperties: 1, maxProperties: 2 },
      emoji: { type: "string", pattern: "^\\p{Extended_Pictographic}+$" },
    },
  });
  assert.ok(
    await accepts(handle, table, {
      sku: "ab-12",
      mail: "a@b.co",
      tags: ["x", "y"],
      not5: 4,
      step: 9.5,
      bag: { a: 1 },
      emoji: "🎉",
    }),
  );
  const cases = [
    [{ sku: "AB-12" }, "sku"],
    [{ mail: "a@b" }, "mail"],
    [{ tags: ["x", "x"] }, "tags"],
    [{ tags: [] }, "tags"],
    [{ tags: ["a", "b", "c", "d"] }, "tags"],
    [{ not5: 5 }, "not5"],
    [{ step: 0.3 }, "step"],
    [{ step: 0 }, "step"],
    [{ step: 10 }, "step"],
    [{ bag: {} }, "bag"],
    [{ bag: { a: 1, b: 2, c: 3 } }, "bag"],
    [{ emoji: "ab" }, "emoji"],
  ];
  for (const [state, path] of cases) await rejects(handle, table, state, path);
  engine.close();
});

test("record keys with a pattern are checked", async () => {
  const { engine, handle, table } = await kindOf(
    z.object({ env: z.record(z.string().regex(/^[A-Z_]+$/), z.string()) }),
  );
  assert.ok(await accepts(handle, table, { env: { HOME: "/root", PATH_X: "a" } }));
  await rejects(handle, table, { env: { home: "/root" } });
  engine.close();
});

test("an unknown or misspelt keyword is refused at defineEntity, naming it and where", async () => {
  const engine = await createEngine();
  const read = async () => ({});
  const cases = [
    [{ type: "object", properties: { n: { tpye: "number" } } }, /"tpye" at properties\.n/],
    [{ type: "object", properties: { n: { type: "string", patternn: "x" } } }, /"patternn"/],
    [{ type: "object", if: { required: ["a"] }, then: {} }, /"if"/],
    [{ type: "object", patternProperties: { "^x": {} } }, /"patternProperties"/],
    [
      { type: "object", properties: { s: { type: "string", format: "hostname-ish" } } },
      /format "hostname-ish".*cannot be checked/,
    ],
  ];
  for (const [state, message] of cases)
    assert.throws(
      () => engine.defineEntity({ kind: "bad", state, read }),
      (e) => e.code === ErrorCode.ER_BAD_SCHEMA && message.test(e.message),
      JSON.stringify(state),
    );
  // Annotations are not keywords to enforce: accepted.
  engine.defineEntity({
    kind: "annotated",
    read,
    state: {
      $schema: "x",
      title: "T",
      description: "d",
      type: "object",
      properties: { a: { type: "string", examples: ["a"], deprecated: true, readOnly: true } },
    },
  });
  engine.close();
});

test("a pattern that is no ECMAScript regular expression is refused, and the kind's name stays free", async () => {
  const engine = await createEngine();
  const read = async () => ({});
  const state = { type: "object", properties: { s: { type: "string", pattern: "(unclosed" } } };
  assert.throws(
    () => engine.defineEntity({ kind: "k", state, read }),
    (e) => e.code === ErrorCode.ER_BAD_SCHEMA && /pattern/.test(e.message),
  );
  assert.deepEqual(engine.kinds(), []);
  engine.defineEntity({ kind: "k", state: { type: "object" }, read });
  assert.deepEqual(engine.kinds(), ["k"]);
  engine.close();
});

test("zod types without a JSON Schema get a typed error, not a plain Error", async () => {
  const engine = await createEngine();
  const read = async () => ({});
  const schemas = {
    transform: z.object({ a: z.string().transform((s) => s.length) }),
    refine: z.object({ a: z.string().refine((s) => s.length > 2) }),
    superRefine: z.object({ a: z.string() }).superRefine(() => {}),
    date: z.object({ a: z.date() }),
    bigint: z.object({ a: z.bigint() }),
    coerce: z.object({ a: z.coerce.number() }),
    preprocess: z.object({ a: z.preprocess((v) => v, z.string()) }),
    catch: z.object({ a: z.string().catch("x") }),
  };
  for (const [name, state] of Object.entries(schemas))
    assert.throws(
      () => engine.defineEntity({ kind: name, state, read }),
      (e) => e.name === "EntityReactorError" && e.code === ErrorCode.ER_BAD_SCHEMA,
      name,
    );
  engine.close();
});

test("handle.validate checks a state before the host writes it", async () => {
  const { engine, handle } = await kindOf(z.object({ name: z.string().min(1), tier: z.enum(["a", "b"]).default("a") }));
  assert.deepEqual(handle.validate({ name: "x" }), { name: "x", tier: "a" });
  assert.throws(
    () => handle.validate({ name: "" }),
    (e) => e.code === ErrorCode.ER_SCHEMA && e.path === "name",
  );
  engine.close();
});
