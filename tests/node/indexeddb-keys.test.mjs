// The store contract's key case for entity-reactor/stores/indexeddb, which
// needs a real IndexedDB: headless Chromium through tests/browser/harness.mjs
// (the demo server serves the package). Kind "a" with id "b\0c" and kind
// "a\0b" with id "c" must stay two logs: the store keys its indexes with
// arrays [kind, entityId, ...], compared element by element, so no separator
// exists to be ambiguous — this test keeps it that way.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, startServer, watch } from "../browser/harness.mjs";

let server;
let browser;
let page;
const errors = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  page = watch(await context.newPage(), errors);
  const blank = `${server.url}__indexeddb-keys`;
  await page.route(blank, (route) =>
    route.fulfill({
      status: 200,
      contentType: "text/html",
      body: '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>keys</title>',
    }),
  );
  await page.goto(blank);
});

after(async () => {
  await browser?.close();
  await server?.stop?.();
});

test("indexeddb: a NUL in a kind or id never merges two logs, and NUL values round-trip", async () => {
  const result = await page.evaluate(async () => {
    const { createIndexedDbTransitionStore } = await import("/js/src/stores/indexeddb.js");
    const { createEngine } = await import("/js/src/index.js");
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1 },
        description: { type: ["string", "null"] },
        metadata: { type: "object", additionalProperties: {} },
      },
      required: ["name", "description", "metadata"],
      additionalProperties: false,
    };
    const store = createIndexedDbTransitionStore({ dbName: `keys-${Date.now()}` });
    const engine = await createEngine({ transitions: store });
    const tables = [new Map(), new Map()];
    const reader = (t) => async (ids) => Object.fromEntries(ids.filter((id) => t.has(id)).map((id) => [id, t.get(id)]));
    const put = (t, id, state) => async () => (t.set(id, state), state);
    const a = engine.defineEntity({ kind: "a", state: schema, read: reader(tables[0]) });
    const ab = engine.defineEntity({ kind: "a\0b", state: schema, read: reader(tables[1]) });
    const sys = (name) => ({ name, description: null, metadata: {} });
    await a.mutate({ id: "b\0c", apply: put(tables[0], "b\0c", sys("one")) });
    await ab.mutate({ id: "c", apply: put(tables[1], "c", sys("two\0nul")) });
    const rows = (list) => list.map((r) => [r.kind, r.entityId, r.field, r.toValue]).sort();
    const out = {
      one: rows(await a.history("b\0c")),
      two: rows(await ab.history("c")),
      countOne: await a.transitionCount({ id: "b\0c", field: "name", windowMs: 1e9 }),
      countTwo: await ab.transitionCount({ id: "c", field: "name", windowMs: 1e9 }),
      sinceTwo: (await ab.inStateSince("c", "name")) !== null,
      halves: [
        await store.history({ kind: "a", entityId: "b" }),
        await store.history({ kind: "a\0b", entityId: "b\0c" }),
        await store.history({ kind: "a", entityId: "c" }),
      ].map((h) => h.length),
    };
    engine.close();
    await store.close();
    return out;
  });
  assert.deepEqual(result.one, [
    ["a", "b\0c", "metadata", "{}"],
    ["a", "b\0c", "name", "one"],
  ]);
  assert.deepEqual(result.two, [
    ["a\0b", "c", "metadata", "{}"],
    ["a\0b", "c", "name", "two\0nul"],
  ]);
  assert.equal(result.countOne, 1);
  assert.equal(result.countTwo, 1);
  assert.equal(result.sinceTwo, true);
  assert.deepEqual(result.halves, [0, 0, 0]);
  assert.deepEqual(errors, []);
});
