// Embind glue: a few coarse functions over one shared wire (wire.def): the
// input buffer JS encodes its texts into, and a result header it reads.
// Every call returns a status and leaves its result in the header (a
// number, a text, a write's records) or its error there; no return value
// is ever data, so user data cannot be mistaken for an error. The layout
// is src/boundary's; this file only moves bytes.
#include <emscripten/bind.h>
#include <emscripten/heap.h>
#include <emscripten/val.h>

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "boundary/wire.hpp"
#include "catalog/catalog.hpp"
#include "engine/engine.hpp"

using emscripten::val;
namespace wire = er::wire;

namespace {

// The module's one wire: JS calls are synchronous and never interleave.
struct Wire {
  alignas(8) std::uint32_t header[wire::kHeaderWords] = {};
  std::vector<char> input;
  std::string text;  // results of calls other than write, and errors
  std::vector<std::uint32_t> records;
  wire::WriteInput write;
} g;

std::string_view in(double offset, double length) {
  const auto o = static_cast<std::size_t>(offset), n = static_cast<std::size_t>(length);
  if (o > g.input.size() || n > g.input.size() - o) return {};
  return std::string_view(g.input.data() + o, n);
}

std::uint32_t address(const void* p) { return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p)); }

void set_value(double v) { std::memcpy(&g.header[wire::H_VALUE], &v, sizeof v); }

void publish(std::string_view text) {
  g.header[wire::H_TEXTS] = address(text.data());
  g.header[wire::H_TEXTS_LENGTH] = static_cast<std::uint32_t>(text.size());
}

std::uint32_t ok() {
  g.header[wire::H_STATUS] = wire::STATUS_OK;
  return wire::STATUS_OK;
}

std::uint32_t ok_text() {
  publish(g.text);
  return ok();
}

std::uint32_t ok_value(double v) {
  set_value(v);
  return ok();
}

std::uint32_t fail(const er::Error& e) {
  g.text = e.message;
  g.text += e.path;
  publish(g.text);
  g.header[wire::H_ERROR_CODE] = static_cast<std::uint32_t>(e.code);
  g.header[wire::H_ERROR_MESSAGE] = static_cast<std::uint32_t>(e.message.size());
  g.header[wire::H_ERROR_PATH] = static_cast<std::uint32_t>(e.path.size());
  g.header[wire::H_STATUS] = wire::STATUS_ERROR;
  return wire::STATUS_ERROR;
}

template <typename T>
std::uint32_t text_result(er::Result<T>&& r) {
  if (!r.ok()) return fail(r.error());
  g.text = std::move(r.value());
  return ok_text();
}

void write_strings(const std::vector<std::string>& items, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    er::json::write_string(items[i], out);
  }
  out += ']';
}

class Core {
 public:
  // string_test(kind, test, text) -> boolean: runs a schema's pattern or
  // format check in JavaScript (the core has no regex engine).
  Core(bool host_store, double retention, double cache_bytes, double log_bytes, double memory_limit, val string_test)
      : string_test_(std::move(string_test)) {
    er::EngineOptions o;
    o.log_bytes = static_cast<std::size_t>(log_bytes);
    o.memory_limit = static_cast<std::size_t>(memory_limit);
    // Room on the heap: its current size is an upper bound on what is in
    // use (cheap); near the ceiling, what malloc has handed out (a walk of
    // the heap, so only then).
    o.can_allocate = [](std::size_t bytes) {
      const std::size_t max = emscripten_get_heap_max();
      if (emscripten_get_heap_size() + bytes <= max) return true;
      return static_cast<std::size_t>(mallinfo().uordblks) + bytes <= max;
    };
    o.string_test = [this](std::uint32_t kind, std::uint32_t test, std::string_view text) {
      return string_test_(kind, test, std::string(text)).as<bool>();
    };
    o.host_store = host_store;
    o.retention_per_entity = static_cast<std::size_t>(retention);
    o.state_cache_bytes = static_cast<std::size_t>(cache_bytes);
    engine_ = std::make_unique<er::Engine>(std::move(o));
  }

