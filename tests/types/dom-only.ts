// With the DOM lib: every wasm source a browser has is accepted.
import { createEngine } from "entity-reactor";
import { catalogReady } from "entity-reactor/catalog";
import { createIndexedDbTransitionStore } from "entity-reactor/stores/indexeddb";

const compiled = await WebAssembly.compile(new Uint8Array(8));
await createEngine({ wasm: compiled });
await createEngine({ wasm: new URL("./entity-reactor.wasm", "https://example.invalid/") });
await createEngine({ wasm: await fetch("/entity-reactor.wasm") });
await catalogReady({ wasm: compiled });
createIndexedDbTransitionStore({ indexedDB: indexedDB });
