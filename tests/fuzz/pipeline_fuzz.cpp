// The whole write path (SPEC §5, §7, §9) through the boundary, as
// bindings/entity_reactor.cpp runs it: wire::encode_write (what
// js/src/wire.js writes) -> wire::decode_write -> Engine::write ->
// wire::encode_records. Random sequences of mutate/remove and batches
// (repeated ids, tombstones) on four kinds (strict-ish, loose, defaults, the
// catalog's with its native derivers), embedded or host store, retention,
// and a prev-cache budget from none to a few states. Prevs are named the
// way the JS layer names them (a token when read returns the object the
// engine committed last, else its text; a CACHE_MISS crosses again with
// texts), with deliberate deviations: wrong, stale and foreign tokens, the
// right token where JS would send text, other texts, no prev over an
// existing entity. Runs with secrets, without, and unknown; actors.
//
// Each call is compared with a reference computed from the texts alone
// (parse, validate — a prev that fails validation is compared raw —,
// mask, diff, transition texts, catalog derivation):
//   * errors: the reference's code, for the first bad entry; no effect;
//   * CacheMiss: only when a named token is not the entity's (or, under a
//     small budget, was evicted), at the first such entry; never an effect
//     (entities, cached bytes, histories unchanged);
//   * each entry: changed, changed fields (listed by index, others by
//     name), normalised prev/next texts, masked prev/next/actor, rows only
//     for non-tombstones (host store: their texts; embedded: the whole
//     history after retention), derived triggers and payload, tokens;
//   * the records encode_records writes are the result's outcomes, and the
//     input decode_write reads is the one encoded;
//   * no plain registered secret in any output text of a run write (the
//     masked states, actor, rows, changed field names, derived payload,
//     the embedded history) — normalised texts excepted: they are the
//     caller's own unmasked state (SPEC §5.4);
//   * determinism: a second engine fed the same calls returns byte-for-byte
//     the same results;
//   * at the end: inStateSince and transitionCount agree with the rows.
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "boundary/wire.hpp"
#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "fuzz_util.hpp"
#include "schema/schema.hpp"

using namespace er;

namespace {

struct KindDef {
  const char* name;
  const char* schema;  // nullptr: the catalog's system schema
};
const KindDef kKinds[] = {
    {"sys", R"({"type":"object","properties":{"name":{"type":"string","minLength":1},
      "description":{"type":["string","null"]},
      "metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}},
      "required":["name","description","metadata"],"additionalProperties":false})"},
    {"loose", R"({"type":"object","additionalProperties":true})"},
    {"def", R"({"type":"object","properties":{"n":{"type":"number","default":1},"s":{"type":"string"},
      "tags":{"type":"array","items":{"type":"string"},"default":[]}},"additionalProperties":false})"},
    {"catalog-system", nullptr},
};
constexpr std::size_t kKindCount = std::size(kKinds);
const std::string kIds[] = {"a", "b", "__proto__", "\xc3\xa9", std::string("a\0b", 3)};

json::Limits limits() {
  json::Limits l;
  l.max_depth = 16;
  l.max_bytes = 1 << 16;
  return l;
}

std::string schema_text(std::size_t kind) {
  return kKinds[kind].schema ? kKinds[kind].schema : json::to_string(catalog::system_state_schema());
}

// The reference's own compiled schemas (compiled once per process).
const schema::Schema& schema_of(std::size_t kind) {
  static std::vector<schema::Schema> schemas = [] {
    std::vector<schema::Schema> out;
    for (std::size_t k = 0; k < kKindCount; ++k) {
      auto parsed = json::parse(schema_text(k));
      auto compiled = schema::Schema::compile(*parsed, kKinds[k].name);
      if (!compiled.ok()) fuzz::fail("a harness schema does not compile", compiled.error().message);
      out.push_back(std::move(compiled.value()));
    }
    return out;
  }();
  return schemas[kind];
}

std::string show(std::string_view s) { return json::to_string(json::Value(std::string(s))); }
std::string canon(const json::Value& v) { return json::to_string(v); }

std::string transition_text(const json::Value* obj, std::string_view key) {
  const json::Value* v = obj ? obj->find(key) : nullptr;
  if (!v || v->is_null()) return "null";
  if (v->is_string()) return v->as_string();
  return json::to_string(*v);
}

using Key = std::pair<std::size_t, std::string>;  // kind, id

struct RefRow {
  std::string field;
  std::optional<std::string> from;
  std::string to;
  std::int64_t at;
};

// How an entry names its prev.
enum class Prev { None, Text, CachedRight, CachedWrong };

struct Planned {
  std::string id;
  Prev prev = Prev::None;
  std::uint32_t token = 0;
  std::string prev_text;  // Text; for a Cached entry, the text a retry sends ("" + !has_retry: none)
  bool retry_has_text = false;
  bool js_cached = false;  // named by token the way the JS layer would
  bool remove = false;
  std::string next_text;
};

// A state text as the engine loads it.
struct Loaded {
  std::optional<Code> error;
  json::Value state;        // validated (normalised), or raw for a prev that no longer validates
  bool valid = false;       // validated
  bool normalised = false;  // validate changed it
};

Loaded load(std::size_t kind, std::string_view text, bool prev) {
  Loaded l;
  auto v = json::parse(text, limits());
  if (!v.ok()) {
    l.error = v.error().code;
    return l;
  }
  if (!v->is_object()) {
    l.error = Code::ER_NOT_OBJECT;
    return l;
  }
  json::Value copy = *v;
  auto r = schema_of(kind).validate(copy, "k", "i");
  if (r.ok()) {
    l.state = std::move(copy);
    l.valid = true;
    l.normalised = *r;
  } else if (prev) {
    l.state = std::move(v.value());  // stored data that no longer validates is compared as it is
  } else {
    l.error = r.error().code;
  }
  return l;
}

// What the reference expects of one entry that ran.
struct Expected {
  std::optional<Code> error;
  bool has_prev = false, has_next = false;
  Loaded prev, next;  // unmasked
  bool prev_from_text = false;
  std::optional<json::Value> mprev, mnext;  // masked copies (when masking changed them)
  std::vector<std::string> fields;
  std::vector<RefRow> rows;
  std::string derived;  // "" = none
};

