// What a new user of the package met first (issue #13), each as it must be
// now: typed errors instead of hangs and untyped ones, catalog helpers
// without a hidden init in Node, the reference's shapes, one warning per
// buffer overflow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createEngine, ErrorCode, EntityReactorError } from "../../js/src/index.js";
import { Table, quietLogger, sys, systemSchema } from "./helpers.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("a wasm option that is not the module rejects with ER_BAD_WASM, and a good call works after it", async () => {
  for (const wasm of [new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), new Uint8Array([0, 1, 2, 3])]) {
    const started = Date.now();
    await assert.rejects(
      createEngine({ wasm }),
      (e) => e instanceof EntityReactorError && e.code === ErrorCode.ER_BAD_WASM && e.path === "wasm",
    );
    assert.ok(Date.now() - started < 5000, "rejects promptly, no hang");
  }
  const engine = await createEngine();
  engine.defineEntity({ kind: "ok", state: systemSchema, read: async () => ({}) });
  engine.close();
});

test("nothing runs at import and a module-scope createEngine needs no randomness until the first write", () => {
  // A fresh process where crypto.getRandomValues throws (as workerd's module
  // scope does): import + createEngine must not touch it.
  const code = `
    globalThis.crypto.getRandomValues = () => { throw new Error("Disallowed operation called within global scope"); };
    const { createEngine } = await import(${JSON.stringify(new URL("../../js/src/index.js", import.meta.url).href)});
    const engine = await createEngine();
    engine.defineEntity({ kind: "k", state: { type: "object" }, read: async () => ({}) });
    console.log("ok");`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", cwd: root });
  assert.equal(r.stdout.trim(), "ok", r.stderr);
});

test("derive, getMany and the catalog helpers throw typed errors or keep data as data", async () => {
  const engine = await createEngine();
  const rows = new Map();
  // Object.fromEntries defines "__proto__" as an own property (data).
  const read = async (ids) => Object.fromEntries(ids.filter((id) => rows.has(id)).map((id) => [id, rows.get(id)]));
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read });
  assert.throws(
    () => engine.derive({ kind: "", id: "x" }),
    (e) => e.code === ErrorCode.ER_BAD_KIND,
  );
  assert.throws(
    () => engine.derive({ kind: "   ", id: "x" }),
    (e) => e.code === ErrorCode.ER_BAD_KIND,
  );
  assert.throws(
    () => engine.derive({ kind: "sys", id: "x", next: { name: "\ud800" } }),
    (e) => e.code === ErrorCode.ER_LONE_SURROGATE,
  );
  rows.set("__proto__", sys("p"));
  const many = await handle.getMany(["__proto__", "zz"]);
  assert.deepEqual(Object.keys(many), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(many), Object.prototype);
  assert.equal(await handle.get("zz"), undefined, "absent: undefined, as in the reference");
  const catalog = await import("../../js/src/catalog.js");
  for (const bad of [undefined, null, 5, 10n, "row"])
    assert.throws(
      () => catalog.toCatalogSystemState(bad),
      (e) => e instanceof EntityReactorError && e.code === ErrorCode.ER_BAD_ARGUMENT,
      String(bad),
    );
  assert.throws(
    () => catalog.toCatalogSystemState({ name: 1n }),
    (e) => e instanceof EntityReactorError,
  );
  assert.throws(
    () => catalog.deriveCatalogSystemTriggerEvents(null),
    (e) => e instanceof EntityReactorError,
  );
  engine.close();
});

test("in Node the catalog helpers work right after import (no hidden init)", () => {
  const code = `
    const c = await import(${JSON.stringify(new URL("../../js/src/catalog.js", import.meta.url).href)});
    const triggers = c.deriveCatalogSystemTriggerEvents({ id: "s", prev: null, next: { name: "api" }, changedFields: ["name"] });
    const payload = c.catalogSystemChangeToPayload({ id: "s", prev: null, next: { name: "api" }, changedFields: ["name"] });
    console.log(JSON.stringify([triggers, payload, c.toCatalogSystemState({ name: "x" })]));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", cwd: root });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    ["catalog.created"],
    { changedFields: ["name"], systemId: "s", systemName: "api" },
    { name: "x", description: null, metadata: {} },
  ]);
});

test("kinds and worker groups made of whitespace are refused everywhere", async () => {
  const engine = await createEngine();
  const read = async () => ({});
  const kind = (e) => e.code === ErrorCode.ER_BAD_KIND;
  assert.throws(() => engine.defineEntity({ kind: " \t", state: systemSchema, read }), kind);
  assert.throws(() => engine.onEntityChanged({ kind: "  ", handler() {} }), kind);
  assert.throws(() => engine.registerChangeDeriver({ kind: "\n", derive: () => [] }), kind);
  await assert.rejects(engine.ingest("  ", [{ id: "a", next: {} }]), kind);
  assert.throws(
    () => engine.onEntityChanged({ kind: "k", handler() {}, delivery: { mode: "work-queue", workerGroup: "  " } }),
    (e) => e.code === ErrorCode.ER_BAD_ARGUMENT && e.path === "delivery.workerGroup",
  );
  engine.close();
});

test("a subscriber-only engine warns once per overflow episode and keeps the buffer bounded", async () => {
  const logger = quietLogger();
  const engine = await createEngine({ logger, bufferLimit: 5 });
  const table = new Table();
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  let handled = 0;
  engine.onEntityChanged({ kind: "sys", handler: () => handled++ });
  for (let i = 0; i < 40; i++) await handle.mutate({ id: `e${i}`, apply: table.put(`e${i}`, sys(`n${i}`)) });
  assert.equal(handled, 40, "handlers see every change");
  assert.equal(logger.warnings.length, 1, "one warning for the whole episode");
  const seen = [];
  engine.wire((e) => seen.push(e.id));
  assert.deepEqual(seen, ["e35", "e36", "e37", "e38", "e39"], "the newest bufferLimit events are flushed");
  // A new episode after the wire: none (wired), so no more warnings.
  for (let i = 0; i < 10; i++) await handle.mutate({ id: `f${i}`, apply: table.put(`f${i}`, sys(`m${i}`)) });
  assert.equal(logger.warnings.length, 1);
  engine.close();
});
