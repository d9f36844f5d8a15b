// The .wasm that catalogReady() loads where the package cannot find it by
// URL (workerd has no import.meta.url): set by ./workerd-catalog.js.
export const catalogWasm = { module: undefined };
