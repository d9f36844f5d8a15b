#!/usr/bin/env bash
# The test command: installs what is missing, builds the core natively and
# runs GoogleTest (ctest), builds the WebAssembly module once, then runs the
# package's JS tests (Node's test runner), the npm-pack smoke test and the
# workerd test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

echo "== native build + GoogleTest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"

echo "== WebAssembly build"
bash scripts/build-wasm.sh

echo "== JS tests"
npm ci --prefix tests --no-audit --no-fund >/dev/null
node --test --test-concurrency=1 tests/js/ tests/workerd/

echo "== browser tests"
bash scripts/setup.sh chromium
node --test --test-concurrency=1 tests/browser/

echo "== Node server tests (SQLite, PostgreSQL)"
bash scripts/setup.sh postgresql
npm ci --prefix examples/automation-server --no-audit --no-fund >/dev/null
node --test --test-concurrency=1 tests/node/

echo "== GoogleTest under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
# halt_on_error: a UB report fails the test (the core library is built
# without -fno-sanitize-recover).
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j"$(nproc)"

echo "== fuzzing (libFuzzer, 20 s per target)"
bash scripts/setup.sh sanitizers
bash scripts/fuzz.sh 20

echo "== leak check: 1,000,000 mutates (WASM and JS heaps)"
node --expose-gc --test tests/reliability/

echo "== Redis multi-process tests"
bash scripts/setup.sh redis
node --test --test-concurrency=1 tests/redis/