struct Fuzz {
  FuzzedDataProvider& in;
  bool host_store = false;
  std::size_t retention = 0;
  std::size_t budget = 0;
  bool evictions = false;  // the budget may evict what the model thinks cached
  std::int64_t clock = 1764258720000;
  std::unique_ptr<Engine> engine, twin;
  std::uint32_t kind_index[kKindCount] = {};
  std::vector<std::string> secrets;  // run "r1"
  const secrets::Matcher* matcher = nullptr;

  // ---- the model
  std::map<Key, std::string> host;  // the host's data, as JSON text
  struct Committed {
    std::uint32_t token;
    std::string state_text;  // what JS keeps: the normalised text or the text it sent
    std::string host_text;   // the object it remembers (identity, here: its text)
  };
  std::map<Key, Committed> committed;          // the JS layer's CommittedStates
  std::map<Key, std::uint32_t> current_token;  // the engine's token per entity (0: none)
  std::map<Key, std::vector<std::uint32_t>> old_tokens;
  std::map<Key, std::string> engine_state;  // canonical text of the state the engine cached
  std::map<Key, std::vector<RefRow>> rows;  // embedded store, oldest first, after retention
  std::string log;                          // the calls so far, for failure messages

  explicit Fuzz(FuzzedDataProvider& input) : in(input) {
    host_store = in.ConsumeBool();
    const int r = in.ConsumeIntegralInRange<int>(0, 3);
    retention = r == 3 ? 0 : static_cast<std::size_t>(r + 1);
    static const std::size_t kBudgets[] = {0, 600, 1500, 4000, 16u << 20};
    budget = kBudgets[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kBudgets) - 1)];
    evictions = budget != 0 && budget < (16u << 20);
    EngineOptions o;
    o.seed = {1, 2, 3, 4};
    o.host_store = host_store;
    o.retention_per_entity = retention;
    o.state_cache_bytes = budget;
    o.limits = limits();
    engine = std::make_unique<Engine>(o);
    twin = std::make_unique<Engine>(o);
    const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 3);  // run r2 and no run cover "none"
    for (std::size_t i = 0; i < n; ++i) {
      std::string s = fuzz::gen_string(in, {}, 3);
      if (s.empty()) s = "hunter" + std::to_string(i);
      secrets.push_back(std::move(s));
    }
    for (Engine* e : {engine.get(), twin.get()}) {
      for (std::size_t k = 0; k < kKindCount; ++k) {
        auto d = e->define_kind(kKinds[k].name, std::string_view(schema_text(k)));
        FUZZ_CHECK(d.ok(), d.ok() ? "" : d.error().message);
        kind_index[k] = *d;
      }
      FUZZ_CHECK(catalog::register_catalog(*e).ok(), "register_catalog");
      e->secrets().register_values("r1", secrets);
    }
    matcher = engine->secrets().matcher("r1");
    if (matcher && matcher->empty()) matcher = nullptr;
    log = "host_store=" + std::to_string(host_store) + " retention=" + std::to_string(retention) +
          " budget=" + std::to_string(budget) +
          " secrets=" + canon(json::Value(json::Array(secrets.begin(), secrets.end()))) + "\n";
  }

  // ------------------------------------------------------------ generators

  // A state text: usually a generated object (holding secret pieces), at
  // times something the parser or the schema rejects (rarer in batches,
  // where one bad entry fails them all).
  std::string gen_state_text(bool in_batch = false) {
    switch (in.ConsumeIntegralInRange<int>(0, in_batch ? 79 : 29)) {
      case 0: {  // any bytes
        std::string text = in.ConsumeRandomLengthString(64);
        return text.empty() ? "null" : text;
      }
      case 1:
        return "[1,2]";
      case 2:
        return "\"text\"";
      case 3: {
        std::string deep;
        for (int i = 0; i < 20; ++i) deep += "{\"x\":";
        deep += "1" + std::string(20, '}');
        return deep;
      }
      case 4:
        return R"({"name":"\ud800","description":null,"metadata":{}})";
      case 5:
        return R"({"s":"x","junk":1})";  // "def": normalised (strip + defaults)
      default: {
        json::Value v = fuzz::gen_object(in, secrets);
        if (in.ConsumeIntegralInRange<int>(0, 7) != 0) {
          // Valid for every kind: each strips the others' fields.
          v.set("name", json::Value(in.ConsumeBool() ? std::string("n") : fuzz::gen_string(in, secrets, 2)));
          v.set("description", in.ConsumeBool() ? json::Value(nullptr) : json::Value(fuzz::gen_string(in, secrets, 2)));
          v.set("metadata", fuzz::gen_object(in, secrets));
          if (in.ConsumeBool())
            v.set("n", json::Value(static_cast<double>(in.ConsumeIntegralInRange<int>(-2, 2))));
          else
            v.erase("n");
          if (in.ConsumeBool())
            v.set("s", json::Value(fuzz::gen_string(in, secrets, 2)));
          else
            v.erase("s");
          if (in.ConsumeBool()) {
            json::Array tags;
            for (int t = in.ConsumeIntegralInRange<int>(0, 2); t > 0; --t)
              tags.push_back(json::Value(fuzz::gen_string(in, secrets, 2)));
            v.set("tags", json::Value(std::move(tags)));
          } else {
            v.erase("tags");
          }
          if (in.ConsumeBool()) v.set("junk", json::Value(1));  // stripped (not by "loose")
        }
        std::string text = json::to_string(v);
        if (in.ConsumeBool()) text.insert(text.size() - 1, " ");  // not canonical: same state, other text
        return text;
      }
    }
  }

  std::string gen_actor(bool run) {
    if (!run) return "";  // JS sends the actor's text for run writes only
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        return "";
      case 1:
        return R"({"type":"user","id":"u1"})";
      case 2: {
        json::Value a = json::Value::object();
        a.set("type", "user");
        a.set("id", json::Value(fuzz::gen_string(in, secrets, 3)));
        a.set("name", json::Value(fuzz::gen_string(in, secrets, 3)));
        return canon(a);
      }
      default:
        return "{";  // not JSON: ignored
    }
  }

  // A token the engine does not hold for `k`.
  std::uint32_t wrong_token(const Key& k) {
    const std::uint32_t current = current_token.count(k) ? current_token[k] : 0;
    std::uint32_t t = 0;
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        t = 0;
        break;
      case 1:
        t = current + 1 + in.ConsumeIntegralInRange<std::uint32_t>(0, 1000);
        break;
      case 2: {  // another entity's token
        if (!current_token.empty()) {
          auto it = current_token.begin();
          std::advance(it, in.ConsumeIntegralInRange<std::size_t>(0, current_token.size() - 1));
          t = it->second;
        }
        break;
      }
      default: {  // one this entity had
        const auto& old = old_tokens[k];
        if (!old.empty()) t = old[in.ConsumeIntegralInRange<std::size_t>(0, old.size() - 1)];
        break;
      }
    }
    if (t == current && current != 0) t = current + 1;
    if (t == current && current == 0 && t == 0) return 0;  // no state: 0 never hits
    return t;
  }

  // The prev of a first occurrence of `k` in a call: as JS names it, or a deviation.
  void plan_prev(const Key& k, Planned& p) {
    const auto h = host.find(k);
    const auto c = committed.find(k);
    const bool js_cached = h != host.end() && c != committed.end() && c->second.host_text == h->second;
    // As the JS layer does.
    auto as_js = [&] {
      if (h == host.end()) {
        p.prev = Prev::None;
      } else if (js_cached) {
        p.prev = Prev::CachedRight;
        p.token = c->second.token;
        p.prev_text = c->second.state_text;
        p.retry_has_text = true;
        p.js_cached = true;
      } else {
        p.prev = Prev::Text;
        p.prev_text = h->second;
      }
    };
    switch (in.ConsumeIntegralInRange<int>(0, 15)) {
      case 0:  // text where JS could name a token
        if (h != host.end()) {
          p.prev = Prev::Text;
          p.prev_text = h->second;
        } else {
          as_js();
        }
        break;
      case 1:  // a token the engine does not hold
        p.prev = Prev::CachedWrong;
        p.token = wrong_token(k);
        if (h != host.end()) {
          p.prev_text = h->second;
          p.retry_has_text = true;
        }
        break;
      case 2:  // read returned something else
        p.prev = Prev::Text;
        p.prev_text = gen_state_text();
        break;
      case 3:  // read returned nothing, whatever the host had
        p.prev = Prev::None;
        break;
      case 4:  // the engine's token where JS would not name it
        if (current_token.count(k) && current_token[k] != 0) {
          p.prev = Prev::CachedRight;
          p.token = current_token[k];
          if (h != host.end()) {
            p.prev_text = h->second;
            p.retry_has_text = true;
          }
        } else {
          as_js();
        }
        break;
      default:
        as_js();
        break;
    }
  }

  // ------------------------------------------------------------ the reference

  // One entry, given the prev the engine sees (`cached_prev`: the engine's
  // cached state for a token that hits).
  Expected expect(std::size_t kind, const Planned& p, const std::optional<std::string>& cached_prev, bool run,
                  std::string_view id) {
    Expected e;
    if (p.prev == Prev::Text) {
      e.prev = load(kind, p.prev_text, true);
      e.prev_from_text = true;
      if (e.prev.error) {
        e.error = e.prev.error;
        return e;
      }
      e.has_prev = true;
    } else if (p.prev == Prev::CachedRight || p.prev == Prev::CachedWrong) {
      auto v = json::parse(*cached_prev, json::Limits{~std::size_t{0}, 64});
      FUZZ_CHECK(v.ok(), "the model's cached state does not parse: " + *cached_prev);
      e.prev.state = std::move(v.value());
      e.prev.valid = true;
      e.has_prev = true;
    }
    if (!p.remove) {
      e.next = load(kind, p.next_text, false);
      if (e.next.error) {
        e.error = e.next.error;
        return e;
      }
      e.has_next = true;
    }
    json::Value mp = e.prev.state, mn = e.next.state;
    if (run && matcher) {
      if (e.has_prev && secrets::mask_value(*matcher, mp)) e.mprev = mp;
      if (e.has_next && secrets::mask_value(*matcher, mn)) e.mnext = mn;
    }
    const json::Value* a = e.has_prev ? &mp : nullptr;
    const json::Value* b = e.has_next ? &mn : nullptr;
    // The diff: the union of keys (a missing side is {}), absent = null at
    // the top level; a tombstone lists every field of prev.
    std::set<std::string, decltype(&json::key_less)> keys(&json::key_less);
    if (a)
      for (const auto& m : a->as_object()) keys.insert(m.key);
    if (b)
      for (const auto& m : b->as_object()) keys.insert(m.key);
    for (const auto& key : keys) {
      if (!b) {
        e.fields.push_back(key);
        continue;
      }
      auto val = [&](const json::Value* obj) -> std::string {
        const json::Value* v = obj ? obj->find(key) : nullptr;
        return v ? canon(*v) : "null";
      };
      if (val(a) != val(b)) e.fields.push_back(key);
    }
    if (!e.fields.empty() && b)
      for (const auto& f : e.fields)
        e.rows.push_back(RefRow{f, a ? std::optional<std::string>(transition_text(a, f)) : std::nullopt,
                                transition_text(b, f), clock});
    if (!e.fields.empty() && std::string_view(kKinds[kind].name) == catalog::kSystemKind) {
      std::string& t = e.derived;
      t = "{\"triggers\":[";
      json::write_string(!a ? catalog::kSystemCreated : !b ? catalog::kSystemDeleted : catalog::kSystemUpdated, t);
      t += "],\"payload\":{\"changedFields\":[";
      bool first = true;
      for (const auto& f : e.fields) {
        if (f != "name" && f != "description" && f != "metadata") continue;
        if (!first) t += ',';
        first = false;
        json::write_string(f, t);
      }
      t += "],\"systemId\":";
      json::write_string(id, t);
      if (b)
        if (const json::Value* name = b->find("name"); name && name->is_string()) {
          t += ",\"systemName\":";
          json::write_string(name->as_string(), t);
        }
      t += "}}";
    }
    return e;
  }

  // ------------------------------------------------------------ output checks

  void check_string(std::string_view s, std::string_view what, std::string_view context) {
    for (const auto& secret : secrets)
      if (fuzz::plain_secret(secret))
        FUZZ_CHECK(s.find(secret) == std::string_view::npos, std::string(what) + " of a run write holds the secret " +
                                                                 show(secret) + ": " + show(s) + "\n  in " +
                                                                 std::string(context) + "\n" + log);
  }
  void check_json_strings(std::string_view text, std::string_view what) {
    auto v = json::parse(text, json::Limits{~std::size_t{0}, 1 << 20});
    FUZZ_CHECK(v.ok(), std::string(what) + " is not JSON: " + std::string(text));
    std::vector<std::string_view> strings;
    fuzz::strings_of(*v, strings);
    for (std::string_view s : strings) check_string(s, what, text);
  }
  // A transition text: a string as itself, anything else canonical JSON
  // whose syntax ("false", "1e+21") is not state — only its strings count.
  void check_row_text(std::string_view text, std::string_view what) {
    auto v = json::parse(text, json::Limits{~std::size_t{0}, 1 << 20});
    if (v.ok() && !v->is_string()) {
      std::vector<std::string_view> strings;
      fuzz::strings_of(*v, strings);
      for (std::string_view s : strings) check_string(s, what, text);
    } else {
      check_string(text, what, text);
    }
  }

  // The records are the outcomes, word by word.
  void check_records(const WriteResult& res) {
    std::vector<std::uint32_t> records;
    wire::encode_records(res, records);
    FUZZ_CHECK(records.size() == res.entries.size() * wire::kRecordWords, "record count");
    for (std::size_t i = 0; i < res.entries.size(); ++i) {
      const EntryOutcome& o = res.entries[i];
      const std::uint32_t* w = records.data() + i * wire::kRecordWords;
      const std::uint32_t flags =
          (o.changed ? wire::F_CHANGED : 0) | (o.next_normalized ? wire::F_NEXT_NORMALIZED : 0) |
          (o.prev_normalized ? wire::F_PREV_NORMALIZED : 0) | (o.prev_masked ? wire::F_PREV_MASKED : 0) |
          (o.next_masked ? wire::F_NEXT_MASKED : 0) | (o.actor_masked ? wire::F_ACTOR_MASKED : 0) |
          (o.derived ? wire::F_DERIVED : 0);
      FUZZ_CHECK(w[wire::R_FLAGS] == flags && w[wire::R_TOKEN] == o.token && w[wire::R_FIELD_BEGIN] == o.field_begin &&
                     w[wire::R_FIELD_COUNT] == o.field_count && w[wire::R_ROW_COUNT] == o.row_count,
                 "record words of entry " + std::to_string(i));
      const std::pair<std::uint32_t, TextSpan> spans[] = {{wire::R_NEXT_TEXT, o.next_text},
                                                          {wire::R_PREV_TEXT, o.prev_text},
                                                          {wire::R_MASKED_PREV, o.masked_prev},
                                                          {wire::R_MASKED_NEXT, o.masked_next},
                                                          {wire::R_ACTOR, o.actor},
                                                          {wire::R_DERIVED, o.derived_text},
                                                          {wire::R_NAMES, o.names},
                                                          {wire::R_ROWS, o.rows}};
      for (const auto& [slot, span] : spans) {
        FUZZ_CHECK(w[slot] == span.offset && w[slot + 1] == span.length, "record span at slot " + std::to_string(slot));
        FUZZ_CHECK(std::size_t{span.offset} + span.length <= res.texts.size(), "a span past the texts");
      }
      double at;
      std::memcpy(&at, w + wire::R_AT, sizeof at);
      FUZZ_CHECK(at == static_cast<double>(o.at), "record AT");
      FUZZ_CHECK(std::memcmp(w + wire::R_IDS, o.change_id.data(), UuidGenerator::kChars) == 0 &&
                     std::memcmp(reinterpret_cast<const char*>(w + wire::R_IDS) + UuidGenerator::kChars,
                                 o.occurred_at.data(), kIsoChars) == 0,
                 "record IDS");
    }
  }

  static void same_results(const Result<const WriteResult*>& a, const Result<const WriteResult*>& b) {
    FUZZ_CHECK(a.ok() == b.ok(), "the twin engine disagrees on success");
    if (!a.ok()) {
      FUZZ_CHECK(a.error().code == b.error().code && a.error().message == b.error().message &&
                     a.error().path == b.error().path,
                 "the twin engine reports another error: " + a.error().message + " / " + b.error().message);
      return;
    }
    const WriteResult &x = *a.value(), &y = *b.value();
    FUZZ_CHECK(x.status == y.status && x.miss == y.miss && x.fields == y.fields && x.texts == y.texts &&
                   x.entries.size() == y.entries.size(),
               "the twin engine returns another result");
    auto same_span = [](TextSpan p, TextSpan q) { return p.offset == q.offset && p.length == q.length; };
    for (std::size_t i = 0; i < x.entries.size(); ++i) {
      const EntryOutcome &p = x.entries[i], &q = y.entries[i];
      FUZZ_CHECK(p.changed == q.changed && p.next_normalized == q.next_normalized &&
                     p.prev_normalized == q.prev_normalized && p.prev_masked == q.prev_masked &&
                     p.next_masked == q.next_masked && p.actor_masked == q.actor_masked && p.derived == q.derived &&
                     p.token == q.token && p.field_begin == q.field_begin && p.field_count == q.field_count &&
                     same_span(p.next_text, q.next_text) && same_span(p.prev_text, q.prev_text) &&
                     same_span(p.masked_prev, q.masked_prev) && same_span(p.masked_next, q.masked_next) &&
                     same_span(p.actor, q.actor) && same_span(p.derived_text, q.derived_text) &&
                     same_span(p.names, q.names) && same_span(p.rows, q.rows) && p.row_count == q.row_count &&
                     p.at == q.at && p.change_id == q.change_id && p.occurred_at == q.occurred_at,
                 "the twin engine returns another outcome for entry " + std::to_string(i));
    }
  }

  // What no call may change when it fails or misses the cache.
  struct Effects {
    std::size_t entities = 0, cached = 0;
    std::map<Key, std::size_t> history;
    bool operator==(const Effects& o) const {
      return entities == o.entities && cached == o.cached && history == o.history;
    }
  };
  Effects effects() const {
    Effects e;
    e.entities = engine->entity_count();
    e.cached = engine->cached_bytes();
    for (std::size_t k = 0; k < kKindCount; ++k)
      for (const auto& id : kIds) e.history[{k, id}] = engine->history(kind_index[k], id, std::nullopt, 0).size();
    return e;
  }

  void check_history(const Key& k) {
    if (host_store) {
      FUZZ_CHECK(engine->history(kind_index[k.first], k.second, std::nullopt, 0).empty(),
                 "a host store has embedded rows");
      return;
    }
    const auto got = engine->history(kind_index[k.first], k.second, std::nullopt, 0);
    const auto& want = rows[k];
    FUZZ_CHECK(got.size() == want.size(), "history of " + show(k.second) + " has " + std::to_string(got.size()) +
                                              " rows, want " + std::to_string(want.size()) + "\n" + log);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const RefRow& r = want[want.size() - 1 - i];
      FUZZ_CHECK(got[i].field == r.field && got[i].from_value == r.from && got[i].to_value == r.to &&
                     got[i].transitioned_at == r.at,
                 "history row " + std::to_string(i) + " of " + show(k.second) + ": " + show(got[i].field) + " " +
                     show(got[i].from_value.value_or("<none>")) + " -> " + show(got[i].to_value) + ", want " +
                     show(r.field) + " " + show(r.from.value_or("<none>")) + " -> " + show(r.to) + "\n" + log);
    }
  }

  // ------------------------------------------------------------ one call

  // Runs `plan` (entries of `kind`) through the boundary; on a cache miss,
  // again with texts, as the JS layer does.
  void call(std::size_t kind, std::vector<Planned> plan, std::string_view run_id, const std::string& actor) {
    const bool run = run_id == "r1";
    for (int attempt = 0; attempt < 2; ++attempt) {
      log += "write kind=" + std::string(kKinds[kind].name) + " run=" + std::string(run_id) + " actor=" + show(actor) +
             ":";
      for (const Planned& p : plan) {
        static const char* const kPrev[] = {"none", "text", "token", "wrong-token"};
        log += " [" + show(p.id) + " prev=" + kPrev[static_cast<int>(p.prev)] +
               (p.prev == Prev::Text   ? " " + show(p.prev_text)
                : p.prev == Prev::None ? ""
                                       : " " + std::to_string(p.token)) +
               " next=" + (p.remove ? "<remove>" : show(p.next_text)) + "]";
      }
      log += "\n";
      std::vector<WriteEntry> entries;
      for (const Planned& p : plan) {
        WriteEntry e;
        e.id = p.id;
        e.prev = p.prev == Prev::None ? PrevSource::None : p.prev == Prev::Text ? PrevSource::Text : PrevSource::Cached;
        e.prev_token = p.token;
        if (p.prev == Prev::Text) e.prev_text = p.prev_text;
        e.remove = p.remove;
        if (!p.remove) e.next_text = p.next_text;
        entries.push_back(e);
      }
      std::string input;
      wire::encode_write(run_id, actor, entries, input);
      wire::WriteInput decoded;
      auto d = wire::decode_write(input, static_cast<std::uint32_t>(entries.size()), decoded);
      FUZZ_CHECK(d.ok(), "decode_write of an encoded write failed: " + (d.ok() ? "" : d.error().message));
      FUZZ_CHECK(decoded.run_id == run_id && decoded.actor == actor && decoded.entries.size() == entries.size(),
                 "decode_write round trip");
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const WriteEntry &x = entries[i], &y = decoded.entries[i];
        FUZZ_CHECK(x.id == y.id && x.prev == y.prev && x.remove == y.remove &&
                       (x.prev != PrevSource::Cached || x.prev_token == y.prev_token) &&
                       (x.prev != PrevSource::Text || x.prev_text == y.prev_text) &&
                       (x.remove || x.next_text == y.next_text),
                   "decode_write round trip of entry " + std::to_string(i));
      }
      WriteContext ctx;
      ctx.kind = kind_index[kind];
      ctx.run_id = decoded.run_id;
      ctx.actor = decoded.actor;
      ctx.now = clock;
      const Effects before = effects();
      auto r = engine->write(ctx, decoded.entries);
      auto r2 = twin->write(ctx, decoded.entries);
      same_results(r, r2);

      // SPEC §7: a run write whose id holds a secret of its run is refused
      // before anything (the JS layer asks before read: apply never runs).
      bool secret_in_id = false;
      if (run && matcher)
        for (const Planned& p : plan) secret_in_id = secret_in_id || matcher->contains_any(p.id);
      if (secret_in_id) {
        FUZZ_CHECK(!r.ok() && r.error().code == Code::ER_SECRET_IN_ID,
                   "a run write whose id holds a secret was not refused\n" + log);
        FUZZ_CHECK(r.error().path.size() >= 2 && r.error().path.substr(r.error().path.size() - 2) == "id",
                   "ER_SECRET_IN_ID without the id's path: " + r.error().path);
        FUZZ_CHECK(effects() == before, "a refused write left an effect\n" + log);
        log += "  -> ER_SECRET_IN_ID\n";
        return;
      }
      // Which Cached entries the engine cannot hold, and which it may have evicted.
      std::optional<std::size_t> first_wrong;
      for (std::size_t i = 0; i < plan.size(); ++i)
        if (plan[i].prev == Prev::CachedWrong && !first_wrong) first_wrong = i;

      if (r.ok() && (*r)->status == WriteResult::Status::CacheMiss) {
        const std::uint32_t m = (*r)->miss;
        FUZZ_CHECK(m < plan.size() && plan[m].prev != Prev::None && plan[m].prev != Prev::Text,
                   "a cache miss names an entry without a token\n" + log);
        FUZZ_CHECK(!first_wrong || m <= *first_wrong, "the miss is not the first entry whose token is gone\n" + log);
        FUZZ_CHECK(plan[m].prev == Prev::CachedWrong || evictions,
                   "the cache missed a token it must hold (budget " + std::to_string(budget) + ")\n" + log);
        FUZZ_CHECK((*r)->entries.empty(), "a cache miss reports entries");
        FUZZ_CHECK(effects() == before, "a cache miss left an effect\n" + log);
        if (plan[m].prev == Prev::CachedRight) {
          // Evicted: the engine no longer holds it.
          const Key k{kind, plan[m].id};
          current_token[k] = 0;
          engine_state.erase(k);
        }
        // As js/src/engine.js: every token becomes its text, and again.
        FUZZ_CHECK(attempt == 0, "a write with texts only missed the cache\n" + log);
        for (Planned& p : plan) {
          if (p.prev != Prev::CachedRight && p.prev != Prev::CachedWrong) continue;
          p.prev = p.retry_has_text ? Prev::Text : Prev::None;
        }
        log += "  -> cache miss at " + std::to_string(m) + "\n";
        continue;
      }
      FUZZ_CHECK(!first_wrong, "a token the engine does not hold did not miss\n" + log);
      finish(kind, plan, run, actor, r, before);
      return;
    }
  }

  void finish(std::size_t kind, const std::vector<Planned>& plan, bool run, const std::string& actor,
              const Result<const WriteResult*>& r, const Effects& before) {
    // The reference, entry by entry; later entries of an id see earlier ones.
    std::vector<Expected> want;
    std::optional<Code> error;
    for (const Planned& p : plan) {
      const Key k{kind, p.id};
      std::optional<std::string> cached;
      if (p.prev == Prev::CachedRight) {
        FUZZ_CHECK(engine_state.count(k), "the model has no state for a token that hit\n" + log);
        cached = engine_state[k];
      }
      want.push_back(expect(kind, p, cached, run, p.id));
      if (want.back().error && !error) error = want.back().error;
    }
    // apply ran, whatever the engine says: the host holds each next (JSON
    // only: a JS object always stringifies to JSON).
    auto apply_ran = [&] {
      for (const Planned& p : plan) {
        const Key k{kind, p.id};
        if (p.remove)
          host.erase(k);
        else if (json::parse(p.next_text, json::Limits{~std::size_t{0}, 1 << 20}).ok())
          host[k] = p.next_text;
        else
          host.erase(k);
      }
    };
    if (!r.ok()) {
      FUZZ_CHECK(error && *error == r.error().code,
                 "error " + std::string(code_name(r.error().code)) + " (" + r.error().message + "), reference " +
                     (error ? std::string(code_name(*error)) : std::string("none")) + "\n" + log);
      if (plan.size() > 1) FUZZ_CHECK(r.error().path.substr(0, 1) == "[", "a batch error without the entry's path");
      FUZZ_CHECK(effects() == before, "a failed write left an effect\n" + log);
      apply_ran();
      for (const Planned& p : plan) committed.erase({kind, p.id});  // JS forgets: apply may have changed the object
      log += "  -> " + std::string(code_name(r.error().code)) + "\n";
      return;
    }
    FUZZ_CHECK(!error, "the write succeeded, the reference expects " + std::string(code_name(*error)) + "\n" + log);
    const WriteResult& res = *r.value();
    FUZZ_CHECK(res.status == WriteResult::Status::Done && res.entries.size() == plan.size(), "one outcome per entry");
    check_records(res);
    log += "  -> done:";
    // The JS layer keeps, per id, what the id's last entry committed.
    std::map<std::string, std::size_t> last;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      const Planned& p = plan[i];
      const Expected& e = want[i];
      const EntryOutcome& o = res.entries[i];
      const Key k{kind, p.id};
      const std::string at = "entry " + std::to_string(i) + " (" + show(p.id) + "): ";
      const bool changed = !e.fields.empty();
      log += changed ? " changed" : " same";
      FUZZ_CHECK(o.changed == changed, at + "changed=" + std::to_string(o.changed) + "\n" + log);
      // Normalised texts: when validate changed the state, and only as it validated.
      auto normalised = [&](bool flag, TextSpan span, const Loaded& l, const char* what) {
        if (l.normalised) FUZZ_CHECK(flag, at + what + " was normalised but no text crossed back\n" + log);
        if (flag) {
          FUZZ_CHECK(l.valid, at + what + " crossed back normalised though it is not valid\n" + log);
          FUZZ_CHECK(res.text(span) == canon(l.state),
                     at + what + " text " + std::string(res.text(span)) + ", want " + canon(l.state));
        }
      };
      normalised(o.next_normalized, o.next_text, e.next, "next");
      if (e.prev_from_text)
        normalised(o.prev_normalized, o.prev_text, e.prev, "prev");
      else
        FUZZ_CHECK(!o.prev_normalized, at + "a prev that was not text was normalised");
      FUZZ_CHECK(o.prev_masked == e.mprev.has_value() && o.next_masked == e.mnext.has_value(),
                 at + "masked flags\n" + log);
      if (e.mprev)
        FUZZ_CHECK(res.text(o.masked_prev) == canon(*e.mprev),
                   at + "masked prev " + std::string(res.text(o.masked_prev)));
      if (e.mnext)
        FUZZ_CHECK(res.text(o.masked_next) == canon(*e.mnext),
                   at + "masked next " + std::string(res.text(o.masked_next)));
      // The actor: masked for a run with secrets, when masking changes it.
      bool actor_masks = false;
      json::Value actor_value;
      if (run && matcher && !actor.empty()) {
        if (auto a = json::parse(actor, limits()); a.ok()) {
          actor_value = *a;
          actor_masks = secrets::mask_value(*matcher, actor_value);
        }
      }
      FUZZ_CHECK(o.actor_masked == actor_masks, at + "actor masked=" + std::to_string(o.actor_masked) + "\n" + log);
      if (o.actor_masked) {
        auto a = json::parse(res.text(o.actor));
        FUZZ_CHECK(a.ok() && canon(*a) == canon(actor_value), at + "masked actor " + std::string(res.text(o.actor)));
      }
      // Tokens: a cached state for every committed next, none otherwise.
      FUZZ_CHECK((o.token != 0) == (!p.remove && budget != 0), at + "token " + std::to_string(o.token) + "\n" + log);
      // Changed fields, rows, derivation.
      FUZZ_CHECK(o.field_count == (changed ? e.fields.size() : 0), at + "field count\n" + log);
      FUZZ_CHECK(o.row_count == (changed && !p.remove ? e.fields.size() : 0), at + "row count\n" + log);
      if (changed) {
        const auto& listed = engine->fields(kind_index[kind]);
        std::size_t name_at = o.names.offset;
        for (std::uint32_t f = 0; f < o.field_count; ++f) {
          const std::uint32_t index = res.fields[o.field_begin + f];
          std::string name;
          if (index != WriteResult::kUnlisted) {
            FUZZ_CHECK(index < listed.size(), at + "field index out of range");
            name = listed[index];
          } else {
            std::uint32_t n;
            std::memcpy(&n, res.texts.data() + name_at, 4);
            name = res.texts.substr(name_at + 4, n);
            name_at += 4 + n;
            FUZZ_CHECK(std::find(listed.begin(), listed.end(), name) == listed.end(),
                       at + "a listed field sent by name");
          }
          FUZZ_CHECK(name == e.fields[f],
                     at + "field " + std::to_string(f) + " " + show(name) + ", want " + show(e.fields[f]) + "\n" + log);
          if (run && matcher) check_string(name, "a changed field name", name);
        }
        FUZZ_CHECK(name_at == std::size_t{o.names.offset} + o.names.length, at + "names span");
        FUZZ_CHECK(o.at == clock, at + "at");
      }
      if (host_store && changed && !p.remove) {
        std::size_t q = o.rows.offset;
        for (std::size_t f = 0; f < e.rows.size(); ++f) {
          std::uint32_t n;
          std::memcpy(&n, res.texts.data() + q, 4);
          q += 4;
          std::optional<std::string> from;
          if (n != WriteResult::kNoValue) {
            from = res.texts.substr(q, n);
            q += n;
          }
          std::memcpy(&n, res.texts.data() + q, 4);
          const std::string to = res.texts.substr(q + 4, n);
          q += 4 + n;
          FUZZ_CHECK(from == e.rows[f].from && to == e.rows[f].to,
                     at + "row " + std::to_string(f) + ": " + show(from.value_or("<none>")) + " -> " + show(to) +
                         ", want " + show(e.rows[f].from.value_or("<none>")) + " -> " + show(e.rows[f].to) + "\n" +
                         log);
          if (run && matcher) {
            if (from) check_row_text(*from, "a row's fromValue");
            check_row_text(to, "a row's toValue");
          }
        }
        FUZZ_CHECK(q == std::size_t{o.rows.offset} + o.rows.length, at + "rows span");
      } else {
        FUZZ_CHECK(o.rows.length == 0, at + "rows without a host store or a committed next");
      }
      FUZZ_CHECK(o.derived == !e.derived.empty(), at + "derived=" + std::to_string(o.derived) + "\n" + log);
      if (o.derived) {
        FUZZ_CHECK(res.text(o.derived_text) == e.derived,
                   at + "derived " + std::string(res.text(o.derived_text)) + ", want " + e.derived + "\n" + log);
        if (run && matcher) {
          auto v = json::parse(res.text(o.derived_text));
          const json::Value* payload = v->find("payload");
          for (const char* key : {"changedFields", "systemName"})
            if (const json::Value* x = payload->find(key)) check_json_strings(canon(*x), "the derived payload");
        }
      }
      if (run && matcher) {
        if (o.prev_masked) check_json_strings(res.text(o.masked_prev), "the masked prev");
        if (o.next_masked) check_json_strings(res.text(o.masked_next), "the masked next");
        if (o.actor_masked) check_json_strings(res.text(o.actor), "the masked actor");
      }

      // ---- the model
      if (changed && !p.remove && !host_store) {
        auto& list = rows[k];
        for (const RefRow& row : e.rows) {
          list.push_back(row);
          if (retention != 0 && list.size() > retention) list.erase(list.begin());
          if (run && matcher) {
            check_string(row.field, "an embedded row's field", row.field);
            if (row.from) check_row_text(*row.from, "an embedded row's fromValue");
            check_row_text(row.to, "an embedded row's toValue");
          }
        }
      }
      if (current_token.count(k) && current_token[k] != 0 && current_token[k] != o.token)
        old_tokens[k].push_back(current_token[k]);
      if (p.remove) {
        // A tombstone drops the cached state; removing what the engine sees
        // as absent (or {}) changes nothing, the cache included.
        if (changed) {
          current_token[k] = 0;
          engine_state.erase(k);
        }
      } else if (p.prev == Prev::CachedRight && !changed) {
        // No change over a cached prev: the engine keeps its state and token
        // when the states are equal, and caches next under a new token when
        // they differ (masking hid a change, or only a top-level null does).
        if (engine_state[k] == canon(e.next.state))
          FUZZ_CHECK(o.token == current_token[k], at + "a cached no-op changed the token\n" + log);
        else
          FUZZ_CHECK(o.token != current_token[k], at + "a no-op over a different cached state kept its token\n" + log);
        if (o.token != current_token[k]) {
          current_token[k] = o.token;
          engine_state[k] = canon(e.next.state);
        }
      } else {
        current_token[k] = o.token;
        if (o.token != 0)
          engine_state[k] = canon(e.next.state);
        else
          engine_state.erase(k);
      }
      last[p.id] = i;
    }
    log += "\n";
    apply_ran();
    for (const auto& [id, i] : last) {
      const Planned& p = plan[i];
      const EntryOutcome& o = res.entries[i];
      const Key k{kind, id};
      if (p.remove || o.token == 0)
        committed.erase(k);
      else
        committed[k] =
            Committed{o.token, o.next_normalized ? std::string(res.text(o.next_text)) : p.next_text, p.next_text};
    }
    for (const Planned& p : plan) check_history({kind, p.id});
  }

  // ------------------------------------------------------------ operations

  std::string gen_run() {
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0:
        return "";
      case 1:
        return "r2";  // a run nobody registered: masks nothing
      default:
        return "r1";
    }
  }

  // The host's state with one occurrence of a run secret replaced by
  // another: a change only inside a secret, which masking hides.
  std::optional<std::string> secret_swapped(const Key& k) {
    const auto h = host.find(k);
    if (secrets.size() < 2 || h == host.end()) return std::nullopt;
    auto v = json::parse(h->second, json::Limits{~std::size_t{0}, 1 << 20});
    if (!v.ok()) return std::nullopt;
    const std::size_t a = in.ConsumeIntegralInRange<std::size_t>(0, secrets.size() - 1);
    const std::size_t b = (a + 1 + in.ConsumeIntegralInRange<std::size_t>(0, secrets.size() - 2)) % secrets.size();
    bool done = false;
    std::function<void(json::Value&)> walk = [&](json::Value& x) {
      if (done) return;
      if (x.is_string()) {
        std::string& str = x.as_string();
        if (const std::size_t at = str.find(secrets[a]); at != std::string::npos) {
          str.replace(at, secrets[a].size(), secrets[b]);
          done = true;
        }
      } else if (x.is_array()) {
        for (auto& item : x.as_array()) walk(item);
      } else if (x.is_object()) {
        for (auto& m : x.as_object()) walk(m.value);
      }
    };
    walk(*v);
    if (!done) return std::nullopt;
    return canon(*v);
  }

  void single(std::size_t kind, const std::string& id) {
    Planned p;
    p.id = id;
    plan_prev({kind, id}, p);
    p.remove = in.ConsumeIntegralInRange<int>(0, 5) == 0;
    if (!p.remove) {
      std::optional<std::string> swapped;
      if (in.ConsumeIntegralInRange<int>(0, 3) == 0) swapped = secret_swapped({kind, id});
      p.next_text = swapped ? *swapped : gen_state_text();
    }
    const std::string run = gen_run();
    call(kind, {p}, run, gen_actor(run == "r1"));
  }

  void batch(std::size_t kind) {
    std::vector<Planned> plan;
    std::map<std::string, std::size_t> seen;  // id -> its last entry so far
    const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 5);
    for (std::size_t i = 0; i < n; ++i) {
      Planned p;
      p.id = gen_id();
      if (auto it = seen.find(p.id); it == seen.end()) {
        plan_prev({kind, p.id}, p);
      } else {
        // As js/src/engine.js ingest: the previous entry's next as text,
        // none after a tombstone.
        const Planned& before = plan[it->second];
        if (before.remove) {
          p.prev = Prev::None;
        } else {
          p.prev = Prev::Text;
          p.prev_text = before.next_text;
          p.retry_has_text = true;
        }
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
          // A token for an id an earlier entry of the batch writes: even the
          // entity's own token no longer names the state before this entry,
          // so it misses (the retry sends the text as JS would).
          p.prev = Prev::CachedWrong;
          const Key k{kind, p.id};
          p.token =
              current_token.count(k) && current_token[k] != 0 && in.ConsumeBool() ? current_token[k] : wrong_token(k);
        }
      }
      p.remove = in.ConsumeIntegralInRange<int>(0, 4) == 0;
      if (!p.remove) p.next_text = gen_state_text(/*in_batch=*/true);
      seen[p.id] = plan.size();
      plan.push_back(std::move(p));
    }
    const std::string run = gen_run();
    call(kind, plan, run, gen_actor(run == "r1"));
  }

  // Mostly two ids, so that writes follow each other on one entity (tokens,
  // evictions, retention); the others at times.
  std::string gen_id() {
    const std::size_t r = in.ConsumeIntegralInRange<std::size_t>(0, 9);
    return kIds[r < 6 ? r % 2 : r - 5];
  }

  void run() {
    const std::size_t ops = in.ConsumeIntegralInRange<std::size_t>(1, 24);
    const std::size_t focus = in.ConsumeIntegralInRange<std::size_t>(0, kKindCount - 1);
    for (std::size_t i = 0; i < ops && in.remaining_bytes() > 0; ++i) {
      clock += in.ConsumeIntegralInRange<int>(0, 2);
      const std::size_t kind =
          in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<std::size_t>(0, kKindCount - 1) : focus;
      if (in.ConsumeIntegralInRange<int>(0, 3) == 0)
        batch(kind);
      else
        single(kind, gen_id());
    }
    // The reads over the embedded log agree with the rows.
    if (host_store) return;
    for (const auto& [k, list] : rows) {
      std::map<std::string, std::vector<const RefRow*>> by_field;
      for (const RefRow& r : list) by_field[r.field].push_back(&r);
      for (const auto& [field, field_rows] : by_field) {
        const RefRow* newest = field_rows.back();
        FUZZ_CHECK(engine->in_state_since(kind_index[k.first], k.second, field, newest->to) == newest->at,
                   "inStateSince of " + show(field) + "\n" + log);
        const std::int64_t since = field_rows.front()->at;
        std::size_t count = 0;
        for (const RefRow* r : field_rows) count += r->at >= since + 1;
        FUZZ_CHECK(engine->transition_count(kind_index[k.first], k.second, field, clock - since - 1, clock) == count,
                   "transitionCount of " + show(field) + "\n" + log);
        FUZZ_CHECK(
            engine->transition_count(kind_index[k.first], k.second, field, clock - since, clock) == field_rows.size(),
            "transitionCount of " + show(field) + " over every row\n" + log);
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Fuzz f(in);
  f.run();
  return 0;
}
