// The whole write pipeline (SPEC §5, §7, §9) fed random prev/next pairs:
// begin → set_prev → commit → (host store: settle) or abort, single writes,
// queued writes on one id and batches, with the embedded store and with a
// host store, with and without run secrets.
// Each write is compared with a reference computed from the texts alone
// (parse, validate — prev falls back to its raw form when it no longer
// validates —, mask, diff):
//   * errors: the code the reference predicts, and the engine keeps working
//     (abort after an error is harmless, the line is freed);
//   * the change: prev/next/changedFields/delta equal the reference; rows
//     one per changed field, none for a tombstone;
//   * what JavaScript rebuilds from the wire format (its own texts unless
//     the outcome says masked/normalised) equals the change;
//   * the returned state is the validated, unmasked next;
//   * no plain registered secret appears in an event or row of a
//     run-originated write;
//   * events: exactly one per committed change (none for a failed append),
//     in order; the embedded history grows by exactly the rows;
//   * at the end no ticket is pending.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/wire_format.hpp"
#include "fuzz_util.hpp"

using namespace er;

namespace {

const char* kSchemas[][2] = {
    {"sys", R"({"type":"object","properties":{"name":{"type":"string","minLength":1},
      "description":{"type":["string","null"]},
      "metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}},
      "required":["name","description","metadata"],"additionalProperties":false})"},
    {"loose", R"({"type":"object","additionalProperties":true})"},
    {"def", R"({"type":"object","properties":{"n":{"type":"number","default":1},"s":{"type":"string"},
      "tags":{"type":"array","items":{"type":"string"},"default":[]}},"additionalProperties":false})"},
};
const char* const kIds[] = {"a", "b", "__proto__", "\xc3\xa9"};

struct Expected {
  std::optional<Error> error;  // code only is compared
  std::optional<json::Value> prev, next;  // masked, as the event shows them
  std::optional<json::Value> validated;   // unmasked validated next
  std::vector<std::string> fields;
};

struct Fuzz {
  FuzzedDataProvider& in;
  bool host_store;
  std::int64_t clock = 1764258720000;
  std::unique_ptr<Engine> engine;
  std::vector<std::string> secrets;  // run "r1"
  std::map<std::string, std::string> host;  // kind\0id -> state text (the host's data)
  std::size_t events_expected = 0;
  std::vector<bool> event_is_run;  // per expected event: run-originated
  std::size_t rows_appended = 0;
  std::map<std::string, std::size_t> rows_per_entity;

