import type { ChangeEvent, Engine, EntityHandle, EntityRead, MutationOptions, WasmSource } from "./index.js";

/** The state of a catalog-system entity: exactly these fields (unknown keys are stripped). */
export interface CatalogSystemState {
  name: string;
  description: string | null;
  metadata: Record<string, unknown>;
}
/** The state of a catalog-group entity. */
export interface CatalogGroupState {
  name: string;
  metadata: Record<string, unknown>;
}
/** The catalog's kind map, to combine with your own: `createEngine<CatalogKinds & { todo: Todo }>()`. */
export interface CatalogKinds {
  "catalog-system": CatalogSystemState;
  "catalog-group": CatalogGroupState;
}
export type CatalogSystemHandle = EntityHandle<CatalogSystemState, CatalogSystemState, "catalog-system">;
export type CatalogGroupHandle = EntityHandle<CatalogGroupState, CatalogGroupState, "catalog-group">;

export declare const CATALOG_SYSTEM_ENTITY_KIND: "catalog-system";
export declare const CATALOG_GROUP_ENTITY_KIND: "catalog-group";
export declare const CATALOG_SYSTEM_TRIGGER_EVENTS: {
  readonly created: "catalog.created";
  readonly updated: "catalog.updated";
  readonly deleted: "catalog.deleted";
};
export declare const CATALOG_GROUP_TRIGGER_EVENTS: {
  readonly created: "catalog.group.created";
  readonly deleted: "catalog.group.deleted";
};
/** JSON Schemas (as zod 4 exports them) of the two states. */
export declare const CatalogSystemStateSchema: Record<string, unknown>;
export declare const CatalogGroupStateSchema: Record<string, unknown>;

export type CatalogChangedField = "name" | "description" | "metadata";
export interface CatalogSystemPayload {
  systemId: string;
  systemName?: string;
  changedFields: CatalogChangedField[];
}
export interface CatalogGroupPayload {
  groupId: string;
  groupName?: string;
}

export interface CatalogTrigger {
  id: "created" | "updated" | "deleted";
  event: "catalog.created" | "catalog.updated" | "catalog.deleted";
  displayName: string;
  description: string;
  payloadSchema: Record<string, unknown>;
}
export declare const catalogTriggers: readonly CatalogTrigger[];
export declare const systemRecordArtifactType: {
  id: "system_record";
  displayName: string;
  description: string;
  schema: Record<string, unknown>;
};

/**
 * Resolves once the WebAssembly module is loaded. The helpers below are
 * synchronous and run in the module: in Node they work right after import;
 * in browsers and workers, where the module loads asynchronously, call
 * `await catalogReady()` (or create any engine with `createEngine()`) once
 * before using them — until then they throw ER_NOT_LOADED.
 */
export declare function catalogReady(options?: { wasm?: WasmSource }): Promise<void>;

/** The trigger events of a catalog-system change: catalog.created, catalog.updated or catalog.deleted. */
export declare function deriveCatalogSystemTriggerEvents(change: ChangeEvent<any>): string[];
/** The trigger events of a catalog-group change: catalog.group.created or catalog.group.deleted (an update gives none). */
export declare function deriveCatalogGroupTriggerEvents(change: ChangeEvent<any>): string[];
export declare function catalogSystemChangeToPayload(change: ChangeEvent<any>): CatalogSystemPayload;
export declare function catalogGroupChangeToPayload(change: ChangeEvent<any>): CatalogGroupPayload;
export declare function toCatalogSystemState(row: {
  name: string;
  description?: string | null;
  metadata?: Record<string, unknown> | null;
}): CatalogSystemState;
export declare function toCatalogGroupState(row: { name: string; metadata?: Record<string, unknown> | null }): CatalogGroupState;

export interface CatalogEntityService {
  getManySystemEntityStates(ids: string[]): Promise<Record<string, CatalogSystemState>> | Record<string, CatalogSystemState>;
  getManyGroupEntityStates(ids: string[]): Promise<Record<string, CatalogGroupState>> | Record<string, CatalogGroupState>;
}
export declare function createCatalogSystemEntityRead(service: Pick<CatalogEntityService, "getManySystemEntityStates">): EntityRead<CatalogSystemState>;
export declare function createCatalogGroupEntityRead(service: Pick<CatalogEntityService, "getManyGroupEntityStates">): EntityRead<CatalogGroupState>;

/** Routes a system write through handle.mutate; without a handle, runs apply alone. */
export declare function writeCatalogSystemEntity(args: {
  handle: EntityHandle<CatalogSystemState, CatalogSystemState, string> | undefined | null;
  systemId: string;
  opts?: MutationOptions;
  apply: () => Promise<CatalogSystemState> | CatalogSystemState;
}): Promise<void>;
/** Routes a group write through handle.mutate; without a handle, runs apply alone. */
export declare function writeCatalogGroupEntity(args: {
  handle: EntityHandle<CatalogGroupState, CatalogGroupState, string> | undefined | null;
  groupId: string;
  opts?: MutationOptions;
  apply: () => Promise<CatalogGroupState> | CatalogGroupState;
}): Promise<void>;
/** Routes a system or group delete through handle.remove; without a handle, runs apply alone. */
export declare function removeCatalogEntity(args: {
  handle: EntityHandle<any, any, string> | undefined | null;
  id: string;
  opts?: MutationOptions;
  apply: () => Promise<unknown> | unknown;
}): Promise<void>;

/**
 * Defines catalog-system and catalog-group on the engine, with their
 * derivers and payload mappers registered natively.
 */
export declare function registerCatalogEntities(
  engine: Pick<Engine, "kinds" | "close"> & { defineEntity(definition: never): unknown },
  reads: { readSystems: EntityRead<CatalogSystemState>; readGroups: EntityRead<CatalogGroupState> },
): { systemEntity: CatalogSystemHandle; groupEntity: CatalogGroupHandle };

export interface SystemRow {
  id: string;
  name: string;
  description?: string | null;
  metadata?: Record<string, unknown> | null;
  [key: string]: unknown;
}
export interface UpdateMetadataConfig {
  systemId: string;
  strategy?: "merge" | "replace";
  metadata: Record<string, unknown>;
}
export type UpdateMetadataResult =
  | { success: true; externalId: string; artifact: { systemId: string; systemName: string; metadata: Record<string, unknown> } }
  | { success: false; error: string };
export interface CatalogAction {
  id: "update_metadata";
  qualifiedId: "catalog.update_metadata";
  displayName: string;
  description: string;
  produces: "system_record";
  configSchema: Record<string, unknown>;
  execute(args: { config: UpdateMetadataConfig; runId?: string; logger?: { info?(message: string): void } }): Promise<UpdateMetadataResult>;
}
export declare function createCatalogActions(deps: {
  entityService: {
    getSystem(id: string): Promise<SystemRow | null | undefined>;
    updateSystem(id: string, patch: { metadata: Record<string, unknown> }): Promise<SystemRow | null | undefined>;
  };
  getSystemEntity?: () => EntityHandle<CatalogSystemState, CatalogSystemState, string> | undefined;
}): CatalogAction[];
