#!/usr/bin/env bash
# The bench command: builds what is missing (the WebAssembly module, the
# native bench in build-bench with -O2), then runs the workloads of
# bench/README.md in WebAssembly (Node, public API) and natively (Google
# Benchmark), prints one table and writes bench/results.json. Targets are
# reported with ✓/✗, never asserted. Extra arguments go to bench/bench.mjs
# (--quick, --only update,noop, --repeats N).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

if [ ! -f js/wasm/entity-reactor.wasm ] || [ ! -f js/wasm/entity-reactor.mjs ] ||
   [ ! -f js/src/generated/constants.js ] || [ ! -f js/src/generated/catalog-constants.js ]; then
  echo "== WebAssembly build (js/wasm is missing)"
  bash scripts/build-wasm.sh
fi

echo "== native bench build (build-bench, -O2)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
  -DER_BUILD_TESTS=OFF -DER_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" --target native_bench >/dev/null

echo "== bench"
node bench/bench.mjs --native build-bench/bench/native_bench --tape-dir build-bench/tapes "$@"
