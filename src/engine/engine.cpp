#include "engine/engine.hpp"

#include <algorithm>
#include <unordered_map>

namespace er {

namespace {

std::string quoted(std::string_view s) {
  std::string out;
  json::write_string(s, out);
  return out;
}

std::string describe(const json::Value& v) {
  switch (v.type()) {
    case json::Type::Null: return "null";
    case json::Type::Bool: return "a boolean";
    case json::Type::Number: return "a number";
    case json::Type::String: return "a string";
    case json::Type::Array: return "an array";
    case json::Type::Object: return "an object";
  }
  return "a value";
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; });
}

}  // namespace

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      store_(options_.retention_per_entity),
      state_cache_(options_.state_cache_entries),
      emitter_(options_.buffer_limit, options_.warn),
      uuids_(options_.seed) {}

// ------------------------------------------------------------------ kinds

Result<void> Engine::define_kind(std::string_view kind, const json::Value& schema, bool strict) {
  if (blank(kind))
    return make_error(Code::ER_BAD_KIND, "defineEntity: kind must be a non-empty string, received " + quoted(kind));
  if (kinds_.count(kind)) return make_error(Code::ER_DUPLICATE_KIND, "defineEntity: duplicate kind " + quoted(kind));
  auto compiled = schema::Schema::compile(schema, kind, schema::CompileOptions{strict});
  if (!compiled.ok()) return compiled.take_error();
  auto k = std::make_unique<Kind>(Kind{std::string(kind), std::move(compiled.value()), strict});
  kinds_.emplace(std::string(kind), std::move(k));
  return Ok{};
}

Result<void> Engine::define_kind(std::string_view kind, std::string_view schema_json, bool strict) {
  auto schema = json::parse(schema_json, options_.limits);
  if (!schema.ok()) {
    Error e = schema.take_error();
    e.message = "defineEntity: kind " + quoted(kind) + ": state schema: " + e.message;
    return e;
  }
  return define_kind(kind, *schema, strict);
}

bool Engine::has_kind(std::string_view kind) const { return kinds_.count(kind) != 0; }

std::vector<std::string> Engine::kinds() const {
  std::vector<std::string> out;
  for (const auto& [name, k] : kinds_) out.push_back(name);
  return out;
}

Result<void> Engine::declare_non_reactive_state(std::string_view table, std::string_view reason, std::string_view note) {
  if (blank(table))
    return make_error(Code::ER_BAD_ARGUMENT, "declareNonReactiveState: table must be a non-empty string");
  static constexpr std::string_view kReasons[] = {"raw-sample", "sensitive", "externally-owned", "bookkeeping"};
  if (std::find(std::begin(kReasons), std::end(kReasons), reason) == std::end(kReasons))
    return make_error(Code::ER_BAD_ARGUMENT,
                      "declareNonReactiveState: reason must be one of raw-sample, sensitive, externally-owned, "
                      "bookkeeping; received " + quoted(reason));
  non_reactive_.push_back(NonReactiveDeclaration{std::string(table), std::string(reason), std::string(note)});
  return Ok{};
}

// ------------------------------------------------------------------ pipeline

Result<MutationOptions> Engine::parse_options(std::string_view opts_json) const {
  MutationOptions opts;
  if (opts_json.empty()) return opts;
  auto parsed = json::parse(opts_json, options_.limits);
  if (!parsed.ok()) return parsed.take_error();
  if (parsed->is_null()) return opts;
  if (!parsed->is_object())
    return make_error(Code::ER_BAD_ARGUMENT, "opts must be an object, received " + describe(*parsed));
  if (json::Value* actor = parsed->find("actor"); actor && !actor->is_null()) {
    const json::Value* type = actor->find("type");
    if (!actor->is_object() || !type || !type->is_string() || type->as_string().empty())
      return make_error(Code::ER_BAD_ARGUMENT,
                        "opts.actor must be an object with a non-empty string type, received " + json::to_string(*actor),
                        "opts.actor");
    opts.actor = std::move(*actor);
  }
  if (const json::Value* run = parsed->find("runId"); run && !run->is_null()) {
    if (!run->is_string() || run->as_string().empty())
      return make_error(Code::ER_BAD_ARGUMENT, "opts.runId must be a non-empty string, received " + json::to_string(*run),
                        "opts.runId");
    opts.run_id = run->as_string();
  }
  return opts;
}

