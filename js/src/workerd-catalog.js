// entity-reactor/catalog under the `workerd` condition: workers import the
// .wasm as a module (they have no import.meta.url to find it by), so
// catalogReady() loads that module. (tests/types/exports.test.mjs checks
// that this list stays the default entry's.)
import wasmModule from "../wasm/entity-reactor.wasm";
import { catalogWasm } from "./catalog-wasm.js";

catalogWasm.module = wasmModule;
export {
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
} from "./catalog.js";
