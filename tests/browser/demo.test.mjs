// The demo page (web-demo/) in a real headless Chromium: create, rename, edit
// metadata, mask, delete; the events, derived triggers and history the page
// shows; persistence in IndexedDB across a reload; a second tab that sees the
// first tab's change without writing history twice. Any console error, page
// error or failed request fails the test. Keeps tests/artifacts/demo.png.
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { launchBrowser, root, startServer, watch } from "./harness.mjs";

const ARTIFACTS = path.join(root, "tests/artifacts");
const SECRET = "tok-SECRET-4711";
let server;
let browser;
let context;
let page; // the first tab
const errors = [];

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  context.setDefaultTimeout(10_000);
  page = watch(await context.newPage(), errors);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(() => {
  assert.deepEqual(errors, [], "no console errors, page errors or failed requests");
});

const tid = (id) => `[data-testid="${id}"]`;

async function ready(p) {
  await p.waitForSelector("body[data-ready=true]");
}

const streamCount = (p) => p.locator(tid("stream-item")).count();

/** Waits until the page has no work in flight (it keeps aria-busy on <body> meanwhile). */
async function settled(p) {
  await p.waitForSelector("body:not([aria-busy])", { state: "attached" });
}

/** Waits for the n-th change card, then for the re-render that follows the write. */
async function waitForStream(p, n) {
  await p.waitForFunction((n) => document.querySelectorAll('[data-testid="stream-item"]').length >= n, n);
  await settled(p);
}

/** Runs action (a click that writes), waits for its ENTITY_CHANGED card and returns it. */
async function changeAfter(p, action) {
  const n = await streamCount(p);
  await action();
  await waitForStream(p, n + 1);
  return latestChange(p);
}

/** The newest change card in the stream, as data. */
function latestChange(p) {
  return p.evaluate(() => {
    const item = document.querySelector('[data-testid="stream-item"]');
    const text = (sel) => item.querySelector(`[data-testid="${sel}"]`)?.textContent ?? null;
    return {
      kind: item.dataset.kind,
      id: item.dataset.id,
      origin: item.dataset.origin,
      changedFields: [...item.querySelectorAll('[data-testid="changed-fields"] code')].map((c) => c.textContent),
      triggers: [...item.querySelectorAll('[data-testid="trigger"]')].map((t) => t.textContent),
      delta: JSON.parse(text("delta")),
      payload: text("payload") === null ? null : JSON.parse(text("payload")),
      actor: text("actor"),
      time: item.querySelector("time").getAttribute("datetime"),
    };
  });
}

function historyRows(p) {
  return p.$$eval('[data-testid="history-row"]', (rows) =>
    rows.map((r) => {
      const [, field, from, to] = [...r.children].map((td) => td.textContent);
      return { field, from, to };
    }),
  );
}

async function waitForHistory(p, n) {
  await p.waitForFunction((n) => document.querySelectorAll('[data-testid="history-row"]').length === n, n);
}

async function systemIdByName(p, name) {
  const item = p.locator(tid("system-item"), { hasText: name });
  await item.waitFor();
  return item.getAttribute("data-id");
}

/** Reads a row of the demo's host table straight from IndexedDB. */
function storedRow(p, storeName, id) {
  return p.evaluate(
    ({ storeName, id }) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("entity-reactor-demo");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const get = db.transaction(storeName).objectStore(storeName).get(id);
          get.onsuccess = () => {
            db.close();
            resolve(get.result ?? null);
          };
          get.onerror = () => reject(get.error);
        };
      }),
    { storeName, id },
  );
}

/** The transition log of an entity, through the adapter the page uses. */
function loggedRows(p, kind, entityId) {
  return p.evaluate(
    async ({ kind, entityId }) => {
      const { createIndexedDbTransitionStore } = await import("/js/src/stores/indexeddb.js");
      const store = createIndexedDbTransitionStore({ dbName: "entity-reactor-demo-log" });
      const rows = await store.history({ kind, entityId });
      await store.close();
      return rows.map((r) => ({ field: r.field, fromValue: r.fromValue, toValue: r.toValue }));
    },
    { kind, entityId },
  );
}

let billingId;
let searchId;
let groupId;

test("the page loads the engine with no console errors", async () => {
  await page.goto(server.url);
  await ready(page);
  assert.match(await page.locator(tid("status")).textContent(), /engine ready/);
  assert.equal(await streamCount(page), 0);
});