  // Entropy for change ids, given before the first write (not at load time:
  // edge runtimes forbid randomness outside a request).
  std::uint32_t seed(double a, double b, double c, double d, double e, double f, double g2, double h) {
    auto word = [](double hi, double lo) {
      return (static_cast<std::uint64_t>(hi) << 32) | static_cast<std::uint64_t>(lo);
    };
    engine_->seed({word(a, b), word(c, d), word(e, f), word(g2, h)});
    return ok();
  }

  // in: kind, schema JSON. VALUE: the kind's number; TEXTS: its listed
  // fields and the string tests it needs run: {"fields":[...],"tests":[{"kind","text"}]}.
  std::uint32_t defineKind(double kind_len, double schema_len, bool strict) {
    auto r = engine_->define_kind(in(0, kind_len), in(kind_len, schema_len), strict);
    if (!r.ok()) return fail(r.error());
    g.text = "{\"fields\":";
    write_strings(engine_->fields(*r), g.text);
    g.text += ",\"tests\":[";
    const auto& tests = engine_->string_tests(*r);
    for (std::size_t i = 0; i < tests.size(); ++i) {
      if (i) g.text += ',';
      g.text += tests[i].kind == er::schema::StringTest::Kind::Pattern ? "{\"kind\":\"pattern\",\"text\":"
                                                                       : "{\"kind\":\"format\",\"text\":";
      er::json::write_string(tests[i].text, g.text);
      g.text += '}';
    }
    g.text += "]}";
    set_value(*r);
    return ok_text();
  }

  // TEXTS: what the engine holds: {"stateCacheBytes","cachedEntities",
  // "transitionLogBytes","transitionLogRows","entities"} (JSON).
  std::uint32_t memory() {
    g.text = "{\"stateCacheBytes\":" + std::to_string(engine_->cached_bytes()) +
             ",\"cachedEntities\":" + std::to_string(engine_->cached_entities()) +
             ",\"transitionLogBytes\":" + std::to_string(engine_->log_bytes()) +
             ",\"transitionLogRows\":" + std::to_string(engine_->log_rows()) +
             ",\"entities\":" + std::to_string(engine_->entity_count()) + "}";
    return ok_text();
  }

  std::uint32_t retractKind(double kind) {
    engine_->retract_kind(static_cast<std::uint32_t>(kind));
    return ok();
  }

  // in: the write (wire.def). RECORDS/FIELDS/TEXTS: the result.
  std::uint32_t write(double kind, double count, double now) {
    if (auto d = wire::decode_write(std::string_view(g.input.data(), g.input.size()), static_cast<std::uint32_t>(count),
                                    g.write);
        !d.ok())
      return fail(d.error());
    er::WriteContext ctx;
    ctx.kind = static_cast<std::uint32_t>(kind);
    ctx.run_id = g.write.run_id;
    ctx.actor = g.write.actor;
    ctx.now = static_cast<std::int64_t>(now);
    auto r = engine_->write(ctx, g.write.entries);
    if (!r.ok()) return fail(r.error());
    const er::WriteResult& res = **r;
    if (res.status == er::WriteResult::Status::CacheMiss) {
      g.header[wire::H_MISS] = res.miss;
      g.header[wire::H_COUNT] = static_cast<std::uint32_t>(res.fields.size());  // every missed entry
      g.header[wire::H_FIELDS] = address(res.fields.data());
      g.header[wire::H_STATUS] = wire::STATUS_CACHE_MISS;
      return wire::STATUS_CACHE_MISS;
    }
    g.header[wire::H_LOG_EVICTED] = res.log_evicted;
    g.header[wire::H_LOG_TRIM_STARTED] = res.log_trim_started ? 1 : 0;
    wire::encode_records(res, g.records);
    g.header[wire::H_COUNT] = static_cast<std::uint32_t>(res.entries.size());
    g.header[wire::H_RECORDS] = address(g.records.data());
    g.header[wire::H_FIELDS] = address(res.fields.data());
    publish(res.texts);
    return ok();
  }

