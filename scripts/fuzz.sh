#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/) for a fixed time each and prints
# what it found. Usage:
#   bash scripts/fuzz.sh [seconds-per-target (default 60)] [target ...]
# Targets: json diff schema mask pipeline (default: all).
# Needs clang with libFuzzer (bash scripts/setup.sh sanitizers). Builds into
# build-fuzz/; each target starts from its checked-in seeds
# (tests/fuzz/corpus/<target>/) plus what earlier runs on this machine found
# (build-fuzz/corpus/<target>/, not checked in). A crash or a violated
# property is saved as build-fuzz/artifacts/<target>-crash-*, printed with
# the command that replays it, and makes the script exit non-zero.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json diff schema mask pipeline)
build="${ER_FUZZ_BUILD_DIR:-$root/build-fuzz}"

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DER_BUILD_FUZZ=ON -DER_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

mkdir -p "$build/artifacts"
failed=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  work="$build/corpus/$t"
  seeds="$root/tests/fuzz/corpus/$t"
  mkdir -p "$work"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1
        -artifact_prefix="$build/artifacts/$t-")
  [ -f "$root/tests/fuzz/$t.dict" ] && opts+=(-dict="$root/tests/fuzz/$t.dict")
  log="$build/artifacts/$t.log"
  before=$(ls "$build/artifacts" | grep -c "^$t-" || true)
  start=$(date +%s)
  set +e
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  "$bin" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1
  status=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
  corpus=$(ls "$work" | wc -l)
  after=$(ls "$build/artifacts" | grep -c "^$t-" || true)
  printf 'fuzz %-9s %4ss  %9s runs  coverage %5s edges  corpus %4s inputs  ' "$t" "$(( $(date +%s) - start ))" "$runs" "$cov" "$corpus"
  if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "FOUND A PROBLEM"
    failed+=("$t")
    { grep -E -A3 'property violated|ERROR: AddressSanitizer|runtime error|ERROR: libFuzzer|SUMMARY' "$log" || tail -5 "$log"; } |
      head -40 | sed 's/^/    /'
    for a in $(ls -t "$build/artifacts" | grep "^$t-" | grep -v '\.log$' | head -3); do
      echo "    replay: $bin $build/artifacts/$a"
    done
  else
    echo "nothing found"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: problems in: ${failed[*]} (logs in $build/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, nothing found"