test("create a system: ENTITY_CHANGED, catalog.created and three history rows", async () => {
  await page.fill(tid("new-system-name"), "Billing API");
  await page.fill(tid("new-system-description"), "Charges cards");
  await page.fill(tid("new-system-metadata"), '{"tier": "gold"}');
  await page.click(tid("create-system"));
  await waitForStream(page, 1);
  billingId = await systemIdByName(page, "Billing API");
  const change = await latestChange(page);
  assert.equal(change.kind, "catalog-system");
  assert.equal(change.id, billingId);
  assert.equal(change.origin, "local");
  assert.deepEqual(change.changedFields, ["description", "metadata", "name"]);
  assert.deepEqual(change.delta, { description: "Charges cards", metadata: { tier: "gold" }, name: "Billing API" });
  assert.deepEqual(change.triggers, ["catalog.created"]);
  assert.deepEqual(change.payload, {
    systemId: billingId,
    systemName: "Billing API",
    changedFields: ["description", "metadata", "name"],
  });
  assert.match(change.actor, /^user Demo user/);
  assert.match(change.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  // The new system is selected: its history (the create's rows have no "from").
  assert.equal(await page.locator(tid("details-id")).textContent(), billingId);
  await waitForHistory(page, 3);
  const rows = await historyRows(page);
  assert.deepEqual(rows.map((r) => r.field).sort(), ["description", "metadata", "name"]);
  assert.ok(rows.every((r) => r.from === "—"));
  assert.deepEqual(rows.find((r) => r.field === "metadata").to, '{"tier":"gold"}');
  assert.match(await page.locator(tid("since-name")).textContent(), /^since /);
});

test("rename it: only name changes, catalog.updated with changedFields [name]", async () => {
  await page.fill(tid("edit-name"), "Billing Service");
  await page.click(tid("save"));
  await waitForStream(page, 2);
  const change = await latestChange(page);
  assert.deepEqual(change.changedFields, ["name"]);
  assert.deepEqual(change.delta, { name: "Billing Service" });
  assert.deepEqual(change.triggers, ["catalog.updated"]);
  assert.deepEqual(change.payload, { systemId: billingId, systemName: "Billing Service", changedFields: ["name"] });
  await waitForHistory(page, 4);
  assert.deepEqual((await historyRows(page))[0], { field: "name", from: "Billing API", to: "Billing Service" });
  assert.match(await page.locator(tid("editor-message")).textContent(), /Saved: name changed/);
  assert.equal(await page.locator(tid("system-item"), { hasText: "Billing Service" }).count(), 1);
});

test("edit its metadata: catalog.updated with changedFields [metadata]", async () => {
  await page.fill(tid("edit-metadata"), '{"tier": "platinum", "owner": "payments"}');
  await page.click(tid("save"));
  await waitForStream(page, 3);
  const change = await latestChange(page);
  assert.deepEqual(change.changedFields, ["metadata"]);
  assert.deepEqual(change.delta, { metadata: { owner: "payments", tier: "platinum" } });
  assert.deepEqual(change.triggers, ["catalog.updated"]);
  assert.deepEqual(change.payload.changedFields, ["metadata"]);
  await waitForHistory(page, 5);
  assert.deepEqual((await historyRows(page))[0], {
    field: "metadata",
    from: '{"tier":"gold"}',
    to: '{"owner":"payments","tier":"platinum"}',
  });
  // The history filter reads one field's rows.
  await page.selectOption(tid("history-field"), "name");
  await waitForHistory(page, 2);
  assert.deepEqual(
    (await historyRows(page)).map((r) => r.to),
    ["Billing Service", "Billing API"],
  );
  await page.selectOption(tid("history-field"), "");
  await waitForHistory(page, 5);
});

test("invalid input shows a clear message and changes nothing", async () => {
  const before = await storedRow(page, "systems", billingId);
  const events = await streamCount(page);
  const message = page.locator(tid("editor-message"));

  await page.fill(tid("edit-metadata"), '{"tier": ');
  await page.click(tid("save"));
  await page.waitForSelector(`${tid("editor-message")}.error`);
  assert.match(await message.textContent(), /Metadata is not valid JSON/);

  await page.fill(tid("edit-metadata"), '{"tier": "platinum", "owner": "payments"}');
  await page.fill(tid("edit-name"), "   ");
  await page.click(tid("save"));
  await page.waitForFunction(() =>
    /Name is required/.test(document.querySelector('[data-testid="editor-message"]').textContent),
  );

  // Metadata that parses but is not an object: the engine's schema rejects it
  // (after apply wrote the row, so the page puts the previous row back).
  await page.fill(tid("edit-name"), "Billing Service");
  await page.fill(tid("edit-metadata"), "[1, 2]");
  await page.click(tid("save"));
  await page.waitForFunction(() =>
    /ER_SCHEMA/.test(document.querySelector('[data-testid="editor-message"]').textContent),
  );
  assert.match(await message.textContent(), /metadata/);

  await page.fill(tid("new-system-name"), "");
  await page.click(tid("create-system"));
  await page.waitForFunction(() =>
    /Name is required/.test(document.querySelector('[data-testid="new-system-message"]').textContent),
  );

  assert.deepEqual(await storedRow(page, "systems", billingId), before);
  assert.equal(await streamCount(page), events);
  assert.equal((await loggedRows(page, "catalog-system", billingId)).length, 5);
  assert.equal(await page.locator(tid("system-item")).count(), 1);
});

test("masking: the event and the log show ****, the stored row keeps the secret", async () => {
  // A second system, kept to the end.
  await page.fill(tid("new-system-name"), "Search");
  await page.fill(tid("new-system-metadata"), '{"region": "eu"}');
  await page.click(tid("create-system"));
  await waitForStream(page, 4);
  searchId = await systemIdByName(page, "Search");

  await page.fill(tid("mask-run-id"), "run-42");
  await page.fill(tid("mask-secrets"), SECRET);
  await page.click(tid("mask-register-button"));
  await page.waitForFunction(() =>
    /Registered 1 secret for run-42/.test(document.querySelector('[data-testid="mask-register-message"]').textContent),
  );
  await page.selectOption(tid("mask-system"), searchId);
  await page.fill(tid("mask-metadata"), JSON.stringify({ apiToken: SECRET, note: `uses ${SECRET} daily` }));
  const change = await changeAfter(page, () => page.click(tid("mask-run")));
  await page.waitForSelector(`${tid("mask-event")}:not(:empty)`);
  assert.equal(change.id, searchId);
  assert.deepEqual(change.triggers, ["catalog.updated"]);
  assert.deepEqual(change.delta, { metadata: { apiToken: "****", note: "uses **** daily", region: "eu" } });
  const maskedEvent = await page.locator(tid("mask-event")).textContent();
  const maskedLog = await page.locator(tid("mask-history")).textContent();
  const stored = await page.locator(tid("mask-stored")).textContent();
  assert.ok(maskedEvent.includes("****") && !maskedEvent.includes(SECRET), maskedEvent);
  assert.ok(maskedLog.includes("****") && !maskedLog.includes(SECRET), maskedLog);
  assert.ok(stored.includes(SECRET), stored);
  assert.equal((await storedRow(page, "systems", searchId)).metadata.apiToken, SECRET);
  const logged = await loggedRows(page, "catalog-system", searchId);
  assert.ok(!JSON.stringify(logged).includes(SECRET));
  assert.ok(!(await page.locator(tid("stream")).textContent()).includes(SECRET));
});

test("groups likewise: created, renamed (no trigger), deleted", async () => {
  await page.fill(tid("new-group-name"), "Temp");
  let change = await changeAfter(page, () => page.click(tid("create-group")));
  const tempId = await page.locator(tid("group-item"), { hasText: "Temp" }).getAttribute("data-id");
  assert.equal(change.kind, "catalog-group");
  assert.deepEqual(change.triggers, ["catalog.group.created"]);
  assert.deepEqual(change.payload, { groupId: tempId, groupName: "Temp" });
  change = await changeAfter(page, () => page.click(tid("delete")));
  assert.deepEqual(change.triggers, ["catalog.group.deleted"]);
  assert.deepEqual(change.payload, { groupId: tempId });

  await page.fill(tid("new-group-name"), "Payments");
  await page.fill(tid("new-group-metadata"), '{"team": "core"}');
  change = await changeAfter(page, () => page.click(tid("create-group")));
  groupId = change.id;
  assert.deepEqual(change.changedFields, ["metadata", "name"]);
  assert.equal(await page.locator(tid("details-id")).textContent(), groupId);
  assert.equal(await page.locator("#editor-description").isHidden(), true, "groups have no description");
  await page.fill(tid("edit-name"), "Payments Core");
  change = await changeAfter(page, () => page.click(tid("save")));
  assert.deepEqual(change.changedFields, ["name"]);
  assert.deepEqual(change.triggers, [], "a group update derives no trigger");
  assert.match(await page.locator(tid("triggers")).first().textContent(), /none for this change/);
  await waitForHistory(page, 3);
  assert.deepEqual((await historyRows(page))[0], { field: "name", from: "Payments", to: "Payments Core" });
  assert.deepEqual(await page.$$eval('[data-testid="group-item"]', (els) => els.map((e) => e.dataset.id)), [groupId]);
});

test("delete the first system: catalog.deleted, gone from the list, history kept in the log", async () => {
  await page.click(`${tid("system-item")}[data-id="${billingId}"] button`);
  await page.waitForFunction(
    (id) => document.querySelector('[data-testid="details-id"]').textContent === id,
    billingId,
  );
  const change = await changeAfter(page, () => page.click(tid("delete")));
  assert.equal(change.id, billingId);
  assert.deepEqual(change.changedFields, ["description", "metadata", "name"]);
  assert.deepEqual(change.delta, {});
  assert.deepEqual(change.triggers, ["catalog.deleted"]);
  assert.deepEqual(change.payload, { systemId: billingId, changedFields: ["description", "metadata", "name"] });
  await page.waitForFunction(
    (id) => !document.querySelector(`[data-testid="system-item"][data-id="${id}"]`),
    billingId,
  );
  assert.equal(await storedRow(page, "systems", billingId), null);
  // A tombstone appends no rows; the five rows of its life stay.
  assert.equal((await loggedRows(page, "catalog-system", billingId)).length, 5);

  // Show the kept system for the screenshot.
  await page.click(`${tid("system-item")}[data-id="${searchId}"] button`);
  await waitForHistory(page, 3); // created with description null: name and metadata, then metadata
  await page.screenshot({ path: path.join(ARTIFACTS, "demo.png"), fullPage: true });
});

test("after a reload the data is still in IndexedDB", async () => {
  await page.reload();
  await ready(page);
  assert.equal(await streamCount(page), 0);
  const items = await page.$$eval('[data-testid="system-item"]', (els) => els.map((e) => e.dataset.id));
  assert.deepEqual(items, [searchId]);
  assert.deepEqual(await page.$$eval('[data-testid="group-item"]', (els) => els.map((e) => e.textContent)), [
    `Payments Core${groupId} · 1 metadata key`,
  ]);
  await page.click(`${tid("system-item")}[data-id="${searchId}"] button`);
  await waitForHistory(page, 3);
  const rows = await historyRows(page);
  assert.equal(rows[0].field, "metadata");
  assert.ok(rows[0].to.includes("****"));
  assert.equal(await page.inputValue(tid("edit-name")), "Search");
  assert.deepEqual(JSON.parse(await page.inputValue(tid("edit-metadata"))), {
    apiToken: SECRET,
    note: `uses ${SECRET} daily`,
    region: "eu",
  });
  assert.match(await page.locator(tid("since-name")).textContent(), /^since /);
});

test("a second tab sees the first tab's change, and history is written once", async () => {
  const second = watch(await context.newPage(), errors);
  try {
    await second.goto(server.url);
    await ready(second);
    await second.click(`${tid("system-item")}[data-id="${searchId}"] button`);
    await waitForHistory(second, 3);

    await page.fill(tid("edit-name"), "Search (EU)");
    await page.click(tid("save"));
    await waitForStream(page, 1);

    await waitForStream(second, 1);
    const seen = await latestChange(second);
    assert.equal(seen.origin, "remote");
    assert.equal(seen.id, searchId);
    assert.deepEqual(seen.changedFields, ["name"]);
    assert.deepEqual(seen.triggers, ["catalog.updated"]);
    assert.deepEqual(seen.payload, { systemId: searchId, systemName: "Search (EU)", changedFields: ["name"] });
    assert.match(await second.locator(tid("origin")).first().textContent(), /from tab/);
    await second.locator(tid("system-item"), { hasText: "Search (EU)" }).waitFor();
    // The second tab re-read the log: one new row, not two.
    await waitForHistory(second, 4);
    await waitForHistory(page, 4);
    assert.deepEqual((await historyRows(second))[0], { field: "name", from: "Search", to: "Search (EU)" });
    assert.equal((await loggedRows(second, "catalog-system", searchId)).length, 4);
    assert.equal(await streamCount(page), 1);
    assert.equal(await streamCount(second), 1);
    await second.screenshot({ path: path.join(ARTIFACTS, "demo-second-tab.png"), fullPage: true });
  } finally {
    await second.close();
  }
});
