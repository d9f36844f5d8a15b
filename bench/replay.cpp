// The engine's write path for the native bench (see replay.hpp: swap this
// file when the core's write API changes). For each tape record it does
// what js/src/engine.js decides (what crosses: prev by token or as text, a
// retry after CACHE_MISS, the committed token and text it keeps per id),
// what js/src/wire.js writes (wire::encode_write), and exactly what
// bindings/entity_reactor.cpp's Core::write runs: wire::decode_write,
// Engine::write, wire::encode_records. Then it reads each record the way
// readEntry does for what JS keeps (flags, token, the normalised text).
#include "replay.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <unordered_map>

#include "boundary/wire.hpp"
#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "json/value.hpp"

namespace er_bench {

namespace {

namespace wire = er::wire;

// js/src/engine.js: DEFAULT_CACHE_BYTES, DEFAULT_LOG_BYTES.
constexpr std::size_t kCacheBytes = 16u << 20;
constexpr std::size_t kLogBytes = 64u << 20;

// createEngine({ retentionPerEntity: 16 }) + registerCatalogEntities.
std::unique_ptr<er::Engine> make_engine(const Secrets* secrets, std::uint32_t& system_kind) {
  er::EngineOptions o;
  o.seed = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 0x2545f4914f6cdd1dull};
  o.retention_per_entity = 16;
  o.state_cache_bytes = kCacheBytes;
  o.log_bytes = kLogBytes;
  auto engine = std::make_unique<er::Engine>(std::move(o));
  auto fail = [](const er::Error& e) {
    std::fprintf(stderr, "native_bench: engine setup failed: %s\n", e.message.c_str());
    std::exit(2);
  };
  auto system = engine->define_kind(er::catalog::kSystemKind, er::catalog::system_state_schema());
  if (!system.ok()) fail(system.error());
  system_kind = *system;
  auto group = engine->define_kind(er::catalog::kGroupKind, er::catalog::group_state_schema());
  if (!group.ok()) fail(group.error());
  if (auto r = er::catalog::register_catalog(*engine); !r.ok()) fail(r.error());
  if (secrets) engine->secrets().register_values(secrets->run_id, secrets->values);
  return engine;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return static_cast<std::int64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// ---- the texts JSON.stringify wrote for each value of a tape line, as
// spans of the line (prepared once per record, outside the writes).

std::size_t skip_ws(std::string_view t, std::size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}

// The index just past the JSON value starting at t[i].
std::size_t value_end(std::string_view t, std::size_t i) {
  int depth = 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '"') {
      for (++i; i < t.size() && t[i] != '"'; ++i)
        if (t[i] == '\\') ++i;
      if (depth == 0) return i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth <= 0) return depth < 0 ? i : i + 1;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
      return i;
    }
  }
  return t.size();
}

// Calls f(key, value span) for each member of the object text t.
template <typename F>
bool members(std::string_view t, F&& f) {
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return false;
  i = skip_ws(t, i + 1);
  while (i < t.size() && t[i] != '}') {
    const std::size_t key_end = value_end(t, i);
    auto key = er::json::parse(t.substr(i, key_end - i));
    if (!key.ok() || !key->is_string()) return false;
    i = skip_ws(t, key_end);
    if (i >= t.size() || t[i] != ':') return false;
    i = skip_ws(t, i + 1);
    const std::size_t end = value_end(t, i);
    f(key->as_string(), t.substr(i, end - i));
    i = skip_ws(t, end);
    if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
  }
  return true;
}

// Calls f(item span) for each item of the array text t.
template <typename F>
bool items(std::string_view t, F&& f) {
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '[') return false;
  i = skip_ws(t, i + 1);
  while (i < t.size() && t[i] != ']') {
    const std::size_t end = value_end(t, i);
    f(t.substr(i, end - i));
    i = skip_ws(t, end);
    if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
  }
  return true;
}

// What the JS layer sends for opts (js/src/engine.js optionsOf): the run id,
// and the actor's JSON for a run's writes only.
struct Options {
  std::string run_id, actor;
};
Options parse_options(std::string_view text) {
  Options o;
  if (text.empty()) return o;
  std::string actor;
  members(text, [&](const std::string& key, std::string_view value) {
    if (key == "runId" && value != "null") {
      auto run = er::json::parse(value);
      if (run.ok() && run->is_string()) o.run_id = run->as_string();
    } else if (key == "actor" && value != "null") {
      actor = std::string(value);
    }
  });
  if (!o.run_id.empty()) o.actor = std::move(actor);
  return o;
}

