#!/usr/bin/env bash
# Builds the WebAssembly module with Debian's Emscripten and copies it into
# the npm package (js/wasm/). Prints the sizes, raw and gzip.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ER_WASM_BUILD_DIR:-$root/build-wasm}"
# Debian's emcc runs its JS optimizer with the system's node modules (acorn).
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
node "$root/scripts/gen-constants.mjs"
emcmake cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target entity_reactor_wasm
mkdir -p "$root/js/wasm"
cp "$build/bindings/entity-reactor.mjs" "$build/bindings/entity-reactor.wasm" "$root/js/wasm/"
for f in entity-reactor.wasm entity-reactor.mjs; do
  raw=$(stat -c %s "$root/js/wasm/$f")
  gz=$(gzip -9c "$root/js/wasm/$f" | wc -c)
  printf 'size %-22s %8d bytes raw %8d bytes gzip\n' "$f" "$raw" "$gz"
done
node "$root/scripts/gen-catalog.mjs"
bash "$root/scripts/build-js.sh"
