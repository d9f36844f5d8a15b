import type { ChangeEvent, Engine, EntityHandle, EntityRead, MutationOptions } from "./index.js";

export interface CatalogSystemState {
  name: string;
  description: string | null;
  metadata: Record<string, unknown>;
  [key: string]: unknown;
}
export interface CatalogGroupState {
  name: string;
  metadata: Record<string, unknown>;
  [key: string]: unknown;
}

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

/** Resolves once the WebAssembly module is loaded (createEngine also does this). */
export declare function catalogReady(options?: { wasm?: WebAssembly.Module | ArrayBuffer | ArrayBufferView | URL | string }): Promise<void>;

export declare function deriveCatalogSystemTriggerEvents(change: ChangeEvent): string[];
export declare function deriveCatalogGroupTriggerEvents(change: ChangeEvent): string[];
export declare function catalogSystemChangeToPayload(change: ChangeEvent): CatalogSystemPayload;
export declare function catalogGroupChangeToPayload(change: ChangeEvent): CatalogGroupPayload;
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

export declare function writeCatalogSystemEntity(args: {
  handle: EntityHandle<CatalogSystemState> | undefined | null;
  systemId: string;
  opts?: MutationOptions;
  apply: () => Promise<CatalogSystemState>;
}): Promise<void>;
export declare function writeCatalogGroupEntity(args: {
  handle: EntityHandle<CatalogGroupState> | undefined | null;
  groupId: string;
  opts?: MutationOptions;
  apply: () => Promise<CatalogGroupState>;
}): Promise<void>;
export declare function removeCatalogEntity(args: {
  handle: EntityHandle<any> | undefined | null;
  id: string;
  opts?: MutationOptions;
  apply: () => Promise<void>;
}): Promise<void>;

export declare function registerCatalogEntities(
  engine: Engine,
  reads: { readSystems: EntityRead<CatalogSystemState>; readGroups: EntityRead<CatalogGroupState> },
): { systemEntity: EntityHandle<CatalogSystemState>; groupEntity: EntityHandle<CatalogGroupState> };

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
  getSystemEntity?: () => EntityHandle<CatalogSystemState> | undefined;
}): CatalogAction[];
