#!/usr/bin/env bash
# Where the time goes, for one workload (default: update).
#  1. WASM in Node: builds a profiling variant of the module (-O2 with
#     --profiling-funcs, so WASM functions keep their names) into
#     $ER_PROF_BUILD (default /tmp/build-prof), runs the workload on a
#     temporary copy of js/ under `node --cpu-prof` and prints the top
#     functions by self time (js/wasm is left alone).
#  2. Native: the same writes under callgrind; instructions per write and
#     the top functions (needs valgrind; skipped when it is missing).
# Run scripts/bench.sh first (it builds build-bench and the tapes).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
workload="${1:-update}"
seconds="${PROFILE_SECONDS:-8}"
ops="${CALLGRIND_OPS:-10000}"
build="${ER_PROF_BUILD:-/tmp/build-prof}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== profiling WASM build ($build)"
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
emcmake cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DER_WASM_OPT=-O2 \
  -DER_WASM_EXTRA_LINK=--profiling-funcs >/dev/null
cmake --build "$build" -j"$(nproc)" --target entity_reactor_wasm >/dev/null
mkdir -p "$tmp/js/wasm"
cp -r js/src js/package.json "$tmp/js/"
cp "$build/bindings/entity-reactor.mjs" "$build/bindings/entity-reactor.wasm" "$tmp/js/wasm/"

echo "== node --cpu-prof: $workload for $seconds s"
node --cpu-prof --cpu-prof-dir="$tmp/prof" --cpu-prof-interval 100 bench/bench.mjs \
  --js-dir "$tmp/js/src" --profile "$workload" --seconds "$seconds"
node bench/cpuprofile-top.mjs "$tmp"/prof/*.cpuprofile --top 15

if [ "$workload" = ingest ]; then ops="${CALLGRIND_OPS:-1}"; fi
if ! command -v valgrind >/dev/null; then
  echo "(valgrind not installed: no callgrind profile)"
  exit 0
fi
[ -x build-bench/bench/native_bench ] || { echo "run scripts/bench.sh first (build-bench)"; exit 1; }
node bench/bench.mjs --tapes-only --tape-dir "$tmp/tapes" >/dev/null
loop='*replay_writes*'
[ "$workload" = ingest ] && loop='*replay_ingest*'
echo "== callgrind: $ops native $workload $( [ "$workload" = ingest ] && echo calls || echo writes )"
valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" --toggle-collect="$loop" \
  build-bench/bench/native_bench --tape_dir="$tmp/tapes" --replay="$workload" --ops="$ops" 2>&1 | grep -E "replayed|Collected"
per=$ops
[ "$workload" = ingest ] && per=$((ops * 10000))
summarise() {  # callgrind_annotate lines -> instructions per op, share, function
  awk -v per="$per" -v n=15 '
    /^ *[0-9,]+ +\([ 0-9.]+%\)/ && !/PROGRAM TOTALS/ {
      ir = $1; gsub(",", "", ir)
      match($0, /\([ 0-9.]+%\)/); pct = substr($0, RSTART + 1, RLENGTH - 2); gsub(" ", "", pct)
      fn = substr($0, RSTART + RLENGTH); sub(/^ +/, "", fn); sub(/ \[[^]]*\]$/, "", fn); sub(/^[^:]*:/, "", fn)
      gsub(/std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >/, "std::string", fn)
      gsub(/std::basic_string_view<char, std::char_traits<char> >/, "std::string_view", fn)
      if (length(fn) > 110) fn = substr(fn, 1, 107) "..."
      if (count++ < n) printf "%10.0f  %7s  %s\n", ir / per, pct, fn
    }'
}
total=$(callgrind_annotate "$tmp/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "-- $((total / per)) instructions per $( [ "$workload" = ingest ] && echo entry || echo write ) in total"
echo "-- self instructions per $( [ "$workload" = ingest ] && echo entry || echo write ) (top 15)"
callgrind_annotate --inclusive=no "$tmp/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | summarise
echo "-- inclusive (top 15 below the replay loop)"
callgrind_annotate --inclusive=yes "$tmp/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' |
  grep -v -E "libc-start|below main|main \[|0x0000|replay_|prime_writes|Replayer::write|Replayer::ingest|PROGRAM TOTALS" | summarise
