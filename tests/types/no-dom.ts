// Without the DOM lib, wasm takes only what the engine can load. (The DOM
// lib's WebAssembly.Module is an empty interface: any value matches it.)
import { createEngine } from "entity-reactor";

// @ts-expect-error a wasm source is a module, bytes, a URL, a Response or a string (the DOM lib's
// WebAssembly.Module is an empty interface that takes anything: this check needs a lib without it)
await createEngine({ wasm: 42 });
