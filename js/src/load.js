// Loads the WebAssembly module once per source and caches it. Never fetches
// from the network by default: the .wasm is read from beside this package
// (Node: the file system; browsers: a same-origin URL; workerd: the module
// the worker imports, see ./workerd.js).
import createEntityReactorModule from "../wasm/entity-reactor.mjs";

// Resolved on first use, not at import: workerd gives modules no
// import.meta.url (its entry, ./workerd.js, always passes the imported module).
const defaultWasmUrl = () => new URL("../wasm/entity-reactor.wasm", import.meta.url);
const cache = new WeakMap();
let defaultModule;
let lastLoaded = null;

function isNode() {
  return typeof process !== "undefined" && process.versions != null && process.versions.node != null;
}

async function readBytes(url) {
  if (url.protocol === "file:" && isNode()) {
    const { readFile } = await import("node:fs/promises");
    return readFile(url);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function compile(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  if (source instanceof URL || typeof source === "string") return WebAssembly.compile(await readBytes(new URL(source)));
  if (typeof Response !== "undefined" && source instanceof Response) return WebAssembly.compileStreaming(source);
  throw new TypeError("wasm must be a WebAssembly.Module, bytes (ArrayBuffer or typed array), a URL or a Response");
}

async function instantiate(source) {
  const wasmModule = await compile(source);
  lastLoaded = await createEntityReactorModule({
    // Hand the compiled module to Emscripten instead of letting it fetch.
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(wasmModule, imports).then((instance) => receive(instance, wasmModule));
      return {};
    },
    locateFile: (path) => path,
  });
  return lastLoaded;
}

/** The most recently loaded module, or null: for synchronous helpers
 * (entity-reactor/catalog) that run after an engine exists. */
export function loadedModule() {
  return lastLoaded;
}

/** The Emscripten module for `source` (default: the packaged .wasm), cached. */
export function loadModule(source) {
  if (source === undefined) {
    defaultModule ??= instantiate(defaultWasmUrl()).catch((e) => {
      defaultModule = undefined;
      throw e;
    });
    return defaultModule;
  }
  if (typeof source === "object" && source !== null && !(source instanceof URL)) {
    let entry = cache.get(source);
    if (!entry) {
      entry = instantiate(source);
      cache.set(source, entry);
      entry.catch(() => cache.delete(source));
    }
    return entry;
  }
  return instantiate(source);
}
