#!/usr/bin/env bash
# The test command: installs what is missing, builds the core natively and
# once to WebAssembly, then runs every suite: GoogleTest (native and under
# ASan+UBSan), the package's JS and workerd tests, type tests, the browser
# demo, the Node server with SQLite and PostgreSQL, fuzzing, the 1M-write
# leak check, Redis, and the fault tests.
# A failing build stops at once; a failing suite is reported and the others
# still run, so one CI log shows every failure. Exit status 1 if any failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

failed=()
# Node suites run with --test-timeout=300000: a test that hangs fails after
# five minutes instead of holding CI until its own time limit.
suite() { # suite NAME COMMAND...: runs a test suite and records whether it failed
  local name="$1"
  shift
  if ! "$@"; then
    failed+=("$name")
    echo "!! FAILED: $name"
  fi
}

echo "== native build + GoogleTest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
suite "GoogleTest" ctest --test-dir build --output-on-failure -j"$(nproc)"

echo "== WebAssembly build"
bash scripts/build-wasm.sh

echo "== JS tests"
npm ci --prefix tests --no-audit --no-fund >/dev/null
suite "JS + workerd" node --test --test-timeout=300000 --test-concurrency=1 tests/js/ tests/workerd/

echo "== lint: clang-format, Prettier, ESLint"
suite "lint" bash scripts/lint.sh

echo "== type tests (tsc over the .d.ts files) and the zod fixture"
suite "types" bash tests/types/run.sh
suite "zod fixture" node tests/fixtures/gen-zod-cases.mjs --check

echo "== browser tests"
bash scripts/setup.sh chromium
suite "browser" node --test --test-timeout=300000 --test-concurrency=1 tests/browser/

echo "== Node server tests (SQLite, PostgreSQL)"
bash scripts/setup.sh postgresql
npm ci --prefix examples/automation-server --no-audit --no-fund >/dev/null
suite "Node server" node --test --test-timeout=300000 --test-concurrency=1 tests/node/

echo "== GoogleTest under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
# halt_on_error: a UB report fails the test (the core library is built
# without -fno-sanitize-recover).
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 suite "GoogleTest ASan+UBSan" ctest --test-dir build-asan --output-on-failure -j"$(nproc)"

echo "== fuzzing (libFuzzer, 20 s per target)"
bash scripts/setup.sh sanitizers
suite "fuzzing" bash scripts/fuzz.sh 20

echo "== leak check: 1,000,000 mutates (WASM and JS heaps)"
suite "leak check" node --expose-gc --test --test-timeout=300000 tests/reliability/

echo "== Redis multi-process tests"
bash scripts/setup.sh redis
suite "Redis" node --test --test-timeout=300000 --test-concurrency=1 tests/redis/

echo "== fault tests: outbox and Redis bus (redis-server, PostgreSQL, engine processes killed and restarted)"
bash scripts/setup.sh postgresql redis
suite "Faults" node --test --test-timeout=300000 --test-concurrency=1 tests/faults/

if ((${#failed[@]})); then
  echo "== FAILED suites: ${failed[*]}"
  exit 1
fi
echo "== all suites passed"
