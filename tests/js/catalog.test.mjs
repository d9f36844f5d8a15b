// SPEC §8 through entity-reactor/catalog, ending with an end-to-end run of a
// catalog service over an in-memory table.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createEngine, ErrorCode } from "../../js/src/index.js";
import {
  CATALOG_SYSTEM_ENTITY_KIND,
  CATALOG_GROUP_ENTITY_KIND,
  CATALOG_SYSTEM_TRIGGER_EVENTS,
  CATALOG_GROUP_TRIGGER_EVENTS,
  CatalogSystemStateSchema,
  catalogTriggers,
  deriveCatalogSystemTriggerEvents,
  deriveCatalogGroupTriggerEvents,
  catalogSystemChangeToPayload,
  catalogGroupChangeToPayload,
  toCatalogSystemState,
  toCatalogGroupState,
  createCatalogSystemEntityRead,
  createCatalogGroupEntityRead,
  writeCatalogSystemEntity,
  writeCatalogGroupEntity,
  removeCatalogEntity,
  createCatalogActions,
  registerCatalogEntities,
} from "../../js/src/catalog.js";
import { quietLogger } from "./helpers.mjs";

/** A catalog service over in-memory tables, shaped like Checkstack's EntityService. */
class CatalogService {
  systems = new Map();
  groups = new Map();
  deleteDuringUpdate = false;
  async getManySystemEntityStates(ids) {
    const out = {};
    for (const id of ids) if (this.systems.has(id)) out[id] = toCatalogSystemState(this.systems.get(id));
    return out;
  }
  async getManyGroupEntityStates(ids) {
    const out = {};
    for (const id of ids) if (this.groups.has(id)) out[id] = toCatalogGroupState(this.groups.get(id));
    return out;
  }
  async getSystem(id) {
    return this.systems.has(id) ? structuredClone(this.systems.get(id)) : null;
  }
  async createSystem(row) {
    this.systems.set(row.id, { createdAt: "t0", ...row });
    return structuredClone(this.systems.get(row.id));
  }
  async updateSystem(id, patch) {
    if (this.deleteDuringUpdate) this.systems.delete(id);
    if (!this.systems.has(id)) return null;
    this.systems.set(id, { ...this.systems.get(id), ...patch });
    return structuredClone(this.systems.get(id));
  }
  async deleteSystem(id) {
    this.systems.delete(id);
  }
}

async function catalogSetup() {
  const service = new CatalogService();
  const events = [];
  const engine = await createEngine({ emit: (e) => events.push(e), logger: quietLogger() });
  const { systemEntity, groupEntity } = registerCatalogEntities(engine, {
    readSystems: createCatalogSystemEntityRead(service),
    readGroups: createCatalogGroupEntityRead(service),
  });
  const triggered = () => events.map((e) => ({ events: engine.derive(e), payload: engine.payload(e) }));
  return { service, engine, systemEntity, groupEntity, events, triggered };
}

const systemWrite = (service, handle, row, opts) =>
  writeCatalogSystemEntity({
    handle,
    systemId: row.id,
    opts,
    apply: async () =>
      toCatalogSystemState(
        service.systems.has(row.id) ? await service.updateSystem(row.id, row) : await service.createSystem(row),
      ),
  });

describe("§8 constants", () => {
  test("kinds, trigger ids and schemas come from the core", () => {
    assert.equal(CATALOG_SYSTEM_ENTITY_KIND, "catalog-system");
    assert.equal(CATALOG_GROUP_ENTITY_KIND, "catalog-group");
    assert.deepEqual(CATALOG_SYSTEM_TRIGGER_EVENTS, {
      created: "catalog.created",
      updated: "catalog.updated",
      deleted: "catalog.deleted",
    });
    assert.deepEqual(CATALOG_GROUP_TRIGGER_EVENTS, {
      created: "catalog.group.created",
      deleted: "catalog.group.deleted",
    });
    assert.deepEqual(CatalogSystemStateSchema.required, ["name", "description", "metadata"]);
    assert.deepEqual(
      catalogTriggers.map((t) => [t.id, t.event]),
      [
        ["created", "catalog.created"],
        ["updated", "catalog.updated"],
        ["deleted", "catalog.deleted"],
      ],
    );
    for (const t of catalogTriggers) assert.ok(t.displayName && t.description && t.payloadSchema.type === "object");
  });
});

