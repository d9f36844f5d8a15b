// entity-reactor/catalog: the catalog entities of SPEC §8. Every rule here
// (derivation, payload mapping, row projection, update_metadata's config and
// merge) runs in the C++ core; this file moves data and awaits callbacks.
// What automation UIs show (titles, descriptions, payload schemas) is
// defined here: no rule reads it.
import { withEntityRemove, withEntityWrite } from "./engine.js";
import { EntityReactorError, ErrorCode } from "./errors.js";
import { catalogConstants } from "./generated/catalog-constants.js";
import { catalogWasm } from "./catalog-wasm.js";
import { loadModule, loadedModule, wireOf } from "./load.js";
import { stringify } from "./values.js";

export const CATALOG_SYSTEM_ENTITY_KIND = catalogConstants.kinds.system;
export const CATALOG_GROUP_ENTITY_KIND = catalogConstants.kinds.group;
export const CATALOG_SYSTEM_TRIGGER_EVENTS = catalogConstants.systemTriggerEvents;
export const CATALOG_GROUP_TRIGGER_EVENTS = catalogConstants.groupTriggerEvents;
/** JSON Schema of `{ name, description: string | null, metadata: record }`. */
export const CatalogSystemStateSchema = catalogConstants.systemStateSchema;
/** JSON Schema of `{ name, metadata: record }`. */
export const CatalogGroupStateSchema = catalogConstants.groupStateSchema;
const changedFieldEnum = catalogConstants.changedFieldEnum;
const str = { type: "string" };
const record = { type: "object", propertyNames: { type: "string" }, additionalProperties: {} };

/** The catalog system triggers (created / updated / deleted) with payload schemas. */
export const catalogTriggers = Object.freeze([
  {
    id: "created",
    event: CATALOG_SYSTEM_TRIGGER_EVENTS.created,
    displayName: "System Created",
    description: "Fires when a new system is added to the catalog",
    payloadSchema: {
      type: "object",
      properties: { systemId: str, systemName: str },
      required: ["systemId", "systemName"],
    },
  },
  {
    id: "updated",
    event: CATALOG_SYSTEM_TRIGGER_EVENTS.updated,
    displayName: "System Updated",
    description: "Fires when a system's name, description, or metadata changes",
    payloadSchema: {
      type: "object",
      properties: {
        systemId: str,
        systemName: str,
        changedFields: { type: "array", items: { type: "string", enum: changedFieldEnum } },
      },
      required: ["systemId", "systemName", "changedFields"],
    },
  },
  {
    id: "deleted",
    event: CATALOG_SYSTEM_TRIGGER_EVENTS.deleted,
    displayName: "System Deleted",
    description: "Fires when a system is removed from the catalog",
    payloadSchema: { type: "object", properties: { systemId: str, systemName: str }, required: ["systemId"] },
  },
]);

export const systemRecordArtifactType = Object.freeze({
  id: "system_record",
  displayName: "System Record",
  description: "Snapshot of a system after an automation-driven change",
  schema: {
    type: "object",
    properties: { systemId: str, systemName: str, metadata: record },
    required: ["systemId", "systemName", "metadata"],
  },
});

const updateMetadataAction = {
  id: "update_metadata",
  qualifiedId: "catalog.update_metadata",
  displayName: "Update System Metadata",
  description: "Set or merge metadata keys on a system (shallow merge by default, or replace).",
  produces: "system_record",
  configSchema: {
    type: "object",
    properties: {
      systemId: { type: "string", minLength: 1 },
      strategy: { type: "string", enum: ["merge", "replace"], default: "merge" },
      metadata: record,
    },
    required: ["systemId", "metadata"],
  },
};

/**
 * Resolves once the WebAssembly module is loaded, so the catalog helpers
 * can run (createEngine also does this). In Node they work right after
 * import; in browsers and workers, await this (or any createEngine()) first.
 */
export async function catalogReady(options = {}) {
  if (options?.wasm === undefined && loadedModule() !== null) return;
  // catalogWasm.module: what a runtime without import.meta.url supplies
  // (workerd); elsewhere the packaged file is found by URL.
  await loadModule(options?.wasm ?? catalogWasm.module);
}

// In Node the module loads synchronously on first use; in browsers and
// workers, `await catalogReady()` (or any createEngine()) first.
function call(fn, name, arg) {
  const module = loadedModule();
  if (!module)
    throw new EntityReactorError(
      ErrorCode.ER_NOT_LOADED,
      `${name}: the WebAssembly module is not loaded yet; await catalogReady() (or createEngine()) first`,
    );
  const wire = wireOf(module);
  wire.check(module.catalogCall(...wire.put(fn, stringify(arg, `${name} argument`))));
  return wire.json();
}

function changeArg(change, name) {
  if (typeof change !== "object" || change === null)
    throw new EntityReactorError(
      ErrorCode.ER_BAD_ARGUMENT,
      `${name}: expected a change event, received ${change === null ? "null" : typeof change}`,
    );
  return { id: change.id, prev: change.prev, next: change.next, changedFields: change.changedFields };
}

