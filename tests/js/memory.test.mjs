// Memory that does not grow with the number of entities (issue #16): the
// prev cache and the embedded log keep to their budgets, per-id state is
// freed when an id goes idle, and a write that would not fit fails with a
// typed error and leaves nothing half-applied.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine, ErrorCode } from "../../js/src/index.js";
import { quietLogger, systemSchema } from "./helpers.mjs";

function host() {
  const rows = new Map();
  return {
    rows,
    read: async (ids) => Object.fromEntries(ids.filter((id) => rows.has(id)).map((id) => [id, rows.get(id)])),
    put: (id, state) => async () => (rows.set(id, state), state),
  };
}
const state = (i, pad = 0) => ({ name: `n${i}`, description: "x".repeat(pad), metadata: { i } });

test("the prev cache keeps to stateCacheBytes however many entities are written", async () => {
  const budget = 64 * 1024;
  const engine = await createEngine({ stateCacheBytes: budget, transitionLogBytes: 256 * 1024 });
  const h = host();
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: h.read });
  for (let i = 0; i < 3000; i++) await handle.mutate({ id: `e${i}`, apply: h.put(`e${i}`, state(i, 100)) });
  const m = engine.memory();
  assert.ok(m.stateCacheBytes <= budget, `cache ${m.stateCacheBytes} <= ${budget}`);
  assert.ok(m.transitionLogBytes <= 256 * 1024, `log ${m.transitionLogBytes}`);
  // Entities the cache and the log both let go of are freed.
  assert.ok(m.entities < 3000, `entities tracked: ${m.entities}`);
  // A write whose prev was evicted is still right (it crosses as text).
  await handle.mutate({ id: "e0", apply: h.put("e0", state(0, 5)) });
  const [row] = await handle.history("e0", { field: "description", limit: 1 });
  if (row) assert.equal(row.toValue, "xxxxx");
  engine.close();
});

test("with no cache at all every write is still right", async () => {
  const engine = await createEngine({ stateCacheBytes: 0 });
  const h = host();
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: h.read });
  const events = [];
  engine.wire((e) => events.push(e));
  await handle.mutate({ id: "a", apply: h.put("a", state(1)) });
  await handle.mutate({ id: "a", apply: h.put("a", state(2)) });
  await handle.mutate({ id: "a", apply: h.put("a", state(2)) });
  assert.deepEqual(
    events.map((e) => e.changedFields),
    [
      ["description", "metadata", "name"],
      ["metadata", "name"],
    ],
  );
  assert.equal(engine.memory().stateCacheBytes, 0);
  engine.close();
});

test("the embedded log keeps to transitionLogBytes, oldest rows first, with one warning per episode", async () => {
  const logger = quietLogger();
  const budget = 20_000;
  const engine = await createEngine({ logger, transitionLogBytes: budget });
  const h = host();
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: h.read });
  for (let i = 0; i < 400; i++) await handle.mutate({ id: `e${i % 40}`, apply: h.put(`e${i % 40}`, state(i)) });
  const m = engine.memory();
  assert.ok(m.transitionLogBytes <= budget, `log ${m.transitionLogBytes} <= ${budget}`);
  assert.equal(logger.warnings.filter((w) => /transitionLogBytes/.test(w)).length, 1);
  // Oldest first: an entity keeps its newest rows, a run of them with
  // nothing missing in between; the oldest are gone.
  const newest = await handle.history("e39", { limit: 1 });
  assert.equal(newest[0].toValue, "n399");
  const kept = (await handle.history("e0", { field: "name" })).map((r) => Number(r.toValue.slice(1)));
  assert.equal(kept[0], 360);
  assert.ok(kept.length < 10 && !kept.includes(0), `e0 keeps ${kept}`);
  kept.forEach((v, k) => assert.equal(v, 360 - 40 * k));
  engine.close();
});

test("a write that would exceed memoryLimit fails with ER_OUT_OF_MEMORY, nothing applied, and the engine goes on", async () => {
  const engine = await createEngine({ memoryLimit: 4 << 20 });
  const h = host();
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: h.read });
  const events = [];
  engine.wire((e) => events.push(e));
  await handle.mutate({ id: "small", apply: h.put("small", state(1)) });
  const huge = { name: "big", description: "y".repeat(8 << 20), metadata: {} };
  await assert.rejects(
    handle.mutate({ id: "big", apply: h.put("big", huge) }),
    (e) => e.code === ErrorCode.ER_OUT_OF_MEMORY && /nothing was written/.test(e.message),
  );
  assert.equal(events.length, 1, "no event for the failed write");
  assert.deepEqual(await handle.history("big"), [], "no rows for it");
  await handle.mutate({ id: "small", apply: h.put("small", state(2)) });
  assert.equal(events.length, 2, "the engine keeps working");
  engine.close();
});

test("the JS side of the prev cache: second-chance eviction keeps to its budget, ends on any budget, and keeps the entry just written", async () => {
  const { CommittedStates } = await import("../../js/src/states.js");
  const text = (n) => "x".repeat(n);
  // A budget smaller than one entry's bookkeeping: each remember keeps only its own entry.
  const tiny = new CommittedStates(100);
  for (let i = 0; i < 50; i++) tiny.remember(`id${i}`, { i }, i + 1, text(50));
  assert.equal(tiny.size, 1);
  const obj = { last: true };
  tiny.remember("last", obj, 99, text(50));
  assert.equal(tiny.match("last", obj).token, 99);
  // A budget for about ten entries over 100,000 ids: bounded, and an id
  // written again since the last sweep survives the next one.
  const states = new CommittedStates(10 * (64 + 100));
  const hot = { hot: true };
  states.remember("hot", hot, 1, text(100));
  for (let i = 0; i < 100_000; i++) {
    states.remember(`id${i}`, { i }, i + 2, text(100));
    if (i % 5 === 0) states.remember("hot", hot, 1, text(100));
  }
  assert.ok(states.size <= 10, `entries kept: ${states.size}`);
  assert.ok(states.match("hot", hot), "an entry used between sweeps gets its second chance");
  const o = { o: 1 };
  states.remember("x", o, 7, text(10));
  states.forget("x");
  assert.equal(states.match("x", o), undefined);
});