describe("§8 derivers, payloads and projections", () => {
  test("system and group derivation", async () => {
    await createEngine(); // loads the module for the synchronous helpers
    const next = { name: "api", description: null, metadata: {} };
    assert.deepEqual(deriveCatalogSystemTriggerEvents({ id: "s", prev: null, next, changedFields: ["name"] }), [
      "catalog.created",
    ]);
    assert.deepEqual(deriveCatalogSystemTriggerEvents({ id: "s", prev: next, next, changedFields: ["name"] }), [
      "catalog.updated",
    ]);
    assert.deepEqual(deriveCatalogSystemTriggerEvents({ id: "s", prev: next, next: null, changedFields: ["name"] }), [
      "catalog.deleted",
    ]);
    assert.deepEqual(deriveCatalogGroupTriggerEvents({ id: "g", prev: null, next, changedFields: [] }), [
      "catalog.group.created",
    ]);
    assert.deepEqual(
      deriveCatalogGroupTriggerEvents({ id: "g", prev: next, next, changedFields: ["name"] }),
      [],
      "a group update fires nothing",
    );
    assert.deepEqual(deriveCatalogGroupTriggerEvents({ id: "g", prev: next, next: null, changedFields: [] }), [
      "catalog.group.deleted",
    ]);
  });

  test("payloads: changedFields filtered to the enum in the change's order; systemName absent on a tombstone", async () => {
    await createEngine();
    const next = { name: "api2", description: null, metadata: {} };
    assert.deepEqual(
      catalogSystemChangeToPayload({
        id: "s",
        prev: next,
        next,
        changedFields: ["description", "extra", "metadata", "name"],
      }),
      {
        systemId: "s",
        systemName: "api2",
        changedFields: ["description", "metadata", "name"],
      },
    );
    assert.deepEqual(catalogSystemChangeToPayload({ id: "s", prev: next, next: null, changedFields: ["name"] }), {
      systemId: "s",
      changedFields: ["name"],
    });
    assert.deepEqual(catalogGroupChangeToPayload({ id: "g", prev: null, next }), { groupId: "g", groupName: "api2" });
    assert.deepEqual(catalogGroupChangeToPayload({ id: "g", prev: next, next: null }), { groupId: "g" });
  });

  test("projections normalise undefined and null", async () => {
    await createEngine();
    assert.deepEqual(toCatalogSystemState({ name: "a" }), { name: "a", description: null, metadata: {} });
    assert.deepEqual(toCatalogSystemState({ name: "a", description: undefined, metadata: null, id: "x" }), {
      name: "a",
      description: null,
      metadata: {},
    });
    assert.deepEqual(toCatalogSystemState({ name: "a", description: "d", metadata: { k: 1 } }), {
      name: "a",
      description: "d",
      metadata: { k: 1 },
    });
    assert.deepEqual(toCatalogGroupState({ name: "g", metadata: undefined }), { name: "g", metadata: {} });
  });

  test("payloads produced by the mappers validate against the trigger schemas", async () => {
    const { service, engine, systemEntity, events } = await catalogSetup();
    // Each payload schema becomes a strict kind; a mutate with the payload as state validates it.
    const validators = Object.fromEntries(
      catalogTriggers.map((t) => [
        t.event,
        engine.defineEntity({
          kind: `payload:${t.id}`,
          state: t.payloadSchema,
          strict: t.id === "updated",
          read: async () => ({}),
        }),
      ]),
    );
    await systemWrite(service, systemEntity, { id: "s1", name: "api", description: null, metadata: {} });
    await systemWrite(service, systemEntity, { id: "s1", name: "api", description: "d", metadata: {} });
    await removeCatalogEntity({ handle: systemEntity, id: "s1", apply: () => service.deleteSystem("s1") });
    assert.equal(events.length, 3);
    for (const e of events.slice(0, 3)) {
      const [event] = engine.derive(e);
      await validators[event].mutate({ id: e.changeId, apply: async () => engine.payload(e) });
    }
    await assert.rejects(
      validators["catalog.updated"].mutate({
        id: "x",
        apply: async () => ({ systemId: "s", systemName: "n", changedFields: ["owner"] }),
      }),
      (e) => e.code === ErrorCode.ER_SCHEMA,
    );
  });
});

