// Embind glue: one class over the core, strings in and out (JSON text), no
// exceptions across the boundary. Errors come back as {"error":{...}} JSON or
// through takeError(); the JS wrapper turns them into typed Errors.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <malloc.h>

#include <string>

#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "engine/wire_format.hpp"

using emscripten::val;

namespace {

std::string error_json(const er::Error& e) {
  std::string out;
  er::write_error(e, out);
  return out;
}

std::string ids_json(const std::vector<std::uint32_t>& ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

class Core {
 public:
  // config: {"bufferLimit","hostStore","retention","seed":[8 x uint32],"maxBytes","maxDepth"}
  Core(const std::string& config_json, val warn) : warn_(std::move(warn)) {
    er::EngineOptions o;
    o.now = [this] { return static_cast<std::int64_t>(now_); };
    o.warn = [this](const std::string& message) { warn_(message); };
    auto cfg = er::json::parse(config_json);
    if (cfg.ok() && cfg->is_object()) {
      auto num = [&](const char* key, double fallback) {
        const er::json::Value* v = cfg->find(key);
        return v && v->is_number() ? v->as_number() : fallback;
      };
      o.buffer_limit = static_cast<std::size_t>(num("bufferLimit", 10000));
      o.retention_per_entity = static_cast<std::size_t>(num("retention", 0));
      o.limits.max_bytes = static_cast<std::size_t>(num("maxBytes", static_cast<double>(o.limits.max_bytes)));
      o.limits.max_depth = static_cast<int>(num("maxDepth", o.limits.max_depth));
      if (const er::json::Value* h = cfg->find("hostStore"); h && h->is_bool()) o.host_store = h->as_bool();
      if (const er::json::Value* s = cfg->find("seed"); s && s->is_array() && s->as_array().size() == 8) {
        const auto& a = s->as_array();
        for (std::size_t i = 0; i < 4; ++i) {
          o.seed[i] = (static_cast<std::uint64_t>(a[2 * i].as_number()) << 32) |
                      static_cast<std::uint64_t>(a[2 * i + 1].as_number());
        }
      }
    }
    host_store_ = o.host_store;
    o.outcome_next_unused = true;  // outcomes only go out through write_outcome
    engine_ = std::make_unique<er::Engine>(std::move(o));
  }

  std::string takeError() { return std::move(last_error_); }

  // ---- the hot path: raw bytes instead of Embind strings (Embind converts
  // std::string byte by byte in JS, ~5 us for a 300-byte state). JS encodes
  // its inputs straight into in_ (TextEncoder.encodeInto) and decodes the
  // result from out_, whose address and length it reads from header_.
  double inBuffer(double capacity) {
    // Grow only: shrinking and re-growing would zero-fill on every call.
    const auto want = static_cast<std::size_t>(capacity);
    if (in_.size() < want) {
      in_.resize(want);
    } else if (in_.size() > (4u << 20) && want * 4 < in_.size()) {
      in_.resize(want);  // give back the memory of one huge state
      in_.shrink_to_fit();
    }
    return static_cast<double>(reinterpret_cast<std::uintptr_t>(in_.data()));
  }
  double headerAddress() const { return static_cast<double>(reinterpret_cast<std::uintptr_t>(header_)); }

  // in_: kind, id, opts (byte lengths given). > 0 ready ticket, < 0 waiting, 0 error.
  double beginRaw(double kind_len, double id_len, double opts_len) {
    const auto k = static_cast<std::size_t>(kind_len), i = static_cast<std::size_t>(id_len),
               o = static_cast<std::size_t>(opts_len);
    const std::string_view all(in_.data(), k + i + o);
    auto t = engine_->begin(all.substr(0, k), all.substr(k, i), all.substr(k + i, o));
    return ticket_result(t);
  }
  // in_: prev JSON ("" = none). Returns 0, or the length of an error in out_.
  double setPrevRaw(double ticket, double len) {
    auto r = engine_->set_prev(static_cast<std::uint32_t>(ticket), std::string_view(in_.data(), static_cast<std::size_t>(len)));
    return r.ok() ? 0 : publish_error(r.error());
  }
  // in_: next JSON ("" = removal). Returns the length of the outcome in out_.
  double commitRaw(double ticket, double len, double now) {
    now_ = now;
    release_if_big(out_);
    release_if_big(tail_);
    auto r = engine_->commit(static_cast<std::uint32_t>(ticket), std::string_view(in_.data(), static_cast<std::size_t>(len)));
    if (!r.ok()) er::write_error(r.error(), out_);
    else er::write_outcome(*r, host_store_ && r->changed && !r->rows.empty(), out_, &tail_);
    // header_[2]: the outcome JSON's length; masked/normalised prev and next follow it.
    const double json_len = static_cast<double>(out_.size());
    out_ += tail_;
    publish_out();
    header_[2] = static_cast<std::uint32_t>(json_len);
    return json_len;
  }

  std::string defineKind(const std::string& kind, const std::string& schema, bool strict) {
    auto r = engine_->define_kind(kind, std::string_view(schema), strict);
    return r.ok() ? std::string() : error_json(r.error());
  }
  std::string kinds() const {
    std::string out = "[";
    bool first = true;
    for (const auto& k : engine_->kinds()) {
      if (!first) out += ',';
      first = false;
      er::json::write_string(k, out);
    }
    return out + "]";
  }
  std::string declareNonReactive(const std::string& table, const std::string& reason, const std::string& note) {
    auto r = engine_->declare_non_reactive_state(table, reason, note);
    return r.ok() ? std::string() : error_json(r.error());
  }
  std::string nonReactive() const {
    std::string out = "[";
    bool first = true;
    for (const auto& d : engine_->non_reactive_declarations()) {
      if (!first) out += ',';
      first = false;
      out += "{\"table\":";
      er::json::write_string(d.table, out);
      out += ",\"reason\":";
      er::json::write_string(d.reason, out);
      out += ",\"note\":";
      er::json::write_string(d.note, out);
      out += '}';
    }
    return out + "]";
  }

  // in_: kind, ids (a JSON array of strings), opts (byte lengths given).
  double beginBatchRaw(double kind_len, double ids_len, double opts_len) {
    const auto k = static_cast<std::size_t>(kind_len), i = static_cast<std::size_t>(ids_len),
               o = static_cast<std::size_t>(opts_len);
    const std::string_view all(in_.data(), k + i + o);
    er::json::Limits limits;
    limits.max_bytes = std::max<std::size_t>(limits.max_bytes, i);
    auto ids = er::json::parse(all.substr(k, i), limits);
    if (!ids.ok() || !ids->is_array()) return fail(er::make_error(er::Code::ER_BAD_ARGUMENT, "ingest: ids must be an array"));
    std::vector<std::string> list;
    list.reserve(ids->as_array().size());
    for (auto& v : ids->as_array()) list.push_back(v.is_string() ? std::move(v.as_string()) : std::string());
    auto opts = engine_->parse_options(all.substr(k + i, o));
    if (!opts.ok()) return fail(opts.take_error());
    auto t = engine_->begin_batch(all.substr(0, k), list, std::move(opts.value()));
    return ticket_result(t);
  }

  std::string settle(double ticket, bool appended) {
    auto r = engine_->settle(static_cast<std::uint32_t>(ticket), appended);
    if (!r.ok()) return error_json(r.error());
    std::string out, prev_next;  // JS already took prev/next from commitRaw's tail
    er::write_outcome(*r, false, out, &prev_next);
    return out;
  }
  std::string abort(double ticket) { return ids_json(engine_->abort(static_cast<std::uint32_t>(ticket))); }

  // in_: prevs {id: state} then entries [{"id":..,"next":{..}|null}, ...].
  // Returns the length of the outcomes (or an error) in out_.
  double commitBatchRaw(double ticket, double prevs_len, double entries_len, double now) {
    now_ = now;
    release_if_big(out_);
    const auto pl = static_cast<std::size_t>(prevs_len), el = static_cast<std::size_t>(entries_len);
    const std::string_view prevs_json(in_.data(), pl), entries_json(in_.data() + pl, el);
    // The batch texts wrap every state ({"id": state} and [{"id","next": state}]):
    // the depth limit is the one of a state, as in mutate, and a batch may be
    // larger than one state.
    er::json::Limits prev_limits;
    prev_limits.max_bytes = std::max<std::size_t>(prev_limits.max_bytes, prevs_json.size());
    prev_limits.max_depth += 1;
    auto prevs = er::json::parse(prevs_json, prev_limits);
    if (!prevs.ok()) return publish_error(prevs.error());
    er::json::Limits limits;
    limits.max_bytes = std::max<std::size_t>(limits.max_bytes, entries_json.size());
    limits.max_depth += 2;
    auto entries = er::json::parse(entries_json, limits);
    if (!entries.ok()) return publish_error(entries.error());
    std::vector<er::Engine::IngestEntry> list;
    list.reserve(entries->as_array().size());
    for (auto& e : entries->as_array()) {
      er::Engine::IngestEntry entry;
      if (er::json::Value* id = e.find("id"); id && id->is_string()) entry.id = std::move(id->as_string());
      if (er::json::Value* next = e.find("next"); next && !next->is_null()) entry.next = std::move(*next);
      list.push_back(std::move(entry));
    }
    auto r = engine_->commit_batch(static_cast<std::uint32_t>(ticket), *prevs, std::move(list));
    if (!r.ok()) return publish_error(r.error());
    bool awaiting = false;
    if (host_store_)
      for (const auto& o : *r) awaiting = awaiting || !o.rows.empty();
    er::write_outcomes(*r, awaiting, out_);
    return publish_out();
  }
  std::string settleBatch(double ticket, bool appended) {
    auto r = engine_->settle_batch(static_cast<std::uint32_t>(ticket), appended);
    if (!r.ok()) return error_json(r.error());
    std::string out;
    er::write_outcomes(*r, false, out);
    return out;
  }

  // The transition text of a field as JSON ("\"...\""), "null" when the
  // entity is absent, or an error object.
  std::string fieldText(const std::string& state, const std::string& field) const {
    auto r = engine_->field_text(state, field);
    if (!r.ok()) return error_json(r.error());
    if (!r->has_value()) return "null";
    std::string out;
    er::json::write_string(**r, out);
    return out;
  }
  double inStateSince(const std::string& kind, const std::string& id, const std::string& field,
                      const std::string& current) const {
    auto at = engine_->in_state_since(kind, id, field, current);
    return at ? static_cast<double>(*at) : -1;
  }
  double transitionCount(const std::string& kind, const std::string& id, const std::string& field, double window,
                         double now) {
    now_ = now;
    return static_cast<double>(
        engine_->transition_count(kind, id, field, static_cast<std::int64_t>(window)));
  }
  // has_field false: every field's rows ("" is a field name like any other).
  std::string history(const std::string& kind, const std::string& id, bool has_field, const std::string& field,
                      double limit) const {
    std::string out;
    const auto f = has_field ? std::optional<std::string_view>(field) : std::nullopt;
    er::write_rows(engine_->history(kind, id, f, static_cast<std::size_t>(limit)), out);
    return out;
  }

  // ---- emitter
  bool isWired() const { return engine_->emitter().wired(); }
  void beginWire() { engine_->emitter().begin_wire(); }
  void unwire() { engine_->emitter().unwire(); }
  // The next buffered event, or "" once the flush is complete.
  std::string takeBuffered() {
    auto e = engine_->emitter().take();
    return e ? std::move(*e) : std::string();
  }
  double bufferSize() const { return static_cast<double>(engine_->emitter().size()); }

  // ---- subscriptions
  double subscribe(const std::string& kind, bool work_queue, const std::string& group, double max_retries) {
    auto r = engine_->subscriptions().add(kind, work_queue ? er::DeliveryMode::WorkQueue : er::DeliveryMode::Broadcast,
                                          group, static_cast<std::uint32_t>(max_retries));
    if (!r.ok()) return fail(r.take_error());
    return *r;
  }
  bool unsubscribe(double id) { return engine_->subscriptions().remove(static_cast<std::uint32_t>(id)); }
  double maxRetries(double id) const {
    const er::Subscription* s = engine_->subscriptions().find(static_cast<std::uint32_t>(id));
    return s ? s->max_retries : 0;
  }

  // ---- derivers
  std::string registerDeriver(const std::string& kind, double deriver_key, double mapper_key) {
    auto r = engine_->derivers().add_host(kind, static_cast<std::uint32_t>(deriver_key),
                                          static_cast<std::uint32_t>(mapper_key));
    return r.ok() ? std::string() : error_json(r.error());
  }
  std::string registerCatalog() {
    auto r = er::catalog::register_catalog(*engine_);
    return r.ok() ? std::string() : error_json(r.error());
  }
  // call(key) returns the deriver's result as JSON text, or "!message" when it threw.
  std::string derive(const std::string& change_json, val call, val on_error) {
    auto change = engine_->parse_change(change_json);
    if (!change.ok()) return error_json(change.error());
    auto ids = engine_->derivers().derive(
        *change,
        [&](std::uint32_t key) -> er::Result<er::json::Value> {
          std::string text = call(key).as<std::string>();
          if (!text.empty() && text[0] == '!')
            return er::make_error(er::Code::ER_BAD_ARGUMENT, text.substr(1));
          auto v = er::json::parse(text);
          if (!v.ok()) return er::json::Value();  // not JSON: contributes nothing
          return v;
        },
        [&](const er::Error& e) { on_error(e.message); });
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      er::json::write_string(ids[i], out);
    }
    return out + "]";
  }
  bool allNative(const std::string& kind) const { return engine_->derivers().all_native(kind); }
  double mapperKey(const std::string& kind) const { return engine_->derivers().mapper_key(kind); }
  // Native payload as JSON, or "" when the kind has no native mapper.
  std::string nativePayload(const std::string& change_json) const {
    auto change = engine_->parse_change(change_json);
    if (!change.ok()) return error_json(change.error());
    auto p = engine_->derivers().native_payload(*change);
    return p ? er::json::to_string(*p) : std::string();
  }

  // ---- secrets
  // "" or an error object: a list that cannot be read must not leave a run's
  // secrets silently unmasked.
  std::string registerSecrets(const std::string& run_id, const std::string& values_json) {
    er::json::Limits limits;
    limits.max_bytes = std::max<std::size_t>(limits.max_bytes, values_json.size());
    auto v = er::json::parse(values_json, limits);
    if (!v.ok()) return error_json(v.error());
    if (!v->is_array()) return error_json(er::make_error(er::Code::ER_BAD_ARGUMENT, "secrets.register: values must be an array of strings"));
    std::vector<std::string> values;
    for (const auto& s : v->as_array())
      if (s.is_string()) values.push_back(s.as_string());
    engine_->secrets().register_values(run_id, values);
    return {};
  }
  void linkStep(const std::string& step, const std::string& run) { engine_->secrets().link_step(step, run); }
  void dropRun(const std::string& run) { engine_->secrets().drop(run); }
  std::string maskText(const std::string& run, const std::string& text) const {
    return engine_->secrets().mask_text(run, text);
  }
  std::string maskTextForStep(const std::string& step, const std::string& text) const {
    return engine_->secrets().mask_text_for_step(step, text);
  }
  std::string maskDeep(const std::string& run, const std::string& value_json, bool for_step) {
    auto v = er::json::parse(value_json);
    if (!v.ok()) return error_json(v.error());
    if (for_step) engine_->secrets().mask_deep_for_step(run, *v);
    else engine_->secrets().mask_deep(run, *v);
    return er::json::to_string(*v);
  }

  double pendingTickets() const { return static_cast<double>(engine_->pending_tickets()); }

 private:
  double ticket_result(er::Result<std::uint32_t>& t) {
    if (!t.ok()) return fail(t.take_error());
    return engine_->ready(*t) ? static_cast<double>(*t) : -static_cast<double>(*t);
  }
  double fail(er::Error e) {
    last_error_ = error_json(e);
    return 0;
  }

  // Clears a result buffer; one that a huge state or batch grew is freed, so
  // malloc can reuse the memory (WASM memory itself never shrinks).
  static void release_if_big(std::string& buffer) {
    if (buffer.capacity() > (4u << 20)) std::string().swap(buffer);
    buffer.clear();
  }
  double publish_error(const er::Error& e) {
    out_.clear();
    er::write_error(e, out_);
    return publish_out();
  }
  double publish_out() {
    header_[0] = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(out_.data()));
    header_[1] = static_cast<std::uint32_t>(out_.size());
    return static_cast<double>(out_.size());
  }

