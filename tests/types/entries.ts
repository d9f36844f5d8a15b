// Every entry point of the package and every name it exported in 0.1.0.
import {
  createEngine,
  EntityHandle,
  EntityReactorError,
  ErrorCode,
  SYSTEM_ACTOR,
  withEntityRemove,
  withEntityWrite,
  type Actor,
  type ChangeDeriver,
  type ChangeEvent,
  type ChangePayloadMapper,
  type Delivery,
  type Engine,
  type EngineOptions,
  type EntityDefinition,
  type EntityRead,
  type EntityState,
  type IngestEntry,
  type JsonValue,
  type Logger,
  type MutationOptions,
  type NonReactiveDeclaration,
  type NonReactiveReason,
  type SecretMasker,
  type StateSchema,
  type TransitionRow,
  type TransitionStore,
} from "entity-reactor";
import {
  CATALOG_GROUP_ENTITY_KIND,
  CATALOG_GROUP_TRIGGER_EVENTS,
  CATALOG_SYSTEM_ENTITY_KIND,
  CATALOG_SYSTEM_TRIGGER_EVENTS,
  CatalogGroupStateSchema,
  CatalogSystemStateSchema,
  catalogGroupChangeToPayload,
  catalogReady,
  catalogSystemChangeToPayload,
  catalogTriggers,
  createCatalogActions,
  createCatalogGroupEntityRead,
  createCatalogSystemEntityRead,
  deriveCatalogGroupTriggerEvents,
  deriveCatalogSystemTriggerEvents,
  registerCatalogEntities,
  removeCatalogEntity,
  systemRecordArtifactType,
  toCatalogGroupState,
  toCatalogSystemState,
  writeCatalogGroupEntity,
  writeCatalogSystemEntity,
  type CatalogGroupState,
  type CatalogKinds,
  type CatalogSystemState,
} from "entity-reactor/catalog";
import { createIndexedDbTransitionStore } from "entity-reactor/stores/indexeddb";
import { createSqliteTransitionStore, type BetterSqlite3Database } from "entity-reactor/stores/sqlite";
import { createPostgresTransitionStore, type PgPool } from "entity-reactor/stores/postgres";
import { createDurableObjectTransitionStore } from "entity-reactor/stores/durable-object";
import { createRedisBus, type RedisClientLike } from "entity-reactor/bus/redis";
import { value, type Equal, type Expect } from "./expect.js";

// The 0.1.0 type names, used so that a removed one fails to compile.
export type Names = [
  Actor, ChangeDeriver, ChangeEvent, ChangePayloadMapper, Delivery, Engine, EngineOptions, EntityDefinition,
  EntityRead, EntityState, IngestEntry, JsonValue, Logger, MutationOptions, NonReactiveDeclaration,
  NonReactiveReason, SecretMasker, StateSchema, TransitionRow, TransitionStore, EntityHandle,
];

SYSTEM_ACTOR.type satisfies "system";
ErrorCode.ER_SCHEMA satisfies ErrorCode;

// ---------------------------------------------------------------- errors

const engine = await createEngine<CatalogKinds & { todo: { title: string } }>({
  logger: { warn: () => {}, error: () => {} },
  now: () => 0,
  bufferLimit: 100,
  retentionPerEntity: 10,
  wasm: new Uint8Array(8),
});
try {
  engine.kinds();
} catch (error) {
  if (error instanceof EntityReactorError) {
    error.code satisfies ErrorCode;
    error.path satisfies string | undefined;
    if (error.code === ErrorCode.ER_SCHEMA) error.message satisfies string;
  }
}

// ---------------------------------------------------------------- catalog

