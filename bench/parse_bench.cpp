// Why src/json exists, kept measured: one catalog-system state (the ~500-byte
// JSON text every write carries twice) parsed by the project's own parser
// (er::json::parse: sorted members, UTF-16 key order, no std::map nodes) and by
// nlohmann_json, as a DOM (nlohmann::json::parse) and as SAX with a handler
// that does nothing (the lower bound of any nlohmann-based design: tokenising
// alone). Its own binary, using nothing of the engine's write API, so it
// keeps measuring while the engine's write path (replay.cpp) is being
// rewritten.
//
// Usage: parse_bench --state_file=FILE [Google Benchmark flags]
// (bench.mjs writes FILE = build-bench/tapes/state.json: JSON.stringify of
// entity sys-1's initial state, one ~500-byte catalog-system state.)
//
// nlohmann_json comes from Debian's nlohmann-json3-dev; bench/CMakeLists.txt
// gives this file alone an include directory holding just nlohmann/ (never
// -I/usr/include). Without the package, only er::json is measured.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "alloc_count.hpp"
#include "json/doc.hpp"
#include "json/value.hpp"

#if ER_BENCH_HAVE_NLOHMANN
#include <nlohmann/json.hpp>
#endif

namespace er_bench {

namespace {

template <typename ParseOnce>
void run_parse(benchmark::State& state, const std::string* text, ParseOnce parse_once) {
  if (!parse_once(*text)) {
    state.SkipWithError("parse failed");
    return;
  }
  const AllocCount a0 = alloc_count();
  for (auto _ : state) parse_once(*text);
  const AllocCount a1 = alloc_count();
  const double n = state.iterations() ? static_cast<double>(state.iterations()) : 1;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text->size()));
  state.counters["allocs_per_op"] = static_cast<double>(a1.allocations - a0.allocations) / n;
  state.counters["input_bytes"] = static_cast<double>(text->size());
}

#if ER_BENCH_HAVE_NLOHMANN
// A SAX handler that accepts everything and keeps nothing.
struct NoopSax {
  using json = nlohmann::json;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(json::string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};
#endif

void register_parse_benchmarks(const std::string* state_text) {
  // The write path's parse: into a tape document whose buffers the engine
  // reuses from write to write (so no allocation once warm).
  benchmark::RegisterBenchmark("parse_er_doc",
                               [state_text](benchmark::State& s) {
                                 er::json::Doc doc;
                                 run_parse(s, state_text, [&doc](const std::string& t) {
                                   const bool ok = doc.parse(t).ok();
                                   benchmark::DoNotOptimize(doc);
                                   return ok;
                                 });
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  // A tree (cold paths: catalog helpers, normalising).
  benchmark::RegisterBenchmark("parse_er_json",
                               [state_text](benchmark::State& s) {
                                 run_parse(s, state_text, [](const std::string& t) {
                                   auto v = er::json::parse(t);
                                   benchmark::DoNotOptimize(v);
                                   return v.ok();
                                 });
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
#if ER_BENCH_HAVE_NLOHMANN
  benchmark::RegisterBenchmark("parse_nlohmann_dom",
                               [state_text](benchmark::State& s) {
                                 run_parse(s, state_text, [](const std::string& t) {
                                   auto v = nlohmann::json::parse(t, nullptr, /*allow_exceptions=*/false);
                                   benchmark::DoNotOptimize(v);
                                   return !v.is_discarded();
                                 });
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("parse_nlohmann_sax",
                               [state_text](benchmark::State& s) {
                                 run_parse(s, state_text, [](const std::string& t) {
                                   NoopSax sax;
                                   const bool ok = nlohmann::json::sax_parse(t, &sax);
                                   benchmark::DoNotOptimize(ok);
                                   return ok;
                                 });
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
#endif
}

}  // namespace
}  // namespace er_bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a.substr(0, 13) == "--state_file=") file = std::string(a.substr(13));
  }
  std::ifstream in(file, std::ios::binary);
  static std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (file.empty() || text.empty()) {
    std::fprintf(stderr, "usage: parse_bench --state_file=FILE [benchmark flags] (bench/bench.mjs writes FILE)\n");
    return 2;
  }
  er_bench::register_parse_benchmarks(&text);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