// One ingest record, split into what JS hands the core per entry.
struct Batch {
  Options opts;
  std::vector<std::string> ids;
  std::vector<std::string_view> next;  // "" = removal (next: null)
  std::vector<std::string_view> read;  // first occurrence: what read returned ("" = nothing)
  std::vector<std::int32_t> previous;  // the previous entry with the same id, or -1
  std::vector<bool> last;              // the id's last entry in the call
};

}  // namespace

struct Replayer::Impl {
  std::unique_ptr<er::Engine> engine;
  std::uint32_t kind = 0;
  // js/src/states.js (CommittedStates): per id, the token and text of the
  // state the engine committed last. Here "read returned that very object"
  // is "the tape's prev text is that text".
  struct Committed {
    std::uint32_t token = 0;
    std::string text;
  };
  std::unordered_map<std::string, Committed> committed;
  // Reused buffers: the JS side's input buffer, the binding's decoded write
  // and records.
  std::vector<er::WriteEntry> entries;
  std::string input;
  wire::WriteInput decoded;
  std::vector<std::uint32_t> records;
  std::size_t outcome_bytes = 0;
  std::string error;
  std::string opts_text;  // the opts line parsed last (a workload's are all alike)
  Options opts;
  std::unordered_map<const Record*, Batch> batches;

  const Committed* known(const std::string& id, std::string_view prev_text) const {
    auto it = committed.find(id);
    return it != committed.end() && it->second.token != 0 && it->second.text == prev_text ? &it->second : nullptr;
  }

  // JS: the wire in (encode_write), then the binding's Core::write. A
  // CACHE_MISS crosses again with every cached prev as its text
  // (#commit1 / #commitMany). On success `records` holds the result.
  const er::WriteResult* cross(std::span<er::WriteEntry> batch, std::span<const std::string_view> cached_texts) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      wire::encode_write(opts.run_id, opts.actor, batch, input);
      // ---- bindings/entity_reactor.cpp, Core::write
      if (auto d = wire::decode_write(input, static_cast<std::uint32_t>(batch.size()), decoded); !d.ok()) {
        error = d.error().message;
        return nullptr;
      }
      er::WriteContext ctx;
      ctx.kind = kind;
      ctx.run_id = decoded.run_id;
      ctx.actor = decoded.actor;
      ctx.now = now_ms();
      auto r = engine->write(ctx, decoded.entries);
      if (!r.ok()) {
        error = r.error().message;
        return nullptr;
      }
      const er::WriteResult& res = **r;
      if (res.status == er::WriteResult::Status::CacheMiss) {
        for (std::size_t i = 0; i < batch.size(); ++i)
          if (batch[i].prev == er::PrevSource::Cached) {
            batch[i].prev = er::PrevSource::Text;
            batch[i].prev_text = cached_texts[i];
          }
        continue;
      }
      wire::encode_records(res, records);
      outcome_bytes = records.size() * sizeof(std::uint32_t) + res.texts.size();
      return &res;
    }
    error = "a write with texts only missed the cache";
    return nullptr;
  }

  // What JS keeps after entry i (readEntry, then states.remember/forget).
  void keep(const er::WriteResult& res, std::size_t i, const std::string& id, std::string_view next, bool& changed) {
    const std::uint32_t* r = records.data() + i * wire::kRecordWords;
    changed = (r[wire::R_FLAGS] & wire::F_CHANGED) != 0;
    const std::uint32_t token = r[wire::R_TOKEN];
    if (next.empty() || token == 0) {
      if (auto it = committed.find(id); it != committed.end()) it->second.token = 0;
      return;
    }
    std::string_view text = next;
    if (r[wire::R_FLAGS] & wire::F_NEXT_NORMALIZED)
      text = std::string_view(res.texts).substr(r[wire::R_NEXT_TEXT], r[wire::R_NEXT_TEXT + 1]);
    Committed& c = committed[id];
    c.token = token;
    c.text.assign(text.data(), text.size());
  }

  const Batch* prepare(const Record& rec) {
    auto it = batches.find(&rec);
    if (it != batches.end()) return &it->second;
    Batch b;
    b.opts = parse_options(rec.b);
    std::unordered_map<std::string, std::string_view> prevs;
    if (!members(rec.c, [&](const std::string& id, std::string_view v) { prevs[id] = v == "null" ? "" : v; }))
      return nullptr;
    std::unordered_map<std::string, std::size_t> seen;
    bool ok = items(rec.d, [&](std::string_view entry) {
      std::string id;
      std::string_view next;
      members(entry, [&](const std::string& key, std::string_view v) {
        if (key == "id") {
          auto parsed = er::json::parse(v);
          if (parsed.ok() && parsed->is_string()) id = parsed->as_string();
        } else if (key == "next") {
          next = v == "null" ? std::string_view() : v;
        }
      });
      const std::size_t i = b.ids.size();
      auto s = seen.find(id);
      b.previous.push_back(s == seen.end() ? -1 : static_cast<std::int32_t>(s->second));
      if (s != seen.end()) b.last[s->second] = false;
      auto p = prevs.find(id);
      b.read.push_back(s == seen.end() && p != prevs.end() ? p->second : std::string_view());
      seen[id] = i;
      b.ids.push_back(std::move(id));
      b.next.push_back(next);
      b.last.push_back(true);
    });
    if (!ok) return nullptr;
    return &batches.emplace(&rec, std::move(b)).first->second;
  }
};