  // in: a state. TEXTS: it validated (normalised).
  // in: run id, entity id, its path ("id", "[3].id"). Fails with
  // ER_SECRET_IN_ID when the id holds a secret of the run.
  std::uint32_t checkRunId(double kind, double run_len, double id_len, double path_len) {
    auto r = engine_->check_run_id(static_cast<std::uint32_t>(kind), in(0, run_len), in(run_len, id_len),
                                   in(run_len + id_len, path_len));
    return r.ok() ? ok() : fail(r.error());
  }

  std::uint32_t validate(double kind, double len) {
    return text_result(engine_->validate(static_cast<std::uint32_t>(kind), in(0, len)));
  }

  // in: a state, a field. TEXTS: the field's transition text.
  std::uint32_t fieldText(double state_len, double field_len) {
    return text_result(engine_->field_text(in(0, state_len), in(state_len, field_len)));
  }

  // in: id, field, current transition text. VALUE: epoch ms, or -1.
  std::uint32_t inStateSince(double kind, double id_len, double field_len, double current_len) {
    auto at = engine_->in_state_since(static_cast<std::uint32_t>(kind), in(0, id_len), in(id_len, field_len),
                                      in(id_len + field_len, current_len));
    return ok_value(at ? static_cast<double>(*at) : -1);
  }

  // in: id, field. VALUE: the count.
  std::uint32_t transitionCount(double kind, double id_len, double field_len, double window, double now) {
    return ok_value(static_cast<double>(
        engine_->transition_count(static_cast<std::uint32_t>(kind), in(0, id_len), in(id_len, field_len),
                                  static_cast<std::int64_t>(window), static_cast<std::int64_t>(now))));
  }