  std::unique_ptr<er::Engine> engine_;
  std::vector<char> in_;
  std::string out_;
  std::string tail_;
  std::uint32_t header_[3] = {0, 0, 0};
  val warn_;
  double now_ = 0;
  bool host_store_ = false;
  std::string last_error_;
};

std::string errorCodes() {
  std::string out = "[";
#define ER_CODE(name, desc) out += "\"" #name "\",";
#include "core/error_codes.def"
#undef ER_CODE
  out.back() = ']';
  return out;
}

// Bytes allocated on the WASM heap right now: the leak tests watch it.
double heapInUse() { return static_cast<double>(mallinfo().uordblks); }

std::string catalogConstants() { return er::catalog::constants_json(); }
std::string catalogCall(const std::string& fn, const std::string& arg_json) {
  return er::catalog::call(fn, arg_json);
}

}  // namespace

EMSCRIPTEN_BINDINGS(entity_reactor) {
  emscripten::class_<Core>("Core")
      .constructor<std::string, val>()
      .function("takeError", &Core::takeError)
      .function("defineKind", &Core::defineKind)
      .function("kinds", &Core::kinds)
      .function("declareNonReactive", &Core::declareNonReactive)
      .function("nonReactive", &Core::nonReactive)
      .function("inBuffer", &Core::inBuffer)
      .function("headerAddress", &Core::headerAddress)
      .function("beginRaw", &Core::beginRaw)
      .function("setPrevRaw", &Core::setPrevRaw)
      .function("commitRaw", &Core::commitRaw)
      .function("beginBatchRaw", &Core::beginBatchRaw)
      .function("settle", &Core::settle)
      .function("abort", &Core::abort)
      .function("commitBatchRaw", &Core::commitBatchRaw)
      .function("settleBatch", &Core::settleBatch)
      .function("fieldText", &Core::fieldText)
      .function("inStateSince", &Core::inStateSince)
      .function("transitionCount", &Core::transitionCount)
      .function("history", &Core::history)
      .function("isWired", &Core::isWired)
      .function("beginWire", &Core::beginWire)
      .function("unwire", &Core::unwire)
      .function("takeBuffered", &Core::takeBuffered)
      .function("bufferSize", &Core::bufferSize)
      .function("subscribe", &Core::subscribe)
      .function("unsubscribe", &Core::unsubscribe)
      .function("maxRetries", &Core::maxRetries)
      .function("registerDeriver", &Core::registerDeriver)
      .function("registerCatalog", &Core::registerCatalog)
      .function("derive", &Core::derive)
      .function("allNative", &Core::allNative)
      .function("mapperKey", &Core::mapperKey)
      .function("nativePayload", &Core::nativePayload)
      .function("registerSecrets", &Core::registerSecrets)
      .function("linkStep", &Core::linkStep)
      .function("dropRun", &Core::dropRun)
      .function("maskText", &Core::maskText)
      .function("maskTextForStep", &Core::maskTextForStep)
      .function("maskDeep", &Core::maskDeep)
      .function("pendingTickets", &Core::pendingTickets);
  emscripten::function("errorCodes", &errorCodes);
  emscripten::function("heapInUse", &heapInUse);
  emscripten::function("catalogConstants", &catalogConstants);
  emscripten::function("catalogCall", &catalogCall);
}