await catalogReady();
const rows = new Map<string, CatalogSystemState>();
const { systemEntity, groupEntity } = registerCatalogEntities(engine, {
  readSystems: (ids) => Object.fromEntries(ids.flatMap((id) => (rows.has(id) ? [[id, rows.get(id)!]] : []))),
  readGroups: async () => ({}),
});
systemEntity.kind satisfies "catalog-system";
groupEntity.kind satisfies "catalog-group";
await systemEntity.history("api", { field: "metadata" });
// @ts-expect-error a system has no field "nmae"
await systemEntity.history("api", { field: "nmae" });
const system = toCatalogSystemState({ name: "API" });
type _system = Expect<Equal<typeof system, CatalogSystemState>>;
toCatalogGroupState({ name: "G", metadata: null }) satisfies CatalogGroupState;
await writeCatalogSystemEntity({ handle: systemEntity, systemId: "api", apply: () => system });
await writeCatalogGroupEntity({ handle: groupEntity, groupId: "g", apply: async () => ({ name: "G", metadata: {} }) });
await writeCatalogSystemEntity({ handle: undefined, systemId: "api", apply: async () => system });
await removeCatalogEntity({ handle: systemEntity, id: "api", apply: async () => {} });
engine.onEntityChanged({
  kind: CATALOG_SYSTEM_ENTITY_KIND,
  handler: (change) => {
    deriveCatalogSystemTriggerEvents(change) satisfies string[];
    catalogSystemChangeToPayload(change).changedFields satisfies ("name" | "description" | "metadata")[];
  },
});
engine.onEntityChanged({
  kind: CATALOG_GROUP_ENTITY_KIND,
  handler: (change) => {
    deriveCatalogGroupTriggerEvents(change) satisfies string[];
    catalogGroupChangeToPayload(change).groupId satisfies string;
  },
});
CATALOG_SYSTEM_TRIGGER_EVENTS.updated satisfies "catalog.updated";
CATALOG_GROUP_TRIGGER_EVENTS.created satisfies "catalog.group.created";
CatalogSystemStateSchema satisfies Record<string, unknown>;
CatalogGroupStateSchema satisfies Record<string, unknown>;
catalogTriggers[0]?.event satisfies string | undefined;
systemRecordArtifactType.id satisfies "system_record";
createCatalogSystemEntityRead({ getManySystemEntityStates: () => ({}) }) satisfies EntityRead<CatalogSystemState>;
createCatalogGroupEntityRead({ getManyGroupEntityStates: async () => ({}) }) satisfies EntityRead<CatalogGroupState>;
const [updateMetadata] = createCatalogActions({
  entityService: { getSystem: async () => null, updateSystem: async () => null },
  getSystemEntity: () => systemEntity,
});
const result = await updateMetadata!.execute({ config: { systemId: "api", metadata: { owner: "a" } }, runId: "r1" });
if (result.success) result.artifact.systemName satisfies string;
else result.error satisfies string;

// ---------------------------------------------------------------- helpers

const todos = engine.defineEntity({ kind: "todo", state: { type: "object" }, read: () => ({}) });
const w = await withEntityWrite({ handle: todos, id: "t", apply: () => ({ title: "x" }) });
w.title satisfies string;
await withEntityWrite({ handle: null, id: "t", opts: { runId: "r" }, apply: async () => ({ title: "x" }) });
await withEntityRemove({ handle: todos, id: "t", apply: () => undefined });
todos instanceof EntityHandle;
engine.secrets.maskDeep("run", { token: "x" }).token satisfies string;
engine.declareNonReactiveState({ table: "samples", reason: "raw-sample", note: "" });
engine[Symbol.dispose]();

// ---------------------------------------------------------------- stores and bus

createIndexedDbTransitionStore({ dbName: "app", storeName: "transitions" }).dbName satisfies string;
const sqlite = createSqliteTransitionStore(value<BetterSqlite3Database>(), { table: "t" });
const postgres = createPostgresTransitionStore(value<PgPool>());
const durable = createDurableObjectTransitionStore(value<Parameters<typeof createDurableObjectTransitionStore>[0]>());
void durable;
await createEngine({ transitions: sqlite });
await createEngine({ transitions: postgres });
await postgres.ready();

interface Order {
  total: number;
}
const bus = await createRedisBus<{ order: Order }>({ client: value<RedisClientLike>(), claimIdleMs: 30_000 });
bus.attach(engine);
bus.onEntityChanged({ kind: "order", handler: (change) => change.next?.total satisfies number | undefined });
// @ts-expect-error "ordr" is not a kind of this bus
bus.onEntityChanged({ kind: "ordr", handler: () => {} });
await bus[Symbol.asyncDispose]();