  explicit Fuzz(FuzzedDataProvider& input) : in(input) {
    host_store = in.ConsumeBool();
    EngineOptions o;
    o.now = [this] { return clock; };
    o.seed = {1, 2, 3, 4};
    o.host_store = host_store;
    o.buffer_limit = 1 << 20;
    o.warn = [](const std::string&) {};
    o.limits = limits();
    engine = std::make_unique<Engine>(std::move(o));
    for (auto& [kind, schema] : kSchemas) {
      auto r = engine->define_kind(kind, std::string_view(schema));
      FUZZ_CHECK(r.ok(), r.ok() ? "" : r.error().message);
    }
    const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, 3);
    for (std::size_t i = 0; i < n; ++i) {
      std::string s = fuzz::gen_string(in, {}, 3);
      if (!s.empty()) secrets.push_back(std::move(s));
    }
    engine->secrets().register_values("r1", secrets);
  }

  static json::Limits limits() {
    json::Limits l;
    l.max_depth = 16;
    l.max_bytes = 1 << 16;
    return l;
  }

  static std::string key(std::string_view kind, std::string_view id) {
    return std::string(kind) + '\0' + std::string(id);
  }

  // A state text: usually a generated object (holding secret pieces), at
  // times something the parser or the schema rejects.
  std::string gen_state_text() {
    switch (in.ConsumeIntegralInRange<int>(0, 11)) {
      case 0: {  // garbage or any JSON ("" would mean "absent"/"tombstone")
        std::string text = in.ConsumeRandomLengthString(64);
        return text.empty() ? "null" : text;
      }
      case 1: return "[1,2]";
      case 2: return "\"text\"";
      case 3: {
        std::string deep;
        for (int i = 0; i < 20; ++i) deep += "{\"x\":";
        deep += "1";
        for (int i = 0; i < 20; ++i) deep += "}";
        return deep;
      }
      case 4: return R"({"name":"\ud800","description":null,"metadata":{}})";
      default: {
        json::Value v = fuzz::gen_object(in, secrets);
        if (in.ConsumeBool()) {  // make it likely valid for "sys"
          v.set("name", json::Value(in.ConsumeBool() ? std::string("n") : fuzz::gen_string(in, secrets, 2)));
          v.set("description", in.ConsumeBool() ? json::Value(nullptr) : json::Value(fuzz::gen_string(in, secrets, 2)));
          json::Value meta = fuzz::gen_object(in, secrets);
          v.set("metadata", std::move(meta));
        }
        std::string text = json::to_string(v);
        if (in.ConsumeBool()) {  // not canonical: same state, other text
          text.insert(text.size() - 1, " ");
        }
        return text;
      }
    }
  }

  // Reference for prev (SPEC §5.1 + set_prev's normalising).
  static std::optional<Error> ref_prev(const schema::Schema& s, std::string_view text, std::optional<json::Value>& out) {
    if (text.empty()) return std::nullopt;
    auto v = json::parse(text, limits());
    if (!v.ok()) return v.take_error();
    if (!v->is_object()) return make_error(Code::ER_NOT_OBJECT, "");
    json::Value copy = *v;
    if (s.validate(copy, "k", "i").ok()) out = std::move(copy);
    else out = std::move(v.value());
    return std::nullopt;
  }

  // The reference's own compiled schemas (compiled once per process).
  static const schema::Schema& schema_of(const std::string& kind) {
    static std::map<std::string, schema::Schema> schemas;
    auto it = schemas.find(kind);
    if (it != schemas.end()) return it->second;
    for (auto& [k, s] : kSchemas)
      if (kind == k) {
        auto parsed = json::parse(s);
        auto compiled = schema::Schema::compile(*parsed, k);
        return schemas.emplace(kind, std::move(compiled.value())).first->second;
      }
    fuzz::fail("unknown kind in the harness");
  }

  Expected expect(const std::string& kind, std::string_view prev_text, std::optional<std::string_view> next_text,
                  bool run) {
    Expected e;
    const schema::Schema& s = schema_of(kind);
    if (auto err = ref_prev(s, prev_text, e.prev)) {
      e.error = err;
      return e;
    }
    if (next_text) {
      auto v = json::parse(*next_text, limits());
      if (!v.ok()) {
        e.error = v.take_error();
        return e;
      }
      if (!v->is_object()) {
        e.error = make_error(Code::ER_NOT_OBJECT, "");
        return e;
      }
      auto ok = s.validate(*v, kind, "i");
      if (!ok.ok()) {
        e.error = ok.take_error();
        return e;
      }
      e.validated = *v;
      e.next = std::move(v.value());
    }
    if (run && !secrets.empty()) {
      const secrets::Matcher* m = engine->secrets().matcher("r1");
      FUZZ_CHECK(m != nullptr, "r1 has secrets but no matcher");
      if (e.prev) secrets::mask_value(*m, *e.prev);
      if (e.next) secrets::mask_value(*m, *e.next);
    }
    e.fields = changed_fields(e.prev ? &*e.prev : nullptr, e.next ? &*e.next : nullptr);
    return e;
  }

  static std::string canon(const std::optional<json::Value>& v) { return v ? json::to_string(*v) : "<none>"; }

  void check_string(std::string_view s, std::string_view what, std::string_view text) {
    for (const auto& secret : secrets)
      if (fuzz::plain_secret(secret))
        FUZZ_CHECK(s.find(secret) == std::string_view::npos,
                   std::string(what) + " of a run-originated write holds the secret " +
                       json::to_string(json::Value(secret)) + ": " + std::string(text));
  }

  // `text`: an event, an array of rows, or a wire outcome (JSON). Checks the
  // data in it: prev, next, delta, changedFields and the rows' field and
  // values (the framing — key names, kind, id, actor, timestamps — is not
  // state and may contain anything, e.g. a one-letter secret).
  void check_no_secret(std::string_view text, std::string_view what) {
    auto v = json::parse(text);
    FUZZ_CHECK(v.ok(), std::string(what) + " is not JSON: " + std::string(text));
    std::vector<std::string_view> strings;
    std::deque<json::Value> parsed_values;  // stable addresses for the views
    auto rows = [&](const json::Value& list) {
      for (const auto& r : list.as_array())
        for (const char* k : {"field", "fromValue", "toValue"}) {
          const json::Value* x = r.find(k);
          if (!x || !x->is_string()) continue;
          // A value's text: the string itself, or canonical JSON of a
          // non-string whose syntax ("false", "1e+21") is not state; then
          // only the strings inside count.
          auto inner = json::parse(x->as_string());
          if (k != std::string_view("field") && inner.ok() && !inner->is_string()) {
            parsed_values.push_back(std::move(inner.value()));
            fuzz::strings_of(parsed_values.back(), strings);
          } else {
            strings.push_back(x->as_string());
          }
        }
    };
    if (v->is_array()) {
      rows(*v);
    } else {
      for (const char* k : {"prev", "next", "delta", "changedFields"})
        if (const json::Value* x = v->find(k)) fuzz::strings_of(*x, strings);
      if (const json::Value* r = v->find("rows")) rows(*r);
    }
    for (std::string_view s : strings) check_string(s, what, text);
  }

  // Checks a successful outcome against the reference; returns whether an
  // event is (or will be, after settle) published.
  void check_outcome(const CommitOutcome& out, const Expected& e, std::string_view prev_text,
                     std::optional<std::string_view> next_text, bool run, const std::string& ctx) {
    FUZZ_CHECK(out.changed == !e.fields.empty(), ctx);
    // The returned state: normalized, or the host's own next.
    if (next_text && e.validated) {
      const std::string returned =
          out.normalized ? json::to_string(*out.normalized) : json::to_string(*json::parse(*next_text));
      FUZZ_CHECK(returned == json::to_string(*e.validated), ctx + "returned state " + returned);
    }
    if (!out.changed) {
      FUZZ_CHECK(out.rows.empty(), ctx + "rows without a change");
      return;
    }
    const Change& c = out.change;
    FUZZ_CHECK(c.changed_fields == e.fields, ctx + "changed fields " + json::to_string(json::Value(json::Array(
                                                   c.changed_fields.begin(), c.changed_fields.end()))) +
                                                   " want " + json::to_string(json::Value(json::Array(e.fields.begin(), e.fields.end()))) +
                                                   " event " + canon(c.prev) + " -> " + canon(c.next) + " secrets " +
                                                   json::to_string(json::Value(json::Array(secrets.begin(), secrets.end()))));
    FUZZ_CHECK(canon(c.prev) == canon(e.prev), ctx + "event prev " + canon(c.prev) + " want " + canon(e.prev));
    FUZZ_CHECK(canon(c.next) == canon(e.next), ctx + "event next " + canon(c.next) + " want " + canon(e.next));
    // What JS shows: its own texts unless the outcome carries the value.
    if (c.prev && !(out.masked_prev || out.normalized_prev))
      FUZZ_CHECK(json::to_string(*json::parse(prev_text)) == canon(c.prev),
                 ctx + "JS would show the host's prev " + std::string(prev_text) + " for " + canon(c.prev));
    if (c.next && !(out.masked_next || out.normalized))
      FUZZ_CHECK(json::to_string(*json::parse(*next_text)) == canon(c.next),
                 ctx + "JS would show the host's next " + std::string(*next_text) + " for " + canon(c.next));
    FUZZ_CHECK(json::to_string(c.delta) == json::to_string(make_delta(c.next ? &*c.next : nullptr, e.fields)),
               ctx + "delta");
    FUZZ_CHECK(out.rows.size() == (c.next ? e.fields.size() : 0), ctx + "row count");
    if (run) {
      std::string text;
      write_change(c, text);
      check_no_secret(text, "event");
      text.clear();
      write_rows(out.rows, text);
      check_no_secret(text, "rows");
      text.clear();
      write_outcome(out, host_store, text);
      // The wire format carries the unmasked validated state in "state"
      // (the caller's value, SPEC §5.4); everything else must be clean.
      auto wire = json::parse(text);
      FUZZ_CHECK(wire.ok(), "wire format does not parse");
      wire->erase("state");
      check_no_secret(json::to_string(*wire), "wire outcome");
    }
  }

  void published(const CommitOutcome& out, bool run, const std::string& k) {
    if (!out.changed) return;
    ++events_expected;
    event_is_run.push_back(run);
    rows_appended += out.rows.size();
    rows_per_entity[k] += out.rows.size();
  }

  // Options of a write: none, run r1 (has the secrets), run r2 (unknown).
  std::string gen_opts() {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 1: return R"({"runId":"r1"})";
      case 2: return R"({"runId":"r2","actor":{"type":"user","id":"u"}})";
      default: return "";
    }
  }

  // One whole write of (kind, id); `given`: a ticket already begun with `given_opts`.
  void write(const std::string& kind, const std::string& id, std::optional<std::uint32_t> given = std::nullopt,
             const std::string& given_opts = "") {
    const std::string opts = given ? given_opts : gen_opts();
    const bool run = opts.find("r1") != std::string::npos;
    std::uint32_t t;
    if (given) {
      t = *given;
    } else {
      auto b = engine->begin(kind, id, std::string_view(opts));
      FUZZ_CHECK(b.ok(), b.ok() ? "" : b.error().message);
      t = *b;
    }
    FUZZ_CHECK(engine->ready(t), "a lone write is not ready");
    const std::string k = key(kind, id);
    // prev: the host's data, or (rarely) something else the host returned
    std::string prev_text = host.count(k) ? host[k] : "";
    if (in.ConsumeIntegralInRange<int>(0, 5) == 0) prev_text = gen_state_text();
    const std::string ctx = "kind " + kind + " id " + id + " prev " + prev_text + ": ";
    auto sp = engine->set_prev(t, prev_text);
    const int what = in.ConsumeIntegralInRange<int>(0, 9);
    std::optional<std::string> next_text;
    if (what >= 2) next_text = gen_state_text();
    const Expected e = expect(kind, prev_text, next_text ? std::optional<std::string_view>(*next_text) : std::nullopt, run);
    if (!sp.ok()) {
      FUZZ_CHECK(e.error && e.error->code == sp.error().code, ctx + "set_prev: " + sp.error().message);
      engine->abort(t);
      return;
    }
    if (what == 0) {  // apply threw
      engine->abort(t);
      return;
    }
    // apply ran: the host's data is now next (or gone), whatever follows.
    if (next_text) host[k] = *next_text; else host.erase(k);
    auto out = engine->commit(t, next_text ? std::string_view(*next_text) : std::string_view());
    if (!out.ok()) {
      FUZZ_CHECK(e.error && e.error->code == out.error().code,
                 ctx + "commit of " + next_text.value_or("<tombstone>") + ": " + out.error().message);
      engine->abort(t);
      return;
    }
    FUZZ_CHECK(!e.error, ctx + "expected " + std::string(code_name(e.error ? e.error->code : Code::ER_BAD_JSON)));
    check_outcome(*out, e, prev_text, next_text ? std::optional<std::string_view>(*next_text) : std::nullopt, run,
                  ctx + "next " + next_text.value_or("<tombstone>") + ": ");
    if (host_store && !out->rows.empty()) {
      FUZZ_CHECK(!engine->ready(t) || engine->pending_tickets() > 0, "ticket finished before settle");
      const bool ok = in.ConsumeBool();
      auto settled = engine->settle(t, ok);
      FUZZ_CHECK(settled.ok(), "settle");
      FUZZ_CHECK(settled->changed == ok, "a failed append must not publish");
      if (ok) published(*settled, run, k);
      auto twice = engine->settle(t, ok);
      FUZZ_CHECK(!twice.ok() && twice.error().code == Code::ER_BAD_TICKET, "settle twice");
    } else {
      published(*out, run, k);
    }
    engine->abort(t);  // what JS's finally does on a path that left it open: harmless
    auto stale = engine->set_prev(t, "");
    FUZZ_CHECK(!stale.ok() && stale.error().code == Code::ER_BAD_TICKET, "a finished ticket is still usable");
  }

  void queued(const std::string& kind, const std::string& id) {
    const std::string opts1 = gen_opts(), opts2 = gen_opts();
    auto first = engine->begin(kind, id, std::string_view(opts1));
    auto second = engine->begin(kind, id, std::string_view(opts2));
    FUZZ_CHECK(first.ok() && second.ok(), "begin");
    FUZZ_CHECK(engine->ready(*first) && !engine->ready(*second), "same id must queue");
    auto early = engine->set_prev(*second, "");
    FUZZ_CHECK(!early.ok() && early.error().code == Code::ER_BAD_TICKET, "a waiting ticket ran");
    if (in.ConsumeBool()) {
      auto woken = engine->abort(*first);
      FUZZ_CHECK(woken.size() == 1 && woken[0] == *second, "abort must wake the next in line");
    } else {
      write(kind, id, *first, opts1);
    }
    FUZZ_CHECK(engine->ready(*second), "the second write never became ready");
    write(kind, id, *second, opts2);
  }

  void batch(const std::string& kind) {
    std::vector<Engine::IngestEntry> entries;
    std::vector<std::string> ids;
    const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 4);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string id = kIds[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kIds) - 1)];
      Engine::IngestEntry e;
      e.id = id;
      if (in.ConsumeIntegralInRange<int>(0, 4) != 0) {
        auto v = json::parse(gen_state_text(), limits());
        if (v.ok()) e.next = std::move(v.value());
        else e.next = json::Value::object();
      }
      ids.push_back(id);
      entries.push_back(std::move(e));
    }
    const bool run = in.ConsumeBool();
    MutationOptions opts;
    if (run) opts.run_id = "r1";
    auto t = engine->begin_batch(kind, ids, opts);
    FUZZ_CHECK(t.ok(), "begin_batch");
    FUZZ_CHECK(engine->ready(*t), "a lone batch is not ready");
    json::Value prevs = json::Value::object();
    for (const auto& id : ids) {
      auto it = host.find(key(kind, id));
      if (it == host.end()) continue;
      auto v = json::parse(it->second, limits());
      prevs.set(id, v.ok() ? v.value() : json::Value("not json"));
    }
    const auto host_before = host;
    std::vector<std::optional<std::string>> next_texts;
    for (const auto& e : entries) next_texts.push_back(e.next ? std::optional<std::string>(json::to_string(*e.next)) : std::nullopt);
    auto outs = engine->commit_batch(*t, prevs, entries);
    // apply ran for the batch: the host now holds the entries.
    for (const auto& e : entries) {
      if (e.next) host[key(kind, e.id)] = json::to_string(*e.next);
      else host.erase(key(kind, e.id));
    }
    if (!outs.ok()) {
      const Code c = outs.error().code;
      FUZZ_CHECK(c == Code::ER_SCHEMA || c == Code::ER_NOT_OBJECT, outs.error().message);
      engine->abort(*t);
      return;
    }
    FUZZ_CHECK(outs->size() == entries.size(), "one outcome per entry");
    // Each entry diffs against the state before it: read, or an earlier entry.
    std::map<std::string, std::string> current;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string& id = entries[i].id;
      std::string prev_text;
      if (current.count(id)) prev_text = current[id];
      else if (host_before.count(key(kind, id))) prev_text = host_before.at(key(kind, id));
      const Expected e = expect(kind, prev_text,
                                next_texts[i] ? std::optional<std::string_view>(*next_texts[i]) : std::nullopt, run);
      const std::string ctx = "batch entry " + std::to_string(i) + " kind " + kind + " id " + id + " prev " +
                              prev_text + " next " + next_texts[i].value_or("<tombstone>") + ": ";
      FUZZ_CHECK(!e.error, ctx + "the batch succeeded where the reference fails");
      const CommitOutcome& o = (*outs)[i];
      FUZZ_CHECK(o.changed == !e.fields.empty(), ctx + "changed " + std::to_string(o.changed));
      if (o.changed) {
        FUZZ_CHECK(o.change.changed_fields == e.fields, ctx + "changed fields");
        FUZZ_CHECK(canon(o.change.prev) == canon(e.prev), ctx + "prev " + canon(o.change.prev) + " want " + canon(e.prev));
        FUZZ_CHECK(canon(o.change.next) == canon(e.next), ctx + "next " + canon(o.change.next) + " want " + canon(e.next));
      }
      current[id] = e.validated ? json::to_string(*e.validated) : std::string();
    }
    bool any_rows = false;
    for (const auto& o : *outs) {
      if (!o.rows.empty()) any_rows = true;
      if (run && o.changed) {
        std::string text;
        write_change(o.change, text);
        check_no_secret(text, "batch event");
        text.clear();
        write_rows(o.rows, text);
        check_no_secret(text, "batch rows");
      }
    }
    if (host_store && any_rows) {
      const bool ok = in.ConsumeBool();
      auto settled = engine->settle_batch(*t, ok);
      FUZZ_CHECK(settled.ok(), "settle_batch");
      for (const auto& o : *settled) {
        FUZZ_CHECK(!o.changed || ok, "a failed batch append published");
        if (ok) published(o, run, key(kind, o.change.id));
      }
    } else {
      for (const auto& o : *outs) published(o, run, key(kind, o.change.id));
    }
    engine->abort(*t);
  }

  void run() {
    const std::size_t ops = in.ConsumeIntegralInRange<std::size_t>(1, 16);
    for (std::size_t i = 0; i < ops && in.remaining_bytes() > 0; ++i) {
      clock += in.ConsumeIntegralInRange<int>(0, 2);
      const std::string kind = kSchemas[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kSchemas) - 1)][0];
      const std::string id = kIds[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kIds) - 1)];
      switch (in.ConsumeIntegralInRange<int>(0, 5)) {
        case 0: queued(kind, id); break;
        case 1: batch(kind); break;
        default: write(kind, id); break;
      }
      FUZZ_CHECK(engine->pending_tickets() == 0, "a ticket is left pending");
    }
    // Every published change is buffered (the emitter is not wired), once.
    FUZZ_CHECK(engine->emitter().size() == events_expected,
               "events: " + std::to_string(engine->emitter().size()) + " want " + std::to_string(events_expected));
    engine->emitter().begin_wire();
    std::size_t i = 0;
    while (auto ev = engine->emitter().take()) {
      FUZZ_CHECK(i < event_is_run.size(), "more events than changes");
      if (event_is_run[i]) check_no_secret(*ev, "buffered event");
      auto parsed = json::parse(*ev);
      FUZZ_CHECK(parsed.ok(), "an event is not JSON: " + *ev);
      ++i;
    }
    FUZZ_CHECK(i == events_expected, "flushed events");
    if (!host_store) {
      std::size_t total = 0;
      for (const auto& [k, n] : rows_per_entity) {
        const auto sep = k.find('\0');
        const auto rows = engine->history(k.substr(0, sep), k.substr(sep + 1), std::nullopt, 0);
        FUZZ_CHECK(rows.size() == n, "history of " + k.substr(0, sep) + "/" + k.substr(sep + 1) + " has " +
                                         std::to_string(rows.size()) + " rows, want " + std::to_string(n));
        total += rows.size();
      }
      FUZZ_CHECK(total == rows_appended, "rows appended");
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
