// entity-reactor/catalog: the catalog entities of SPEC §8. Every rule here
// (derivation, payload mapping, row projection, update_metadata's config and
// merge) runs in the C++ core; this file moves data and awaits callbacks.
import { withEntityRemove, withEntityWrite } from "./engine.js";
import { EntityReactorError, ErrorCode, fromCore } from "./errors.js";
import { catalogConstants } from "./generated/catalog-constants.js";
import { loadModule, loadedModule } from "./load.js";

export const CATALOG_SYSTEM_ENTITY_KIND = catalogConstants.kinds.system;
export const CATALOG_GROUP_ENTITY_KIND = catalogConstants.kinds.group;
export const CATALOG_SYSTEM_TRIGGER_EVENTS = catalogConstants.systemTriggerEvents;
export const CATALOG_GROUP_TRIGGER_EVENTS = catalogConstants.groupTriggerEvents;
/** JSON Schema of `{ name, description: string | null, metadata: record }`. */
export const CatalogSystemStateSchema = catalogConstants.systemStateSchema;
/** JSON Schema of `{ name, metadata: record }`. */
export const CatalogGroupStateSchema = catalogConstants.groupStateSchema;
/** The catalog system triggers (created / updated / deleted) with payload schemas. */
export const catalogTriggers = catalogConstants.triggers;
export const systemRecordArtifactType = catalogConstants.artifactTypes.systemRecord;

/** Resolves once the WebAssembly module is loaded (createEngine also does this). */
export async function catalogReady(options = {}) {
  await loadModule(options.wasm);
}

function call(fn, arg) {
  const module = loadedModule();
  if (!module)
    throw new EntityReactorError(ErrorCode.ER_NOT_LOADED, `${fn}: the WebAssembly module is not loaded yet; await createEngine() or catalogReady() first`);
  const out = JSON.parse(module.catalogCall(fn, JSON.stringify(arg)));
  if (out && out.error) throw fromCore(out.error);
  return out;
}

const changeArg = (change) => ({ id: change.id, prev: change.prev, next: change.next, changedFields: change.changedFields });

export const deriveCatalogSystemTriggerEvents = (change) => call("deriveSystem", changeArg(change));
export const deriveCatalogGroupTriggerEvents = (change) => call("deriveGroup", changeArg(change));
export const catalogSystemChangeToPayload = (change) => call("systemPayload", changeArg(change));
export const catalogGroupChangeToPayload = (change) => call("groupPayload", changeArg(change));
export const toCatalogSystemState = (row) => call("toSystemState", row);
export const toCatalogGroupState = (row) => call("toGroupState", row);

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
  const systemEntity = engine.defineEntity({ kind: CATALOG_SYSTEM_ENTITY_KIND, state: CatalogSystemStateSchema, read: readSystems });
  const groupEntity = engine.defineEntity({ kind: CATALOG_GROUP_ENTITY_KIND, state: CatalogGroupStateSchema, read: readGroups });
  engine.registerNativeCatalog();
  return { systemEntity, groupEntity };
}

/**
 * The catalog automation actions: `update_metadata` (SPEC §8).
 * entityService: { getSystem(id) -> row | null, updateSystem(id, { metadata }) -> row | null }.
 */
export function createCatalogActions({ entityService, getSystemEntity }) {
  const meta = catalogConstants.actions.updateMetadata;
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
        plan = call("updateMetadata", { config });
      } catch (e) {
        return { success: false, error: e.message };
      }
      const existing = await entityService.getSystem(plan.systemId);
      if (!existing) return { success: false, error: `System not found: ${plan.systemId}` };
      const existingMetadata = existing.metadata ?? {};
      const nextMetadata = call("updateMetadata", { config, current: existingMetadata }).metadata;
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