Result<std::uint32_t> Engine::begin(std::string_view kind, std::string_view id, MutationOptions opts) {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) return make_error(Code::ER_UNKNOWN_KIND, "unknown kind " + quoted(kind));
  if (id.empty()) return make_error(Code::ER_BAD_ID, "kind " + quoted(kind) + ": id must be a non-empty string");
  Pending p;
  p.key = WriteSequencer::key(kind, id);
  const std::uint32_t t = sequencer_.enqueue({p.key});
  p.kind = it->second.get();
  p.id = id;
  p.opts = std::move(opts);
  pending_.emplace(t, std::move(p));
  return t;
}

Result<std::uint32_t> Engine::begin(std::string_view kind, std::string_view id, std::string_view opts_json) {
  auto opts = parse_options(opts_json);
  if (!opts.ok()) return opts.take_error();
  return begin(kind, id, std::move(opts.value()));
}

Result<json::Value> Engine::parse_state(std::string_view text, const Kind& kind, std::string_view id,
                                        std::string_view what) const {
  auto v = json::parse(text, options_.limits);
  if (!v.ok()) {
    Error e = v.take_error();
    e.message = "kind " + quoted(kind.name) + " id " + quoted(id) + ": " + std::string(what) + ": " + e.message;
    return e;
  }
  if (!v->is_object())
    return make_error(Code::ER_NOT_OBJECT, "kind " + quoted(kind.name) + " id " + quoted(id) + ": " + std::string(what) +
                                               " must be an object, received " + describe(*v));
  return v;
}

namespace {
Error bad_ticket(std::uint32_t t) {
  return make_error(Code::ER_BAD_TICKET, "mutation ticket " + std::to_string(t) + " is unknown, not ready or finished");
}
}  // namespace

Result<void> Engine::set_prev(std::uint32_t ticket, std::string_view prev_json) {
  auto it = pending_.find(ticket);
  if (it == pending_.end() || !sequencer_.ready(ticket) || it->second.has_prev_set) return bad_ticket(ticket);
  Pending& p = it->second;
  if (!prev_json.empty()) {
    if (auto cached = state_cache_.take(p.key, prev_json)) {
      p.prev = std::move(*cached);  // validated and unchanged when it was committed
      p.has_prev_set = true;
      return Ok{};
    }
    auto prev = parse_state(prev_json, *p.kind, p.id, "state returned by read");
    if (!prev.ok()) return prev.take_error();
    // Normalise prev like next (strip unknown keys, fill defaults) so a key
    // the schema drops never shows up as a change. Stored data that no
    // longer validates is compared as it is.
    auto changed = p.kind->schema.validate(*prev, p.kind->name, p.id);
    if (changed.ok()) {
      p.prev_normalized = *changed;
    } else {
      prev = json::parse(prev_json, options_.limits);
    }
    p.prev = std::move(prev.value());
  }
  p.has_prev_set = true;
  return Ok{};
}

Result<CommitOutcome> Engine::commit(std::uint32_t ticket, std::string_view next_json) {
  auto it = pending_.find(ticket);
  if (it == pending_.end() || !it->second.has_prev_set || it->second.outcome) return bad_ticket(ticket);
  if (next_json.empty()) return commit(ticket, std::nullopt);
  auto next = parse_state(next_json, *it->second.kind, it->second.id, "state returned by apply");
  if (!next.ok()) return next.take_error();
  return commit(ticket, std::move(next.value()), next_json);
}

void Engine::remember(const Pending& p, CommitOutcome& outcome, std::string_view source_text) {
  Change& c = outcome.change;
  // Only the host's own text, validated unchanged, may stand in for a later
  // read of the same text; the cache keeps the state unmasked.
  if (!c.next || source_text.empty() || outcome.normalized) {
    state_cache_.erase(p.key);
    return;
  }
  if (outcome.masked_next) {
    state_cache_.put(p.key, source_text, std::move(*outcome.unmasked_next));
    outcome.unmasked_next.reset();
  } else if (options_.outcome_next_unused) {
    state_cache_.put(p.key, source_text, std::move(*c.next));
    c.next.reset();
  } else {
    state_cache_.put(p.key, source_text, *c.next);
  }
}