  // in: id, field (when has_field). TEXTS: rows, newest first, as JSON.
  std::uint32_t history(double kind, double id_len, bool has_field, double field_len, double limit) {
    const auto f = has_field ? std::optional<std::string_view>(in(id_len, field_len)) : std::nullopt;
    const auto rows =
        engine_->history(static_cast<std::uint32_t>(kind), in(0, id_len), f, static_cast<std::size_t>(limit));
    g.text = "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      if (i) g.text += ',';
      g.text += "{\"field\":";
      er::json::write_string(r.field, g.text);
      g.text += ",\"fromValue\":";
      if (r.from_value)
        er::json::write_string(*r.from_value, g.text);
      else
        g.text += "null";
      g.text += ",\"toValue\":";
      er::json::write_string(r.to_value, g.text);
      g.text += ",\"transitionedAt\":";
      er::json::write_number(static_cast<double>(r.transitioned_at), g.text);
      g.text += '}';
    }
    g.text += ']';
    return ok_text();
  }

  std::uint32_t kinds() {
    g.text.clear();
    write_strings(engine_->kinds(), g.text);
    return ok_text();
  }

  // in: table, reason, note.
  std::uint32_t declareNonReactive(double table_len, double reason_len, double note_len) {
    auto r = engine_->declare_non_reactive_state(in(0, table_len), in(table_len, reason_len),
                                                 in(table_len + reason_len, note_len));
    return r.ok() ? ok() : fail(r.error());
  }
  std::uint32_t nonReactive() {
    g.text = "[";
    bool first = true;
    for (const auto& d : engine_->non_reactive_declarations()) {
      if (!first) g.text += ',';
      first = false;
      g.text += "{\"table\":";
      er::json::write_string(d.table, g.text);
      g.text += ",\"reason\":";
      er::json::write_string(d.reason, g.text);
      g.text += ",\"note\":";
      er::json::write_string(d.note, g.text);
      g.text += '}';
    }
    g.text += ']';
    return ok_text();
  }

  // ---- derivers
  // in: kind.
  std::uint32_t registerDeriver(double kind_len, double deriver_key, double mapper_key) {
    auto r = engine_->derivers().add_host(in(0, kind_len), static_cast<std::uint32_t>(deriver_key),
                                          static_cast<std::uint32_t>(mapper_key));
    return r.ok() ? ok() : fail(r.error());
  }
  std::uint32_t registerCatalog() {
    auto r = er::catalog::register_catalog(*engine_);
    return r.ok() ? ok() : fail(r.error());
  }
  // in: a change (JSON). call(key) returns a host deriver's ids as JSON
  // text, or "!message" when it failed. TEXTS: the union (JSON array).
  std::uint32_t derive(double change_len, val call, val on_error) {
    auto change = engine_->parse_change(in(0, change_len));
    if (!change.ok()) return fail(change.error());
    const er::ChangeView view = (*change)->view();
    auto ids = engine_->derivers().derive(
        view,
        [&](std::uint32_t key) -> er::Result<er::json::Value> {
          const std::string text = call(key).as<std::string>();
          if (!text.empty() && text[0] == '!') return er::make_error(er::Code::ER_BAD_ARGUMENT, text.substr(1));
          auto v = er::json::parse(text);
          if (!v.ok()) return er::json::Value();  // not JSON: contributes nothing
          return v;
        },
        [&](const er::Error& e) { on_error(e.message); });
    g.text.clear();
    write_strings(ids, g.text);
    return ok_text();
  }
  // in: kind. VALUE: 0 none, 0xFFFFFFFF native, else the host mapper's key.
  std::uint32_t mapperKey(double kind_len) { return ok_value(engine_->derivers().mapper_key(in(0, kind_len))); }
  // in: kind. VALUE: 1 when every deriver of the kind is native.
  std::uint32_t allNative(double kind_len) { return ok_value(engine_->derivers().all_native(in(0, kind_len)) ? 1 : 0); }
  // in: a change. TEXTS: the native payload (JSON).
  std::uint32_t nativePayload(double change_len) {
    auto change = engine_->parse_change(in(0, change_len));
    if (!change.ok()) return fail(change.error());
    g.text.clear();
    if (!engine_->derivers().native_payload((*change)->view(), g.text))
      return fail(er::make_error(er::Code::ER_BAD_ARGUMENT, "payload: the kind has no native payload mapper"));
    return ok_text();
  }

  // ---- secrets
  // in: run id, the values (JSON array of strings).
  std::uint32_t registerSecrets(double run_len, double values_len) {
    er::json::Limits limits;
    limits.max_bytes = std::max<std::size_t>(limits.max_bytes, static_cast<std::size_t>(values_len));
    auto v = er::json::parse(in(run_len, values_len), limits);
    if (!v.ok()) return fail(v.error());
    if (!v->is_array())
      return fail(er::make_error(er::Code::ER_BAD_ARGUMENT, "secrets.register: values must be an array of strings"));
    std::vector<std::string> values;
    for (const auto& s : v->as_array())
      if (s.is_string()) values.push_back(s.as_string());
    engine_->secrets().register_values(in(0, run_len), values);
    return ok();
  }
  // in: step id, run id.
  std::uint32_t linkStep(double step_len, double run_len) {
    engine_->secrets().link_step(in(0, step_len), in(step_len, run_len));
    return ok();
  }
  // in: run id.
  std::uint32_t dropRun(double run_len) {
    engine_->secrets().drop(in(0, run_len));
    return ok();
  }
  // in: run (or step) id, text. TEXTS: the masked text.
  std::uint32_t maskText(double id_len, double text_len, bool for_step) {
    const auto id = in(0, id_len), text = in(id_len, text_len);
    g.text = for_step ? engine_->secrets().mask_text_for_step(id, text) : engine_->secrets().mask_text(id, text);
    return ok_text();
  }
  // in: run (or step) id, a value (JSON). TEXTS: the value masked (JSON).
  std::uint32_t maskDeep(double id_len, double json_len, bool for_step) {
    const auto id = in(0, id_len);
    er::json::Doc doc;
    if (auto r = doc.parse(in(id_len, json_len)); !r.ok()) return fail(r.error());
    const er::secrets::Matcher* m = for_step ? engine_->secrets().step_matcher(id) : engine_->secrets().matcher(id);
    g.text.clear();
    if (!m || !er::secrets::mask_doc(*m, doc, er::json::Doc::root(), g.text))
      er::json::write(doc, er::json::Doc::root(), g.text);
    return ok_text();
  }

 private:
  val string_test_;
  std::unique_ptr<er::Engine> engine_;
};