Replayer::Replayer(const Secrets* secrets) : impl_(std::make_unique<Impl>()) {
  impl_->engine = make_engine(secrets, impl_->kind);
  impl_->input.reserve(4096);
  impl_->committed.reserve(8192);
}
Replayer::~Replayer() = default;
const std::string& Replayer::error() const { return impl_->error; }
std::size_t Replayer::outcome_bytes() const { return impl_->outcome_bytes; }

// ---- workload kind "write" (update, noop, masked, createRemove) -------------
// handle.mutate / handle.remove: prev by token when it is the committed
// state, else as text (none when read found nothing); one crossing.
bool Replayer::write(const Record& w, bool& changed) {
  Impl& m = *impl_;
  if (w.b != m.opts_text) {
    m.opts = parse_options(w.b);
    m.opts_text = w.b;
  }
  er::WriteEntry e;
  e.id = w.a;
  std::string_view cached_text;
  if (w.c.empty()) {
    e.prev = er::PrevSource::None;
  } else if (const Impl::Committed* c = m.known(w.a, w.c)) {
    e.prev = er::PrevSource::Cached;
    e.prev_token = c->token;
    cached_text = c->text;
  } else {
    e.prev = er::PrevSource::Text;
    e.prev_text = w.c;
  }
  e.remove = w.d.empty();
  if (!e.remove) e.next_text = w.d;
  const er::WriteResult* res =
      m.cross(std::span<er::WriteEntry>(&e, 1), std::span<const std::string_view>(&cached_text, 1));
  if (!res) return false;
  m.keep(*res, 0, w.a, w.d, changed);
  return true;
}

// ---- workload kind "ingest" -------------------------------------------------
// engine.ingest: one batch; each id's first entry has what read returned
// (by token when it is the committed state), later ones the previous
// entry's next as text (none after a removal); one crossing.
bool Replayer::ingest(const Record& rec, std::size_t& entries_n) {
  Impl& m = *impl_;
  const Batch* b = m.prepare(rec);
  if (!b) return m.error = "ingest: a tape line is not the JSON bench.mjs writes", false;
  m.opts = b->opts;
  m.opts_text.clear();
  const std::size_t n = b->ids.size();
  m.entries.resize(n);
  static thread_local std::vector<std::string_view> cached_texts;
  cached_texts.assign(n, std::string_view());
  for (std::size_t i = 0; i < n; ++i) {
    er::WriteEntry& e = m.entries[i];
    e = er::WriteEntry{};
    e.id = b->ids[i];
    if (b->previous[i] >= 0) {
      const std::string_view before = b->next[static_cast<std::size_t>(b->previous[i])];
      e.prev = before.empty() ? er::PrevSource::None : er::PrevSource::Text;
      e.prev_text = before;
    } else if (b->read[i].empty()) {
      e.prev = er::PrevSource::None;
    } else if (const Impl::Committed* c = m.known(b->ids[i], b->read[i])) {
      e.prev = er::PrevSource::Cached;
      e.prev_token = c->token;
      cached_texts[i] = c->text;
    } else {
      e.prev = er::PrevSource::Text;
      e.prev_text = b->read[i];
    }
    e.remove = b->next[i].empty();
    e.next_text = b->next[i];
  }
  const er::WriteResult* res = m.cross(m.entries, cached_texts);
  if (!res) return false;
  bool changed = false;
  for (std::size_t i = 0; i < n; ++i)
    if (b->last[i]) m.keep(*res, i, b->ids[i], b->next[i], changed);
  entries_n = n;
  return true;
}

}  // namespace er_bench
