// The bench workloads on the natively compiled core (Google Benchmark).
// (The JSON-parse comparison is a binary of its own: parse_bench.cpp.)
//
// This file is the harness: it loads the tapes, times the writes, counts heap
// allocations per write (alloc_count.cpp) and offers an untimed replay for
// callgrind. The engine calls themselves live in replay.cpp (Replayer::write,
// Replayer::ingest), the one file to swap when the core's write API changes.
//
// bench/bench.mjs records the tapes: the very JSON texts JavaScript hands the
// core, from the same workload generators (bench/workloads.mjs) it runs
// through the public API, so both sides do the same work; only the JS around
// the core (the host's read/apply, JSON.stringify/parse, the event object) is
// absent here.
//
// Tape format (one file per workload, in --tape_dir): 4 lines per record.
//   writes: id, opts JSON ("" = none), prev JSON ("" = absent), next JSON ("" = removal)
//   ingest: ids JSON array, opts JSON, prevs JSON object, entries JSON array
// secrets.txt: the run id, then one secret per line.
//
// Usage:
//   native_bench --tape_dir=DIR [Google Benchmark flags]
//   native_bench --tape_dir=DIR --replay=update --ops=N   (no timing; for callgrind:
//       --toggle-collect='*replay_writes*' counts only the N measured writes, not the
//       first touches; --replay=ingest: N calls, '*replay_ingest*')
//
// Steady state only: a tape starts with each entity's first write, and when
// the loop wraps around, record 0's prev is again the initial state, which is
// not what the engine committed last. In JS the workload never wraps (every
// write's prev is the state the engine just committed), so each pass over a
// tape first replays its "first touches" (the records before the first id
// that repeats: 1,000 for update, noop and masked) untimed, uncounted and
// outside callgrind's collection, then measures the rest.
//
// Counters: allocs_per_write / allocs_per_entry (operator new calls in the
// measured writes ÷ writes or entries), changed (share of writes that changed
// the entity), outcome_bytes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "alloc_count.hpp"
#include "replay.hpp"

namespace {

using er_bench::AllocCount;
using er_bench::Record;
using er_bench::Replayer;
using er_bench::Secrets;

std::vector<Record> load_tape(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<Record> out;
  if (!in) return out;
  Record r;
  while (std::getline(in, r.a) && std::getline(in, r.b) && std::getline(in, r.c) && std::getline(in, r.d))
    out.push_back(std::move(r));
  return out;
}

Secrets load_secrets(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Secrets s;
  std::getline(in, s.run_id);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) s.values.push_back(line);
  return s;
}

double per(std::uint64_t count, std::uint64_t n) { return n ? static_cast<double>(count) / static_cast<double>(n) : 0; }

// The records before the first id that repeats (each entity's first write),
// or 0 when no id repeats.
std::size_t first_touches(const std::vector<Record>& tape) {
  std::unordered_set<std::string_view> seen;
  for (std::size_t i = 0; i < tape.size(); ++i)
    if (!seen.insert(tape[i].a).second) return i;
  return 0;
}

void fail_replay(const Replayer& replayer) {
  std::fprintf(stderr, "native_bench: replay failed: %s\n", replayer.error().c_str());
  std::exit(1);
}

// Untimed: records [0, count) of the tape.
__attribute__((noinline)) void prime_writes(Replayer& replayer, const std::vector<Record>& tape, std::size_t count) {
  bool changed = false;
  for (std::size_t i = 0; i < count; ++i)
    if (!replayer.write(tape[i], changed)) fail_replay(replayer);
}

// update, noop, masked, createRemove: one write per iteration, cycling
// through the tape; each pass starts with its first touches, untimed.
void bench_writes(benchmark::State& state, const std::vector<Record>* tape, const Secrets* secrets) {
  if (tape->empty()) {
    state.SkipWithError("empty tape");
    return;
  }
  Replayer replayer(secrets);
  const std::size_t prime = first_touches(*tape);
  std::size_t i = 0, changed_count = 0;
  std::uint64_t primed_allocs = 0, primed_bytes = 0;
  const AllocCount a0 = er_bench::alloc_count();
  for (auto _ : state) {
    if (i == 0 && prime > 0) {
      state.PauseTiming();
      const AllocCount p0 = er_bench::alloc_count();
      prime_writes(replayer, *tape, prime);
      const AllocCount p1 = er_bench::alloc_count();
      primed_allocs += p1.allocations - p0.allocations;
      primed_bytes += p1.bytes - p0.bytes;
      i = prime;
      state.ResumeTiming();
    }
    bool changed = false;
    if (!replayer.write((*tape)[i], changed)) {
      state.SkipWithError(replayer.error().c_str());
      break;
    }
    changed_count += changed;
    if (++i == tape->size()) i = 0;
  }
  const AllocCount a1 = er_bench::alloc_count();
  const auto n = static_cast<std::uint64_t>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.counters["allocs_per_write"] = per(a1.allocations - a0.allocations - primed_allocs, n);
  state.counters["alloc_bytes_per_write"] = per(a1.bytes - a0.bytes - primed_bytes, n);
  state.counters["changed"] = per(changed_count, n);
  state.counters["outcome_bytes"] = static_cast<double>(replayer.outcome_bytes());
}