Result<CommitOutcome> Engine::commit(std::uint32_t ticket, std::optional<json::Value> next,
                                     std::string_view source_text) {
  auto it = pending_.find(ticket);
  if (it == pending_.end() || !it->second.has_prev_set || it->second.outcome) return bad_ticket(ticket);
  Pending& p = it->second;
  std::optional<json::Value> normalized;
  if (next) {
    if (!next->is_object())
      return make_error(Code::ER_NOT_OBJECT, "kind " + quoted(p.kind->name) + " id " + quoted(p.id) +
                                                 ": state returned by apply must be an object, received " +
                                                 describe(*next));
    auto changed = p.kind->schema.validate(*next, p.kind->name, p.id);
    if (!changed.ok()) return changed.take_error();
    if (*changed) normalized = *next;
  }
  auto outcome = build_outcome(*p.kind, p.id, p.opts, std::move(p.prev), std::move(next), options_.now());
  if (!outcome.ok()) return outcome;
  outcome->normalized_prev = p.prev_normalized;
  outcome->normalized = std::move(normalized);
  if (options_.host_store && !outcome->rows.empty()) {
    p.outcome = outcome.value();  // waits for settle()
    p.outcome->normalized.reset();
    // A normalised next never stands in for the host's text (see remember).
    if (!outcome->normalized) p.source_text.assign(source_text.data(), source_text.size());
    return outcome;
  }
  if (!outcome->rows.empty()) {
    auto appended = store_.append(outcome->rows);
    if (!appended.ok()) return appended.take_error();
  }
  if (outcome->changed) publish(outcome.value());
  remember(p, outcome.value(), source_text);
  outcome->woken = sequencer_.finish(ticket);
  pending_.erase(ticket);
  return outcome;
}

Result<CommitOutcome> Engine::settle(std::uint32_t ticket, bool appended) {
  auto it = pending_.find(ticket);
  if (it == pending_.end() || !it->second.outcome) return bad_ticket(ticket);
  CommitOutcome outcome = std::move(*it->second.outcome);
  if (appended) {
    publish(outcome);
    remember(it->second, outcome, it->second.source_text);  // "" (normalised): erases
  } else {
    outcome.changed = false;  // no history, so no event (SPEC §5)
  }
  outcome.woken = sequencer_.finish(ticket);
  pending_.erase(it);
  return outcome;
}

std::vector<std::uint32_t> Engine::abort(std::uint32_t ticket) {
  pending_.erase(ticket);
  return sequencer_.finish(ticket);
}

Result<CommitOutcome> Engine::build_outcome(const Kind& kind, std::string_view id, const MutationOptions& opts,
                                            std::optional<json::Value> prev, std::optional<json::Value> next,
                                            std::int64_t now) {
  CommitOutcome out;
  Change& c = out.change;
  c.prev = std::move(prev);
  c.next = std::move(next);
  if (!opts.run_id.empty()) {
    if (const secrets::Matcher* m = secrets_.matcher(opts.run_id)) {
      if (c.prev) out.masked_prev = secrets::mask_value(*m, *c.prev);
      if (c.next) {
        json::Value masked = *c.next;
        out.masked_next = secrets::mask_value(*m, masked);
        if (out.masked_next) {
          out.unmasked_next = std::move(c.next);
          c.next = std::move(masked);
        }
      }
    }
  }
  c.changed_fields = changed_fields(c.prev ? &*c.prev : nullptr, c.next ? &*c.next : nullptr);
  if (c.changed_fields.empty()) return out;
  out.changed = true;
  c.kind = kind.name;
  c.id = id;
  c.delta = make_delta(c.next ? &*c.next : nullptr, c.changed_fields);
  c.actor = opts.actor.is_null() ? system_actor() : opts.actor;
  c.occurred_at_ms = now;
  c.occurred_at = iso8601(now);
  c.change_id = uuids_.next();
  out.rows = transition_rows(c);
  if (derivers_.all_native(kind.name)) {
    out.derived = true;
    out.triggers = derivers_.derive(c, nullptr, nullptr);
    out.payload = derivers_.native_payload(c);
  }
  return out;
}