describe("§8 write helpers", () => {
  test("with a handle they route through the engine; without one apply runs alone", async () => {
    const { service, systemEntity, groupEntity, events } = await catalogSetup();
    await writeCatalogSystemEntity({
      handle: undefined,
      systemId: "s0",
      apply: async () => toCatalogSystemState(await service.createSystem({ id: "s0", name: "quiet" })),
    });
    assert.ok(service.systems.has("s0"));
    await removeCatalogEntity({ handle: undefined, id: "s0", apply: () => service.deleteSystem("s0") });
    assert.ok(!service.systems.has("s0"));
    assert.equal(events.length, 0);
    await writeCatalogGroupEntity({
      handle: groupEntity,
      groupId: "g1",
      apply: async () => {
        service.groups.set("g1", { id: "g1", name: "core" });
        return toCatalogGroupState(service.groups.get("g1"));
      },
    });
    await removeCatalogEntity({ handle: groupEntity, id: "g1", apply: async () => service.groups.delete("g1") });
    assert.deepEqual(
      events.map((e) => [e.kind, e.next === null]),
      [
        ["catalog-group", false],
        ["catalog-group", true],
      ],
    );
    assert.ok(systemEntity);
  });
});

describe("§8 catalog.update_metadata", () => {
  const setupAction = async () => {
    const ctx = await catalogSetup();
    const [action] = createCatalogActions({ entityService: ctx.service, getSystemEntity: () => ctx.systemEntity });
    await systemWrite(ctx.service, ctx.systemEntity, {
      id: "s1",
      name: "api",
      description: null,
      metadata: { team: "core", tier: 1 },
    });
    ctx.events.length = 0;
    return { ...ctx, action };
  };

  test("merge (default, shallow) and replace", async () => {
    const { action, service, events, engine } = await setupAction();
    assert.equal(action.id, "update_metadata");
    assert.equal(action.qualifiedId, "catalog.update_metadata");
    const merged = await action.execute({ config: { systemId: "s1", metadata: { tier: 2, on: true } } });
    assert.deepEqual(merged, {
      success: true,
      externalId: "s1",
      artifact: { systemId: "s1", systemName: "api", metadata: { team: "core", tier: 2, on: true } },
    });
    assert.deepEqual(service.systems.get("s1").metadata, { team: "core", tier: 2, on: true });
    const replaced = await action.execute({ config: { systemId: "s1", strategy: "replace", metadata: { only: 1 } } });
    assert.deepEqual(replaced.artifact.metadata, { only: 1 });
    assert.deepEqual(service.systems.get("s1").metadata, { only: 1 });
    assert.deepEqual(
      events.map((e) => engine.derive(e)),
      [["catalog.updated"], ["catalog.updated"]],
    );
    assert.deepEqual(engine.payload(events[0]), { systemId: "s1", systemName: "api", changedFields: ["metadata"] });
  });

  test("not found, bad config, and a system deleted mid-update (no spurious catalog.updated)", async () => {
    const { action, service, events } = await setupAction();
    assert.deepEqual(await action.execute({ config: { systemId: "nope", metadata: {} } }), {
      success: false,
      error: "System not found: nope",
    });
    const bad = await action.execute({ config: { systemId: "", metadata: {} } });
    assert.equal(bad.success, false);
    assert.match(bad.error, /systemId/);
    assert.match(
      (await action.execute({ config: { systemId: "s1", strategy: "upsert", metadata: {} } })).error,
      /strategy/,
    );
    service.deleteDuringUpdate = true;
    assert.deepEqual(await action.execute({ config: { systemId: "s1", metadata: { x: 1 } } }), {
      success: false,
      error: "System s1 disappeared mid-update",
    });
    assert.equal(events.length, 0);
  });

  test("a run secret in metadata is masked in the event and the rows, not in the stored row", async () => {
    const { action, service, events, engine, systemEntity } = await setupAction();
    engine.secrets.register("run-7", ["s3cr3t-token"]);
    const result = await action.execute({
      config: { systemId: "s1", metadata: { apiKey: "s3cr3t-token", note: "key=s3cr3t-token" } },
      runId: "run-7",
    });
    assert.equal(result.success, true);
    assert.equal(service.systems.get("s1").metadata.apiKey, "s3cr3t-token", "the stored row keeps the real value");
    assert.equal(result.artifact.metadata.apiKey, "s3cr3t-token");
    const text = JSON.stringify(events);
    assert.ok(!text.includes("s3cr3t-token"), text);
    assert.equal(events[0].next.metadata.note, "key=****");
    const rows = await systemEntity.history("s1", { field: "metadata", limit: 1 });
    assert.ok(!rows[0].toValue.includes("s3cr3t-token") && rows[0].toValue.includes("****"), rows[0].toValue);
  });
});

