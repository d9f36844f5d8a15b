// The bench workloads on the natively compiled core (Google Benchmark).
//
// Each write runs the steps the WebAssembly binding runs for handle.mutate /
// handle.remove (bindings/entity_reactor.cpp: beginRaw, setPrevRaw,
// commitRaw): begin -> set_prev -> commit -> write_outcome, on the very JSON
// texts JavaScript sends across the boundary. bench/bench.mjs records those
// texts ("tapes") from the same workload generators it runs through the
// public API, so both sides do the same work; only the JS around the core
// (the host's read/apply, JSON.stringify/parse, the event object) is absent
// here. ingest mirrors the binding's beginBatchRaw + commitBatchRaw.
//
// Tape format (one file per workload, in --tape_dir): 4 lines per record.
//   writes: id, opts JSON ("" = none), prev JSON ("" = absent), next JSON ("" = removal)
//   ingest: ids JSON array, opts JSON, prevs JSON object, entries JSON array
// secrets.txt: the run id, then one secret per line.
//
// Usage:
//   native_bench --tape_dir=DIR [Google Benchmark flags]
//   native_bench --tape_dir=DIR --replay=update --ops=N   (no timing; for callgrind;
//                                                          --replay=ingest: N calls)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "engine/wire_format.hpp"
#include "json/value.hpp"

namespace {

struct Record {
  std::string a, b, c, d;  // writes: id, opts, prev, next; ingest: ids, opts, prevs, entries
};

std::vector<Record> load_tape(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<Record> out;
  if (!in) return out;
  Record r;
  while (std::getline(in, r.a) && std::getline(in, r.b) && std::getline(in, r.c) && std::getline(in, r.d))
    out.push_back(std::move(r));
  return out;
}

struct Secrets {
  std::string run_id;
  std::vector<std::string> values;
};

Secrets load_secrets(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Secrets s;
  std::getline(in, s.run_id);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) s.values.push_back(line);
  return s;
}

constexpr std::string_view kKind = er::catalog::kSystemKind;

// What createEngine({ retentionPerEntity: 16, emit }) + registerCatalogEntities
// set up: both catalog kinds, native derivers, an emitter that is wired (so
// no event is buffered), the embedded store keeping 16 rows per entity.
std::unique_ptr<er::Engine> make_engine(const Secrets* secrets) {
  er::EngineOptions o;
  o.now = [] {
    using namespace std::chrono;
    return static_cast<std::int64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  };
  o.seed = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 0x2545f4914f6cdd1dull};
  o.retention_per_entity = 16;
  o.outcome_next_unused = true;  // as the binding sets it
  o.warn = [](const std::string&) {};
  auto engine = std::make_unique<er::Engine>(std::move(o));
  auto ok = engine->define_kind(er::catalog::kSystemKind, er::catalog::system_state_schema());
  if (ok.ok()) ok = engine->define_kind(er::catalog::kGroupKind, er::catalog::group_state_schema());
  if (ok.ok()) ok = er::catalog::register_catalog(*engine);
  if (!ok.ok()) {
    std::fprintf(stderr, "native_bench: engine setup failed: %s\n", ok.error().message.c_str());
    std::exit(2);
  }
  engine->emitter().begin_wire();
  while (engine->emitter().take()) {
  }
  if (secrets) engine->secrets().register_values(secrets->run_id, secrets->values);
  return engine;
}

// One write, as the binding runs it. Returns false (with a message) on error.
bool write_once(er::Engine& engine, const Record& w, std::string& out, std::string& error, bool& changed) {
  auto t = engine.begin(kKind, std::string_view(w.a), std::string_view(w.b));
  if (!t.ok()) return error = t.error().message, false;
  if (!engine.ready(*t)) return error = "ticket not ready", false;
  auto p = engine.set_prev(*t, std::string_view(w.c));
  if (!p.ok()) return error = p.error().message, false;
  auto r = engine.commit(*t, std::string_view(w.d));
  out.clear();
  if (!r.ok()) {
    er::write_error(r.error(), out);
    return error = r.error().message, false;
  }
  thread_local std::string tail;  // masked prev/next follow the outcome, as in commitRaw
  tail.clear();
  er::write_outcome(*r, false, out, &tail);
  out += tail;
  changed = r->changed;
  return true;
}

