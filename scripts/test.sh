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
