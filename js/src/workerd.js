// Entry for Cloudflare workerd and other workers that import .wasm files as
// WebAssembly.Module: the packaged module is the default `wasm` source.
import wasmModule from "../wasm/entity-reactor.wasm";
import { createEngine as createEngineWith } from "./engine.js";

export { SYSTEM_ACTOR, EntityHandle, withEntityWrite, withEntityRemove } from "./engine.js";
export { EntityReactorError, ErrorCode } from "./errors.js";

export function createEngine(options = {}) {
  // `wasm: undefined` must not override the packaged module: workerd has no
  // import.meta.url to find the .wasm by.
  return createEngineWith({ ...options, wasm: options?.wasm ?? wasmModule });
}