void Engine::publish(CommitOutcome& outcome) {
  const Change& c = outcome.change;
  outcome.deliver_now = emitter_.publish([&](std::string& out) { write_change(c, out); });
  outcome.subscribers = subscriptions_.route(c.kind);
}

// ------------------------------------------------------------------ batches

Result<std::uint32_t> Engine::begin_batch(std::string_view kind, const std::vector<std::string>& ids,
                                          MutationOptions opts) {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) return make_error(Code::ER_UNKNOWN_KIND, "ingest: unknown kind " + quoted(kind));
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty())
      return make_error(Code::ER_BAD_ID, "ingest: kind " + quoted(kind) + ": entry " + std::to_string(i) +
                                             ": id must be a non-empty string",
                        "[" + std::to_string(i) + "].id");
    keys.push_back(WriteSequencer::key(kind, ids[i]));
  }
  const std::uint32_t t = sequencer_.enqueue(std::move(keys));
  Pending p;
  p.kind = it->second.get();
  p.opts = std::move(opts);
  pending_.emplace(t, std::move(p));
  return t;
}

Result<std::vector<CommitOutcome>> Engine::commit_batch(std::uint32_t ticket, const json::Value& prevs,
                                                        std::vector<IngestEntry> entries) {
  auto it = pending_.find(ticket);
  if (it == pending_.end() || !sequencer_.ready(ticket) || !it->second.batch_outcomes.empty()) return bad_ticket(ticket);
  Pending& p = it->second;
  if (!prevs.is_object()) return make_error(Code::ER_NOT_OBJECT, "ingest: read must return an object of states");
  if (entries.empty()) return make_error(Code::ER_BAD_ARGUMENT, "ingest: no entries");
  const std::int64_t now = options_.now();
  // The state each id is in as the batch proceeds (an id may repeat): a
  // pointer to an earlier outcome's unmasked next. No copy per entry unless
  // an id repeats.
  std::unordered_map<std::string_view, const json::Value*> current;
  std::vector<CommitOutcome> outcomes;
  outcomes.reserve(entries.size());  // stable addresses for `current`
  std::size_t row_count = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    bool first_prev_normalized = false;
    std::optional<json::Value> start;  // this entry's prev, owned by its outcome
    auto cur = current.find(e.id);
    if (cur == current.end()) {
      const json::Value* prev = prevs.find(e.id);
      if (prev && !prev->is_object())
        return make_error(Code::ER_NOT_OBJECT, "ingest: kind " + quoted(p.kind->name) + " id " + quoted(e.id) +
                                                   ": state returned by read must be an object, received " +
                                                   describe(*prev));
      // Normalise a read prev like set_prev does, so a key the schema drops
      // never shows up as a change (stored data that no longer validates
      // is compared as it is).
      if (prev) {
        start = *prev;
        auto changed = p.kind->schema.validate(*start, p.kind->name, e.id);
        if (!changed.ok()) start = *prev;
        else first_prev_normalized = *changed;
      }
    } else if (cur->second) {
      start = *cur->second;
    }
    std::optional<json::Value> normalized;
    if (e.next) {
      if (!e.next->is_object())
        return make_error(Code::ER_NOT_OBJECT,
                          "ingest: kind " + quoted(p.kind->name) + " id " + quoted(e.id) +
                              ": next must be an object or null, received " + describe(*e.next),
                          "[" + std::to_string(i) + "].next");
      auto changed = p.kind->schema.validate(*e.next, p.kind->name, e.id);
      if (!changed.ok()) {
        Error err = changed.take_error();
        err.message = "ingest: entry " + std::to_string(i) + ": " + err.message;
        return err;
      }
      if (*changed) normalized = *e.next;
    }
    const bool has_next = e.next.has_value();
    auto outcome = build_outcome(*p.kind, e.id, p.opts, std::move(start), std::move(e.next), now);
    if (!outcome.ok()) return outcome.take_error();
    outcome->normalized = std::move(normalized);
    outcome->normalized_prev = first_prev_normalized;  // JS then takes prev from the outcome
    row_count += outcome->rows.size();
    outcomes.push_back(std::move(outcome.value()));
    const CommitOutcome& o = outcomes.back();
    current[e.id] = !has_next ? nullptr : o.masked_next ? &*o.unmasked_next : &*o.change.next;
  }
  if (options_.host_store && row_count != 0) {
    p.batch_outcomes = outcomes;  // waits for settle_batch()
    return outcomes;
  }
  if (row_count != 0) {
    std::vector<TransitionRow> rows;
    rows.reserve(row_count);
    for (const auto& o : outcomes) rows.insert(rows.end(), o.rows.begin(), o.rows.end());
    auto appended = store_.append(std::move(rows));
    if (!appended.ok()) return appended.take_error();
  }
  for (auto& o : outcomes)
    if (o.changed) publish(o);
  outcomes.back().woken = sequencer_.finish(ticket);
  pending_.erase(ticket);
  return outcomes;
}

