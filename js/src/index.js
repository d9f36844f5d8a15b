// entity-reactor: a reactive entity engine compiled to WebAssembly.
// No top-level await: createEngine() loads the module on first use.
export { createEngine, SYSTEM_ACTOR, EntityHandle, withEntityWrite, withEntityRemove } from "./engine.js";
export { EntityReactorError, ErrorCode } from "./errors.js";
