#!/usr/bin/env bash
# The bench command. Builds what is missing (the WebAssembly module, the
# native bench in build-bench with -O2, the TypeScript reference bundle in
# build-bench/ref via ../shared/reference/setup.sh), counts native
# instructions per write under callgrind when valgrind is installed, then runs
# bench/bench.mjs: entity-reactor, the reference and the floor side by side
# on the same workloads, the native core, sizes and cold start. Prints one
# table and writes bench/results.json. Targets are reported with ✓/✗, never
# asserted.
#   bash scripts/bench.sh [--quick] [--no-callgrind] [--only update,noop] [other bench.mjs flags]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

callgrind=1
pass=()
quick=0
for a in "$@"; do
  case "$a" in
    --no-callgrind) callgrind=0 ;;
    --quick) quick=1; pass+=("$a") ;;
    *) pass+=("$a") ;;
  esac
done

bash scripts/setup.sh

if [ ! -f js/wasm/entity-reactor.wasm ] || [ ! -f js/wasm/entity-reactor.mjs ] ||
   [ ! -f js/src/generated/constants.js ] || [ ! -f js/src/generated/catalog-constants.js ]; then
  echo "== WebAssembly build (js/wasm is missing)"
  NODE_PATH="${NODE_PATH:-/usr/share/nodejs}" bash scripts/build-wasm.sh
fi

# The bundle the cold-start row imports (js/dist): rebuilt every run, it
# takes under a second and must follow js/src.
bash scripts/build-js.sh >/dev/null

# A native build that fails (src/ or the engine's write API mid-change)
# costs only the columns of that binary: the bench reports, it does not stop.
# native_bench: native, allocs/write, instr/write; parse_bench: the parse rows.
echo "== native bench build (build-bench, -O2)"
bin=build-bench/bench/native_bench
tapes=build-bench/tapes
native_args=()
if cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
     -DER_BUILD_TESTS=OFF -DER_BUILD_BENCH=ON >/dev/null; then
  for target in native_bench parse_bench; do
    case "$target" in native_bench) flag=--native ;; parse_bench) flag=--parse-bench ;; esac
    if log="$(cmake --build build-bench -j"$(nproc)" --target "$target" 2>&1)"; then
      native_args+=("$flag" "build-bench/bench/$target")
    else
      echo "$log" | grep -E "error" | head -5
      echo "BUILD OF $target FAILED: its rows/columns are skipped"
      if [ "$target" = native_bench ]; then callgrind=0; fi
    fi
  done
else
  echo "CMAKE CONFIGURE FAILED: the native columns are skipped"
  callgrind=0
fi

echo "== reference (the TypeScript original, build-bench/ref)"
ref_setup="$root/../shared/reference/setup.sh"
ref_args=(--ref-dir build-bench/ref)
if [ ! -f "$ref_setup" ]; then
  echo "$ref_setup is missing: the reference column is skipped"
  ref_args=(--no-reference)
elif ! bash "$ref_setup" build-bench/ref; then
  echo "building the reference failed: the reference column is skipped"
  ref_args=(--no-reference)
fi

# Instructions per native write (update, noop), counted by callgrind over
# the measured writes only (native_bench --replay; see bench/README.md).
cg_json=build-bench/callgrind.json
rm -f "$cg_json"
cg_args=()
if [ "$callgrind" = 1 ] && command -v valgrind >/dev/null; then
  ops=4000
  echo "== callgrind: native instructions per write ($ops writes each)"
  node bench/bench.mjs --tapes-only --tape-dir "$tapes" >/dev/null
  entries=()
  for w in update noop; do
    out="build-bench/callgrind.$w.out"
    log="$(valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*replay_writes*' \
      "$bin" --tape_dir="$tapes" --replay="$w" --ops="$ops" 2>&1)" || { echo "$log" | tail -5; continue; }
    collected="$(echo "$log" | sed -n 's/.*Collected : *\([0-9][0-9]*\).*/\1/p' | tail -1)"
    [ -n "$collected" ] || { echo "$w: no callgrind count"; continue; }
    per=$((collected / ops))
    echo "$w: $per instructions per write ($(echo "$log" | grep -o 'replayed.*' | head -1))"
    entries+=("\"$w\": {\"ops\": $ops, \"instructions\": $collected, \"perWrite\": $per}")
  done
  if [ ${#entries[@]} -gt 0 ]; then
    (IFS=,; echo "{${entries[*]}}") > "$cg_json"
    cg_args=(--callgrind "$cg_json")
  fi
elif [ "$callgrind" = 1 ]; then
  echo "(valgrind is not installed: no instructions per write)"
fi

echo "== bench"
node bench/bench.mjs "${native_args[@]}" --tape-dir "$tapes" "${ref_args[@]}" "${cg_args[@]}" "${pass[@]}"

# Scale (issue #16): heap at many distinct ids, cache-miss throughput. The
# SQLite rows need better-sqlite3 from tests/node_modules.
echo "== scale"
[ -d tests/node_modules/better-sqlite3 ] || npm ci --prefix tests --no-audit --no-fund >/dev/null
scale_args=()
[ "$quick" = 1 ] && scale_args+=(--quick)
node bench/scale.mjs "${scale_args[@]}"