Result<std::vector<CommitOutcome>> Engine::settle_batch(std::uint32_t ticket, bool appended) {
  auto it = pending_.find(ticket);
  if (it == pending_.end() || it->second.batch_outcomes.empty()) return bad_ticket(ticket);
  std::vector<CommitOutcome> outcomes = std::move(it->second.batch_outcomes);
  for (auto& o : outcomes) {
    if (!appended) o.changed = false;
    else if (o.changed) publish(o);
  }
  outcomes.back().woken = sequencer_.finish(ticket);
  pending_.erase(it);
  return outcomes;
}

// ------------------------------------------------------------------ reads

Result<std::optional<std::string>> Engine::field_text(std::string_view state_json, std::string_view field) const {
  if (state_json.empty()) return std::optional<std::string>();
  auto v = json::parse(state_json, options_.limits);
  if (!v.ok()) return v.take_error();
  if (!v->is_object()) return make_error(Code::ER_NOT_OBJECT, "state returned by read must be an object");
  return std::optional<std::string>(transition_text(v->find(field)));
}

std::optional<std::int64_t> Engine::in_state_since(std::string_view kind, std::string_view id, std::string_view field,
                                                   std::string_view current_text) const {
  return store_.in_state_since(kind, id, field, current_text);
}

std::size_t Engine::transition_count(std::string_view kind, std::string_view id, std::string_view field,
                                     std::int64_t window_ms) const {
  return store_.transition_count(kind, id, field, window_ms, options_.now());
}

std::vector<TransitionRow> Engine::history(std::string_view kind, std::string_view id,
                                           std::optional<std::string_view> field, std::size_t limit) const {
  return store_.history(kind, id, field, limit);
}

Result<Change> Engine::parse_change(std::string_view change_json) const {
  auto v = json::parse(change_json, options_.limits);
  if (!v.ok()) return v.take_error();
  if (!v->is_object()) return make_error(Code::ER_BAD_ARGUMENT, "change must be an object");
  Change c;
  auto str = [&](const char* key, std::string& out) {
    if (const json::Value* s = v->find(key); s && s->is_string()) out = s->as_string();
  };
  str("kind", c.kind);
  str("id", c.id);
  str("occurredAt", c.occurred_at);
  str("changeId", c.change_id);
  if (c.kind.empty()) return make_error(Code::ER_BAD_KIND, "change.kind must be a non-empty string");
  if (json::Value* prev = v->find("prev"); prev && prev->is_object()) c.prev = std::move(*prev);
  if (json::Value* next = v->find("next"); next && next->is_object()) c.next = std::move(*next);
  if (const json::Value* fields = v->find("changedFields"); fields && fields->is_array())
    for (const auto& f : fields->as_array())
      if (f.is_string()) c.changed_fields.push_back(f.as_string());
  if (json::Value* delta = v->find("delta"); delta && delta->is_object()) c.delta = std::move(*delta);
  if (json::Value* actor = v->find("actor"); actor && actor->is_object()) c.actor = std::move(*actor);
  else c.actor = system_actor();
  return c;
}

}  // namespace er
