// Loads the WebAssembly module once per source and caches it. Never fetches
// from the network by default: the .wasm is read from beside this package
// (Node: the file system; browsers: a same-origin URL; workerd: the module
// the worker imports, see ./workerd.js). Nothing runs at import.
import createEntityReactorModule from "../wasm/entity-reactor.mjs";
import { EntityReactorError, ErrorCode } from "./errors.js";
import { Wire } from "./wire.js";

// Resolved on first use, not at import: workerd gives modules no
// import.meta.url (its entry, ./workerd.js, always passes the imported module).
const defaultWasmUrl = () => new URL("../wasm/entity-reactor.wasm", import.meta.url);
const cache = new WeakMap();
const wires = new WeakMap();
let defaultModule;
let lastLoaded = null;

function nodeBuiltin(name) {
  // process.getBuiltinModule (Node >= 20.16) needs no import statement, so
  // bundlers for browsers and workers never see a node: module.
  const get = typeof process !== "undefined" ? process.getBuiltinModule : undefined;
  return typeof get === "function" ? get(name) : null;
}

async function readBytes(url) {
  const fs = url.protocol === "file:" ? nodeBuiltin("node:fs") : null;
  if (fs) return fs.promises.readFile(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function compile(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  if (source instanceof URL || typeof source === "string") return WebAssembly.compile(await readBytes(new URL(source)));
  if (typeof Response !== "undefined" && source instanceof Response) return WebAssembly.compileStreaming(source);
  throw new TypeError("unsupported wasm source");
}

function badWasm(cause) {
  return new EntityReactorError(
    ErrorCode.ER_BAD_WASM,
    `createEngine: wasm: not the entity-reactor WebAssembly module, or it failed to load: ${cause?.message ?? cause}`,
    { path: "wasm", cause },
  );
}

// Emscripten's factory takes the instance from instantiateWasm and never
// rejects when that fails: the failure is raced in here instead.
function instantiate(wasmModule, sync) {
  let failed;
  const failure = new Promise((_, reject) => {
    failed = reject;
  });
  const settings = {
    instantiateWasm(imports, receive) {
      const accept = (instance) => {
        try {
          receive(instance, wasmModule);
        } catch (e) {
          failed(e); // not this module: the glue finds no exports it knows
        }
      };
      if (sync) accept(new WebAssembly.Instance(wasmModule, imports));
      else WebAssembly.instantiate(wasmModule, imports).then(accept, failed);
      return {};
    },
    locateFile: (path) => path,
  };
  const ready = createEntityReactorModule(settings);
  return { settings, ready: Promise.race([ready, failure]) };
}

async function load(source) {
  const known =
    source instanceof WebAssembly.Module ||
    source instanceof ArrayBuffer ||
    ArrayBuffer.isView(source) ||
    source instanceof URL ||
    typeof source === "string" ||
    (typeof Response !== "undefined" && source instanceof Response);
  if (!known)
    throw new EntityReactorError(
      ErrorCode.ER_BAD_ARGUMENT,
      "createEngine: wasm must be a WebAssembly.Module, bytes (ArrayBuffer or typed array), a URL or a Response",
      { path: "wasm" },
    );
  let module;
  try {
    module = await instantiate(await compile(source), false).ready;
    if (typeof module.wireAddress !== "function") throw new Error("the module has no entity-reactor bindings");
  } catch (e) {
    throw badWasm(e);
  }
  return register(module);
}

function register(module) {
  wires.set(module, new Wire(module));
  lastLoaded = module;
  return module;
}

/** The wire (codec) of a loaded module. */
export function wireOf(module) {
  return wires.get(module);
}

/**
 * The most recently loaded module, for synchronous helpers
 * (entity-reactor/catalog). In Node the packaged module is loaded
 * synchronously on first use; elsewhere null until a load finished.
 */
export function loadedModule() {
  if (lastLoaded === null) loadSync();
  return lastLoaded;
}

function loadSync() {
  const fs = nodeBuiltin("node:fs");
  if (!fs) return;
  let url;
  try {
    url = defaultWasmUrl();
  } catch {
    return; // no import.meta.url (workerd)
  }
  if (url.protocol !== "file:") return;
  const { settings } = instantiate(new WebAssembly.Module(fs.readFileSync(url)), true);
  // A synchronous instantiation leaves the module ready on return.
  if (typeof settings.wireAddress === "function") {
    register(settings);
    defaultModule ??= Promise.resolve(settings);
  }
}

/** The Emscripten module for `source` (default: the packaged .wasm), cached. */
export function loadModule(source) {
  if (source === undefined) {
    defaultModule ??= load(defaultWasmUrl()).catch((e) => {
      defaultModule = undefined;
      throw e;
    });
    return defaultModule;
  }
  if (typeof source === "object" && source !== null && !(source instanceof URL)) {
    let entry = cache.get(source);
    if (!entry) {
      entry = load(source);
      cache.set(source, entry);
      entry.catch(() => cache.delete(source));
    }
    return entry;
  }
  return load(source);
}

/** Bytes allocated on the WASM heap now (leak tests). */
export function heapInUse(module) {
  const wire = wireOf(module);
  wire.check(module.heapInUse());
  return wire.value();
}