void bench_writes(benchmark::State& state, const std::vector<Record>* tape, const Secrets* secrets) {
  if (tape->empty()) {
    state.SkipWithError("empty tape");
    return;
  }
  auto engine = make_engine(secrets);
  std::string out, error;
  out.reserve(4096);
  std::size_t i = 0, changed_count = 0;
  for (auto _ : state) {
    bool changed = false;
    if (!write_once(*engine, (*tape)[i], out, error, changed)) {
      state.SkipWithError(error.c_str());
      break;
    }
    changed_count += changed;
    benchmark::DoNotOptimize(out.data());
    if (++i == tape->size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["changed"] = state.iterations() ? static_cast<double>(changed_count) / state.iterations() : 0;
  state.counters["outcome_bytes"] = static_cast<double>(out.size());
}

// The binding's beginBatchRaw + commitBatchRaw for one engine.ingest call.
bool ingest_once(er::Engine& engine, const Record& rec, std::string& out, std::string& error, std::size_t& entries_n) {
  auto ids = er::json::parse(rec.a);
  if (!ids.ok() || !ids->is_array()) return error = "ingest: bad ids", false;
  std::vector<std::string> list;
  list.reserve(ids->as_array().size());
  for (const auto& v : ids->as_array()) list.push_back(v.is_string() ? v.as_string() : std::string());
  auto opts = engine.parse_options(rec.b);
  if (!opts.ok()) return error = opts.error().message, false;
  auto t = engine.begin_batch(kKind, list, std::move(opts.value()));
  if (!t.ok()) return error = t.error().message, false;
  auto prevs = er::json::parse(rec.c);
  if (!prevs.ok()) return error = prevs.error().message, false;
  er::json::Limits limits;
  limits.max_bytes = std::max<std::size_t>(limits.max_bytes, rec.d.size());
  auto entries = er::json::parse(rec.d, limits);
  if (!entries.ok()) return error = entries.error().message, false;
  std::vector<er::Engine::IngestEntry> batch;
  batch.reserve(entries->as_array().size());
  for (auto& e : entries->as_array()) {
    er::Engine::IngestEntry entry;
    if (const er::json::Value* id = e.find("id"); id && id->is_string()) entry.id = id->as_string();
    if (er::json::Value* next = e.find("next"); next && !next->is_null()) entry.next = std::move(*next);
    batch.push_back(std::move(entry));
  }
  entries_n = batch.size();
  auto r = engine.commit_batch(*t, *prevs, std::move(batch));
  if (!r.ok()) return error = r.error().message, false;
  out.clear();
  er::write_outcomes(*r, false, out);
  return true;
}

void bench_ingest(benchmark::State& state, const std::vector<Record>* tape) {
  if (tape->empty()) {
    state.SkipWithError("empty tape");
    return;
  }
  auto engine = make_engine(nullptr);
  std::string out, error;
  std::size_t i = 0, entries = 0, total = 0;
  for (auto _ : state) {
    if (!ingest_once(*engine, (*tape)[i], out, error, entries)) {
      state.SkipWithError(error.c_str());
      break;
    }
    total += entries;
    benchmark::DoNotOptimize(out.data());
    if (++i == tape->size()) i = 0;
  }
  // items = entries: items_per_second is the per-entry rate.
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["entries_per_call"] = static_cast<double>(entries);
}

// --replay: N writes with no timing around them, for callgrind
// (--toggle-collect=*replay_writes* counts only this loop).
__attribute__((noinline)) std::size_t replay_writes(er::Engine& engine, const std::vector<Record>& tape,
                                                    std::size_t ops) {
  std::string out, error;
  std::size_t changed_count = 0;
  for (std::size_t n = 0, i = 0; n < ops; ++n) {
    bool changed = false;
    if (!write_once(engine, tape[i], out, error, changed)) {
      std::fprintf(stderr, "native_bench: replay failed: %s\n", error.c_str());
      std::exit(1);
    }
    changed_count += changed;
    if (++i == tape.size()) i = 0;
  }
  return changed_count;
}

// --replay=ingest: N ingest calls, for callgrind (--toggle-collect=*replay_ingest*).
__attribute__((noinline)) std::size_t replay_ingest(er::Engine& engine, const std::vector<Record>& tape,
                                                    std::size_t calls) {
  std::string out, error;
  std::size_t entries = 0, total = 0;
  for (std::size_t n = 0, i = 0; n < calls; ++n) {
    if (!ingest_once(engine, tape[i], out, error, entries)) {
      std::fprintf(stderr, "native_bench: replay failed: %s\n", error.c_str());
      std::exit(1);
    }
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

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string dir = arg_value(argc, argv, "tape_dir");
  if (dir.empty()) {
    std::fprintf(stderr, "usage: native_bench --tape_dir=DIR [--replay=WORKLOAD --ops=N] [benchmark flags]\n"
                         "(bench/bench.mjs writes the tapes; run scripts/bench.sh)\n");
    return 2;
  }
  const Secrets secrets = load_secrets(dir + "/secrets.txt");

  if (std::string replay = arg_value(argc, argv, "replay"); !replay.empty()) {
    const std::string ops_text = arg_value(argc, argv, "ops");
    const std::size_t ops = ops_text.empty() ? 100000 : std::stoul(ops_text);
    const auto tape = load_tape(dir + "/" + replay + ".tape");
    if (tape.empty()) {
      std::fprintf(stderr, "native_bench: no tape %s/%s.tape\n", dir.c_str(), replay.c_str());
      return 2;
    }
    auto engine = make_engine(replay == "masked" ? &secrets : nullptr);
    if (replay == "ingest") {
      const std::size_t entries = replay_ingest(*engine, tape, ops);
      std::printf("replayed %zu ingest calls (%zu entries)\n", ops, entries);
      return 0;
    }
    const std::size_t changed = replay_writes(*engine, tape, ops);
    std::printf("replayed %zu %s writes (%zu changed)\n", ops, replay.c_str(), changed);
    return 0;
  }

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
  benchmark::RegisterBenchmark("masked", bench_writes, &masked, &run_secrets)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("createRemove", bench_writes, &create_remove, nullptr)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("ingest", bench_ingest, &ingest)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