// ingest: one engine.ingest call per iteration; items = entries, so
// items_per_second is the per-entry rate.
void bench_ingest(benchmark::State& state, const std::vector<Record>* tape) {
  if (tape->empty()) {
    state.SkipWithError("empty tape");
    return;
  }
  Replayer replayer(nullptr);
  std::size_t i = 0, entries = 0, total = 0;
  const AllocCount a0 = er_bench::alloc_count();
  for (auto _ : state) {
    if (!replayer.ingest((*tape)[i], entries)) {
      state.SkipWithError(replayer.error().c_str());
      break;
    }
    total += entries;
    if (++i == tape->size()) i = 0;
  }
  const AllocCount a1 = er_bench::alloc_count();
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["entries_per_call"] = static_cast<double>(entries);
  state.counters["allocs_per_entry"] = per(a1.allocations - a0.allocations, total);
}

// --replay: the measured records [begin, end) with no timing around them,
// for callgrind (--toggle-collect=*replay_writes* counts only this loop, not
// the first touches that prime_writes replays before each pass).
__attribute__((noinline)) std::size_t replay_writes(Replayer& replayer, const std::vector<Record>& tape,
                                                    std::size_t begin, std::size_t end) {
  std::size_t changed_count = 0;
  for (std::size_t i = begin; i < end; ++i) {
    bool changed = false;
    if (!replayer.write(tape[i], changed)) fail_replay(replayer);
    changed_count += changed;
  }
  return changed_count;
}

// --replay=ingest: N ingest calls, for callgrind (--toggle-collect=*replay_ingest*).
__attribute__((noinline)) std::size_t replay_ingest(Replayer& replayer, const std::vector<Record>& tape,
                                                    std::size_t calls) {
  std::size_t entries = 0, total = 0;
  for (std::size_t n = 0, i = 0; n < calls; ++n) {
    if (!replayer.ingest(tape[i], entries)) fail_replay(replayer);
    total += entries;
    if (++i == tape.size()) i = 0;
  }
  return total;
}

std::string arg_value(int argc, char** argv, std::string_view name) {
  const std::string prefix = "--" + std::string(name) + "=";
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a.substr(0, prefix.size()) == prefix) return std::string(a.substr(prefix.size()));
  }
  return {};
}

int replay_main(const std::string& dir, const std::string& replay, const std::string& ops_text,
                const Secrets& secrets) {
  const std::size_t ops = ops_text.empty() ? 100000 : std::stoul(ops_text);
  const auto tape = load_tape(dir + "/" + replay + ".tape");
  if (tape.empty()) {
    std::fprintf(stderr, "native_bench: no tape %s/%s.tape\n", dir.c_str(), replay.c_str());
    return 2;
  }
  Replayer replayer(replay == "masked" ? &secrets : nullptr);
  if (replay == "ingest") {
    const AllocCount a0 = er_bench::alloc_count();
    const std::size_t entries = replay_ingest(replayer, tape, ops);
    const AllocCount a1 = er_bench::alloc_count();
    std::printf("replayed %zu ingest calls (%zu entries); %.1f allocations per entry\n", ops, entries,
                per(a1.allocations - a0.allocations, entries));
    return 0;
  }
  // ops measured writes: passes of prime_writes (first touches, not counted)
  // + replay_writes (the rest of the tape, or what is left of ops).
  const std::size_t prime = first_touches(tape);
  std::size_t done = 0, changed = 0;
  std::uint64_t allocs = 0;
  while (done < ops) {
    prime_writes(replayer, tape, prime);
    const std::size_t n = std::min(ops - done, tape.size() - prime);
    const AllocCount r0 = er_bench::alloc_count();
    changed += replay_writes(replayer, tape, prime, prime + n);
    allocs += er_bench::alloc_count().allocations - r0.allocations;
    done += n;
  }
  std::printf(
      "replayed %zu %s writes (%zu changed; %zu first touches per pass not counted); %.1f allocations per write\n", ops,
      replay.c_str(), changed, prime, per(allocs, ops));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string dir = arg_value(argc, argv, "tape_dir");
  if (dir.empty()) {
    std::fprintf(stderr,
                 "usage: native_bench --tape_dir=DIR [--replay=WORKLOAD --ops=N] [benchmark flags]\n"
                 "(bench/bench.mjs writes the tapes; run scripts/bench.sh)\n");
    return 2;
  }
  const Secrets secrets = load_secrets(dir + "/secrets.txt");

  if (std::string replay = arg_value(argc, argv, "replay"); !replay.empty())
    return replay_main(dir, replay, arg_value(argc, argv, "ops"), secrets);

  // Tapes live as long as main: the benchmarks hold pointers to them.
  static std::vector<Record> update, noop, masked, create_remove, ingest;
  update = load_tape(dir + "/update.tape");
  noop = load_tape(dir + "/noop.tape");
  masked = load_tape(dir + "/masked.tape");
  create_remove = load_tape(dir + "/createRemove.tape");
  ingest = load_tape(dir + "/ingest.tape");
  static Secrets run_secrets = secrets;

  benchmark::RegisterBenchmark("update", bench_writes, &update, nullptr)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("noop", bench_writes, &noop, nullptr)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("masked", bench_writes, &masked, &run_secrets)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("createRemove", bench_writes, &create_remove, nullptr)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("ingest", bench_ingest, &ingest)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
