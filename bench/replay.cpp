// The engine's write path for the native bench (see replay.hpp: swap this
// file when the core's write API changes). Mirrors what
// bindings/entity_reactor.cpp runs for beginRaw / setPrevRaw / commitRaw
// (one write) and beginBatchRaw / commitBatchRaw (one ingest call).
#include "replay.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "engine/wire_format.hpp"
#include "json/value.hpp"

namespace er_bench {

namespace {

constexpr std::string_view kKind = er::catalog::kSystemKind;

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

}  // namespace

struct Replayer::Impl {
  std::unique_ptr<er::Engine> engine;
  std::string out, tail, error;
};

Replayer::Replayer(const Secrets* secrets) : impl_(std::make_unique<Impl>()) {
  impl_->engine = make_engine(secrets);
  impl_->out.reserve(4096);
}
Replayer::~Replayer() = default;
const std::string& Replayer::error() const { return impl_->error; }
std::size_t Replayer::outcome_bytes() const { return impl_->out.size(); }

// ---- workload kind "write" (update, noop, masked, createRemove) -------------
// begin -> set_prev -> commit -> write_outcome (+ the masked prev/next tail).
bool Replayer::write(const Record& w, bool& changed) {
  er::Engine& engine = *impl_->engine;
  std::string& out = impl_->out;
  std::string& error = impl_->error;
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
  impl_->tail.clear();  // masked prev/next follow the outcome, as in commitRaw
  er::write_outcome(*r, false, out, &impl_->tail);
  out += impl_->tail;
  changed = r->changed;
  return true;
}

// ---- workload kind "ingest" -------------------------------------------------
// beginBatchRaw + commitBatchRaw: parse ids, opts, prevs and entries, then
// begin_batch -> commit_batch -> write_outcomes.
bool Replayer::ingest(const Record& rec, std::size_t& entries_n) {
  er::Engine& engine = *impl_->engine;
  std::string& out = impl_->out;
  std::string& error = impl_->error;
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

}  // namespace er_bench