function rowArg(row, name) {
  if (typeof row !== "object" || row === null || Array.isArray(row))
    throw new EntityReactorError(
      ErrorCode.ER_BAD_ARGUMENT,
      `${name}: expected a row object, received ${row === null ? "null" : Array.isArray(row) ? "an array" : typeof row}`,
    );
  return row;
}

export const deriveCatalogSystemTriggerEvents = (change) =>
  call("deriveSystem", "deriveCatalogSystemTriggerEvents", changeArg(change, "deriveCatalogSystemTriggerEvents"));
export const deriveCatalogGroupTriggerEvents = (change) =>
  call("deriveGroup", "deriveCatalogGroupTriggerEvents", changeArg(change, "deriveCatalogGroupTriggerEvents"));
export const catalogSystemChangeToPayload = (change) =>
  call("systemPayload", "catalogSystemChangeToPayload", changeArg(change, "catalogSystemChangeToPayload"));
export const catalogGroupChangeToPayload = (change) =>
  call("groupPayload", "catalogGroupChangeToPayload", changeArg(change, "catalogGroupChangeToPayload"));
export const toCatalogSystemState = (row) =>
  call("toSystemState", "toCatalogSystemState", rowArg(row, "toCatalogSystemState"));
export const toCatalogGroupState = (row) =>
  call("toGroupState", "toCatalogGroupState", rowArg(row, "toCatalogGroupState"));

export function createCatalogSystemEntityRead(service) {
  return (ids) => service.getManySystemEntityStates(ids);
}
export function createCatalogGroupEntityRead(service) {
  return (ids) => service.getManyGroupEntityStates(ids);
}

/** Routes a system write through handle.mutate; without a handle, runs apply alone. */
export async function writeCatalogSystemEntity({ handle, systemId, opts, apply }) {
  await withEntityWrite({ handle, id: systemId, opts, apply });
}
/** Routes a group write through handle.mutate; without a handle, runs apply alone. */
export async function writeCatalogGroupEntity({ handle, groupId, opts, apply }) {
  await withEntityWrite({ handle, id: groupId, opts, apply });
}
/** Routes a system or group delete through handle.remove; without a handle, runs apply alone. */
export async function removeCatalogEntity({ handle, id, opts, apply }) {
  await withEntityRemove({ handle, id, opts, apply });
}

/**
 * Defines catalog-system and catalog-group on `engine` and registers their
 * derivers and payload mappers natively: a catalog change is derived in the
 * core, without calling back into JavaScript.
 */
export function registerCatalogEntities(engine, { readSystems, readGroups }) {
  const systemEntity = engine.defineEntity({
    kind: CATALOG_SYSTEM_ENTITY_KIND,
    state: CatalogSystemStateSchema,
    read: readSystems,
  });
  const groupEntity = engine.defineEntity({
    kind: CATALOG_GROUP_ENTITY_KIND,
    state: CatalogGroupStateSchema,
    read: readGroups,
  });
  engine.registerNativeCatalog();
  return { systemEntity, groupEntity };
}

/**
 * The catalog automation actions: `update_metadata` (SPEC §8).
 * entityService: { getSystem(id) -> row | null, updateSystem(id, { metadata }) -> row | null }.
 */
export function createCatalogActions({ entityService, getSystemEntity }) {
  const meta = updateMetadataAction;
  const updateMetadata = {
    id: meta.id,
    qualifiedId: meta.qualifiedId,
    displayName: meta.displayName,
    description: meta.description,
    produces: meta.produces,
    configSchema: meta.configSchema,
    async execute({ config, runId, logger } = {}) {
      let plan;
      try {
        plan = call("updateMetadata", "catalog.update_metadata", { config });
      } catch (e) {
        return { success: false, error: e.message };
      }
      const existing = await entityService.getSystem(plan.systemId);
      if (!existing) return { success: false, error: `System not found: ${plan.systemId}` };
      const existingMetadata = existing.metadata ?? {};
      const nextMetadata = call("updateMetadata", "catalog.update_metadata", {
        config,
        current: existingMetadata,
      }).metadata;
      let updated = null;
      await writeCatalogSystemEntity({
        handle: getSystemEntity?.(),
        systemId: plan.systemId,
        // Masks run secrets that land in metadata, in events and transition rows.
        opts: runId === undefined ? undefined : { runId },
        apply: async () => {
          updated = (await entityService.updateSystem(plan.systemId, { metadata: nextMetadata })) ?? null;
          // A row deleted mid-update: return the pre-write state, so the diff
          // is a no-op and no catalog.updated fires.
          return toCatalogSystemState({
            name: updated?.name ?? existing.name,
            description: updated ? updated.description : existing.description,
            metadata: updated ? nextMetadata : existingMetadata,
          });
        },
      });
      if (!updated) return { success: false, error: `System ${plan.systemId} disappeared mid-update` };
      logger?.info?.(`Automation updated metadata on system ${updated.id} (${plan.strategy})`);
      return {
        success: true,
        externalId: updated.id,
        artifact: { systemId: updated.id, systemName: updated.name, metadata: nextMetadata },
      };
    },
  };
  return [updateMetadata];
}