test("end to end: a catalog service's trigger events and payloads, exactly", async () => {
  const { service, engine, systemEntity, groupEntity, triggered } = await catalogSetup();
  const [action] = createCatalogActions({ entityService: service, getSystemEntity: () => systemEntity });
  await systemWrite(service, systemEntity, { id: "api", name: "API", description: null, metadata: {} });
  await systemWrite(service, systemEntity, { id: "db", name: "DB", description: "postgres", metadata: { tier: 1 } });
  await writeCatalogGroupEntity({
    handle: groupEntity,
    groupId: "core",
    apply: async () => (service.groups.set("core", { name: "Core" }), toCatalogGroupState(service.groups.get("core"))),
  });
  await systemWrite(service, systemEntity, { id: "api", name: "Public API" }); // rename
  await systemWrite(service, systemEntity, { id: "api", name: "Public API", description: null, metadata: {} }); // no change
  await action.execute({ config: { systemId: "api", metadata: { owner: "team-a" } } });
  await writeCatalogGroupEntity({
    handle: groupEntity,
    groupId: "core",
    apply: async () => (
      service.groups.set("core", { name: "Core Services" }),
      toCatalogGroupState(service.groups.get("core"))
    ),
  });
  await removeCatalogEntity({ handle: systemEntity, id: "db", apply: () => service.deleteSystem("db") });
  await removeCatalogEntity({ handle: groupEntity, id: "core", apply: async () => service.groups.delete("core") });
  assert.deepEqual(triggered(), [
    {
      events: ["catalog.created"],
      payload: { systemId: "api", systemName: "API", changedFields: ["metadata", "name"] },
    },
    {
      events: ["catalog.created"],
      payload: { systemId: "db", systemName: "DB", changedFields: ["description", "metadata", "name"] },
    },
    { events: ["catalog.group.created"], payload: { groupId: "core", groupName: "Core" } },
    { events: ["catalog.updated"], payload: { systemId: "api", systemName: "Public API", changedFields: ["name"] } },
    {
      events: ["catalog.updated"],
      payload: { systemId: "api", systemName: "Public API", changedFields: ["metadata"] },
    },
    { events: [], payload: { groupId: "core", groupName: "Core Services" } },
    { events: ["catalog.deleted"], payload: { systemId: "db", changedFields: ["description", "metadata", "name"] } },
    { events: ["catalog.group.deleted"], payload: { groupId: "core" } },
  ]);
  const names = (await systemEntity.history("api", { field: "name" })).map((r) => [r.fromValue, r.toValue]);
  assert.deepEqual(names, [
    ["API", "Public API"],
    [null, "API"],
  ]);
  assert.deepEqual(engine.kinds(), ["catalog-group", "catalog-system"]);
});