// The header's address: read once by the JS codec.
double wireAddress() { return static_cast<double>(address(g.header)); }

// Grows the input buffer to at least `bytes`; INPUT/INPUT_CAPACITY say
// where it is (it moves when it grows).
std::uint32_t reserve(double bytes) {
  const auto want = static_cast<std::size_t>(bytes);
  if (g.input.size() < want) {
    g.input.resize(want);
  } else if (g.input.size() > (4u << 20) && want * 4 < g.input.size()) {
    g.input.resize(want);  // give back the memory of one huge state
    g.input.shrink_to_fit();
  }
  g.header[wire::H_INPUT] = address(g.input.data());
  g.header[wire::H_INPUT_CAPACITY] = static_cast<std::uint32_t>(g.input.size());
  return ok();
}

// VALUE: bytes allocated on the WASM heap right now (the leak tests watch it).
std::uint32_t heapInUse() { return ok_value(static_cast<double>(mallinfo().uordblks)); }

// TEXTS: the catalog's constants (JSON).
std::uint32_t catalogConstants() {
  g.text = er::catalog::constants_json();
  return ok_text();
}

// in: the function's name, its argument (JSON). TEXTS: the result (JSON).
std::uint32_t catalogCall(double fn_len, double arg_len) {
  return text_result(er::catalog::call(in(0, fn_len), in(fn_len, arg_len)));
}

}  // namespace

EMSCRIPTEN_BINDINGS(entity_reactor) {
  emscripten::class_<Core>("Core")
      .constructor<bool, double, double, double, double, val>()
      .function("seed", &Core::seed)
      .function("defineKind", &Core::defineKind)
      .function("retractKind", &Core::retractKind)
      .function("memory", &Core::memory)
      .function("write", &Core::write)
      .function("checkRunId", &Core::checkRunId)
      .function("validate", &Core::validate)
      .function("fieldText", &Core::fieldText)
      .function("inStateSince", &Core::inStateSince)
      .function("transitionCount", &Core::transitionCount)
      .function("history", &Core::history)
      .function("kinds", &Core::kinds)
      .function("declareNonReactive", &Core::declareNonReactive)
      .function("nonReactive", &Core::nonReactive)
      .function("registerDeriver", &Core::registerDeriver)
      .function("registerCatalog", &Core::registerCatalog)
      .function("derive", &Core::derive)
      .function("mapperKey", &Core::mapperKey)
      .function("allNative", &Core::allNative)
      .function("nativePayload", &Core::nativePayload)
      .function("registerSecrets", &Core::registerSecrets)
      .function("linkStep", &Core::linkStep)
      .function("dropRun", &Core::dropRun)
      .function("maskText", &Core::maskText)
      .function("maskDeep", &Core::maskDeep);
  emscripten::function("wireAddress", &wireAddress);
  emscripten::function("reserve", &reserve);
  emscripten::function("heapInUse", &heapInUse);
  emscripten::function("catalogConstants", &catalogConstants);
  emscripten::function("catalogCall", &catalogCall);
}
