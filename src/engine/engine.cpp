#include "engine/engine.hpp"

#include <algorithm>
#include <cstring>

namespace er {

namespace {

std::string quoted(std::string_view s) {
  std::string out;
  json::write_string(s, out);
  return out;
}

const char* describe(json::Type t) {
  switch (t) {
    case json::Type::Null:
      return "null";
    case json::Type::Bool:
      return "a boolean";
    case json::Type::Number:
      return "a number";
    case json::Type::String:
      return "a string";
    case json::Type::Array:
      return "an array";
    case json::Type::Object:
      return "an object";
  }
  return "a value";
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos; }

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian, as WebAssembly is
  out.append(b, 4);
}

}  // namespace

void WriteResult::clear() {
  status = Status::Done;
  miss = 0;
  log_evicted = 0;
  log_trim_started = false;
  entries.clear();
  fields.clear();
  texts.clear();
}

Engine::Engine(EngineOptions options) : options_(std::move(options)), uuids_(options_.seed) {}

// ------------------------------------------------------------------ kinds

Result<std::uint32_t> Engine::define_kind(std::string_view kind, const json::Value& schema, bool strict) {
  if (blank(kind))
    return make_error(Code::ER_BAD_KIND, "defineEntity: kind must be a non-empty string, received " + quoted(kind));
  if (kind_index_.count(kind))
    return make_error(Code::ER_DUPLICATE_KIND, "defineEntity: duplicate kind " + quoted(kind));
  auto compiled = schema::Schema::compile(schema, kind, schema::CompileOptions{strict});
  if (!compiled.ok()) return compiled.take_error();
  auto k = std::make_unique<Kind>();
  k->name = std::string(kind);
  k->schema = std::move(compiled.value());
  k->strict = strict;
  k->fields = k->schema.property_names();
  const auto index = static_cast<std::uint32_t>(kinds_.size());
  if (!k->schema.string_tests().empty())
    k->tester = [this, index](std::uint32_t test, std::string_view text) {
      return options_.string_test && options_.string_test(index, test, text);
    };
  kinds_.push_back(std::move(k));
  kind_index_.emplace(std::string(kind), index);
  return index;
}

Result<std::uint32_t> Engine::define_kind(std::string_view kind, std::string_view schema_json, bool strict) {
  auto schema = json::parse(schema_json, options_.limits);
  if (!schema.ok()) {
    Error e = schema.take_error();
    e.message = "defineEntity: kind " + quoted(kind) + ": state schema: " + e.message;
    return e;
  }
  return define_kind(kind, *schema, strict);
}

void Engine::retract_kind(std::uint32_t kind) {
  if (kind >= kinds_.size()) return;
  auto it = kind_index_.find(kinds_[kind]->name);
  if (it != kind_index_.end() && it->second == kind) kind_index_.erase(it);
}

std::optional<std::uint32_t> Engine::kind_index(std::string_view kind) const {
  auto it = kind_index_.find(kind);
  if (it == kind_index_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Engine::kinds() const {
  std::vector<std::string> out;
  for (const auto& [name, index] : kind_index_) out.push_back(name);
  return out;
}

Result<void> Engine::declare_non_reactive_state(std::string_view table, std::string_view reason,
                                                std::string_view note) {
  if (blank(table))
    return make_error(Code::ER_BAD_ARGUMENT, "declareNonReactiveState: table must be a non-empty string");
  static constexpr std::string_view kReasons[] = {"raw-sample", "sensitive", "externally-owned", "bookkeeping"};
  if (std::find(std::begin(kReasons), std::end(kReasons), reason) == std::end(kReasons))
    return make_error(Code::ER_BAD_ARGUMENT,
                      "declareNonReactiveState: reason must be one of raw-sample, sensitive, externally-owned, "
                      "bookkeeping; received " +
                          quoted(reason));
  non_reactive_.push_back(NonReactiveDeclaration{std::string(table), std::string(reason), std::string(note)});
  return Ok{};
}

// ------------------------------------------------------------------ cache

std::uint32_t Engine::next_token() {
  if (++token_ == 0) token_ = 1;  // 0 means "not cached"
  return token_;
}

void Engine::cache_touch(std::uint32_t index) {
  if (lru_head_ == index) return;
  Entity& e = entities_.at(index);
  // unlink
  if (e.lru_prev != Entity::kNil) entities_.at(e.lru_prev).lru_next = e.lru_next;
  if (e.lru_next != Entity::kNil) entities_.at(e.lru_next).lru_prev = e.lru_prev;
  if (lru_tail_ == index) lru_tail_ = e.lru_prev;
  // push front
  e.lru_prev = Entity::kNil;
  e.lru_next = lru_head_;
  if (lru_head_ != Entity::kNil) entities_.at(lru_head_).lru_prev = index;
  lru_head_ = index;
  if (lru_tail_ == Entity::kNil) lru_tail_ = index;
}

void Engine::cache_drop(std::uint32_t index) {
  Entity& e = entities_.at(index);
  if (e.token == 0) return;
  if (e.lru_prev != Entity::kNil)
    entities_.at(e.lru_prev).lru_next = e.lru_next;
  else
    lru_head_ = e.lru_next;
  if (e.lru_next != Entity::kNil)
    entities_.at(e.lru_next).lru_prev = e.lru_prev;
  else
    lru_tail_ = e.lru_prev;
  e.lru_prev = e.lru_next = Entity::kNil;
  cache_bytes_ -= e.cached_bytes;
  --cache_count_;
  e.cached_bytes = 0;
  e.token = 0;
  // A few dropped documents keep their buffers for the next states cached
  // (a create after a remove allocates nothing); the rest are freed.
  if (spare_docs_.size() < kSpareDocs) {
    spare_docs_.emplace_back();
    spare_docs_.back().swap(e.state);
    spare_docs_.back().clear();
  }
  e.state.release();
}

void Engine::cache_put(std::uint32_t index, const json::Doc& state) {
  if (options_.state_cache_bytes == 0) return;
  {
    Entity& e = entities_.at(index);
    const bool cached = e.token != 0;
    if (!cached && !spare_docs_.empty()) {
      e.state.swap(spare_docs_.back());
      spare_docs_.pop_back();
    }
    e.state.assign_compact(state);
    e.token = next_token();
    const std::size_t charge = e.state.footprint() + entity_cost(e);
    cache_bytes_ = cache_bytes_ - e.cached_bytes + charge;
    e.cached_bytes = charge;
    if (!cached) {
      ++cache_count_;
      e.lru_prev = e.lru_next = Entity::kNil;
      // link at the front
      e.lru_next = lru_head_;
      if (lru_head_ != Entity::kNil) entities_.at(lru_head_).lru_prev = index;
      lru_head_ = index;
      if (lru_tail_ == Entity::kNil) lru_tail_ = index;
    } else {
      cache_touch(index);
    }
  }
  if (!in_batch_) evict(index);
}

void Engine::evict(std::uint32_t keep) {
  // Over budget: least recently used out (never `keep`, the state just written).
  while (cache_bytes_ > options_.state_cache_bytes && lru_tail_ != keep && lru_tail_ != Entity::kNil) {
    const std::uint32_t victim = lru_tail_;
    cache_drop(victim);
    release_if_idle(victim);
  }
}

std::size_t Engine::entity_cost(const Entity& e) {
  // The id's own buffer when it outgrew the string's inline room.
  const std::size_t id_heap = e.id.capacity() >= sizeof(std::string) ? e.id.capacity() + 1 : 0;
  return sizeof(Entity) + 2 * sizeof(std::uint32_t) + id_heap;
}

void Engine::log_appended(std::uint32_t entity) {
  ++log_rows_;
  if (options_.log_bytes != 0) log_queue_.push_back(LogEntry{entity, entities_.at(entity).generation});
}

void Engine::log_recharge(std::uint32_t index) {
  Entity& e = entities_.at(index);
  // The buffer as allocated (dropped rows wait for a compaction), the
  // record, and each row's entries in the oldest-first queue.
  const std::size_t charge =
      e.log.empty() ? 0 : e.log.footprint() + entity_cost(e) + e.log.rows() * 2 * sizeof(LogEntry);
  log_bytes_ = log_bytes_ - e.log_charged + charge;
  e.log_charged = charge;
}

// A queue entry names its entity's oldest row unless the record was reused
// since, or retention already dropped that row (stale): a stale entry is
// consumed here, so the entity's count of them goes down.
bool Engine::names_oldest_row(const LogEntry& e) {
  Entity& entity = entities_.at(e.entity);
  if (!entity.live || entity.generation != e.generation) return false;
  if (entity.stale_rows != 0) {
    --entity.stale_rows;
    return false;
  }
  return true;
}

// Oldest rows first, whatever their entity, until the log fits its budget.
// The queue's head entry names the entity whose oldest row is the log's
// oldest (rows of one entity are in time order).
void Engine::enforce_log_budget() {
  if (options_.log_bytes == 0) return;
  while (log_bytes_ > options_.log_bytes && log_queue_head_ < log_queue_.size()) {
    const LogEntry e = log_queue_[log_queue_head_++];
    if (!names_oldest_row(e)) continue;
    entities_.at(e.entity).log.drop_oldest();
    --log_rows_;
    log_recharge(e.entity);
    ++result_.log_evicted;
    release_if_idle(e.entity);
  }
  if (result_.log_evicted != 0 && !log_trimming_) {
    log_trimming_ = true;
    result_.log_trim_started = true;
  } else if (log_trimming_ && log_bytes_ * 10 < options_.log_bytes * 9) {
    log_trimming_ = false;
  }
  // Compact the queue once its consumed head (or stale entries) outweighs
  // what it still names; amortised O(1) per row.
  if (log_queue_head_ > 1024 && log_queue_head_ * 2 > log_queue_.size()) {
    log_queue_.erase(log_queue_.begin(), log_queue_.begin() + static_cast<std::ptrdiff_t>(log_queue_head_));
    log_queue_head_ = 0;
  }
  if (log_queue_.size() - log_queue_head_ > 2 * log_rows_ + 1024) {
    // Mostly stale entries (retention drops rows without popping them):
    // rebuild with the live ones, front to back.
    std::vector<LogEntry> live;
    live.reserve(log_rows_);
    for (std::size_t i = log_queue_head_; i < log_queue_.size(); ++i)
      if (names_oldest_row(log_queue_[i])) live.push_back(log_queue_[i]);
    log_queue_.swap(live);
    log_queue_head_ = 0;
  }
}

void Engine::release_batch_docs() {
  // The documents of a batch stay for the next one (no allocation per
  // entry then), unless they hold more than a few MB: a big batch's go.
  std::size_t held = 0;
  for (const Parsed& p : batch_docs_) held += p.prev.footprint() + p.next.footprint();
  if (held > (4u << 20)) {
    batch_docs_.clear();
    batch_docs_.shrink_to_fit();
  }
}

void Engine::drop_cache() {
  while (lru_tail_ != Entity::kNil) {
    const std::uint32_t victim = lru_tail_;
    cache_drop(victim);
    release_if_idle(victim);
  }
  spare_docs_.clear();
  spare_docs_.shrink_to_fit();
  batch_docs_.clear();  // only called between writes
  batch_docs_.shrink_to_fit();
}

std::size_t Engine::memory_bytes() const {
  std::size_t scratch = prev_doc_.footprint() + next_doc_.footprint() + masked_prev_.footprint() +
                        masked_next_.footprint() + actor_doc_.footprint() + result_.texts.capacity() +
                        result_.fields.capacity() * sizeof(std::uint32_t) +
                        result_.entries.capacity() * sizeof(EntryOutcome);
  for (const json::Doc& d : spare_docs_) scratch += d.footprint();
  for (const Parsed& p : batch_docs_) scratch += p.prev.footprint() + p.next.footprint();
  // The budgets' counts include the entities' records (entity_cost).
  return cache_bytes_ + log_bytes_ + log_queue_.capacity() * sizeof(LogEntry) + scratch;
}

Result<void> Engine::reserve_memory(std::size_t bytes) {
  auto fits = [&] {
    const bool heap = !options_.can_allocate || options_.can_allocate(bytes);
    return heap && (options_.memory_limit == 0 || memory_bytes() + bytes <= options_.memory_limit);
  };
  if (fits()) return Ok{};
  drop_cache();  // only a cache: given up before a write fails
  if (fits()) return Ok{};
  return make_error(
      Code::ER_OUT_OF_MEMORY,
      "out of memory: the write needs about " + std::to_string(bytes) +
          " bytes more than the WebAssembly heap or the engine's memoryLimit has left; nothing was written");
}

void Engine::release_if_idle(std::uint32_t index) {
  const Entity& e = entities_.at(index);
  if (e.token == 0 && e.log.empty()) entities_.remove(index);
}

// ------------------------------------------------------------------ writes

Error Engine::not_object(const Kind& kind, std::string_view id, std::string_view what, json::Type type) const {
  return make_error(Code::ER_NOT_OBJECT, "kind " + quoted(kind.name) + " id " + quoted(id) + ": " + std::string(what) +
                                             " must be an object, received " + describe(type));
}

Result<void> Engine::load_state(const Kind& kind, std::string_view id, std::string_view text, json::Doc& doc, bool prev,
                                bool& normalized) const {
  normalized = false;
  const char* what = prev ? "state returned by read" : "state returned by apply";
  if (auto parsed = doc.parse(text, options_.limits); !parsed.ok()) {
    Error e = parsed.take_error();
    e.message = "kind " + quoted(kind.name) + " id " + quoted(id) + ": " + what + ": " + e.message;
    return e;
  }
  if (!doc.is_object(json::Doc::root())) return not_object(kind, id, what, doc.type(json::Doc::root()));
  const schema::StringTester* tester = kind.tester ? &kind.tester : nullptr;
  auto checked = kind.schema.check(doc, json::Doc::root(), kind.name, id, tester);
  if (!checked.ok()) {
    // Stored data that no longer validates is compared as it is.
    if (prev) return Ok{};
    return checked.take_error();
  }
  if (!*checked) return Ok{};
  // The schema normalises this state (strips unknown keys, fills defaults):
  // the tree path, then the normalised text parsed again.
  json::Value tree = json::to_value(doc);
  auto validated = kind.schema.validate(tree, kind.name, id, tester);
  if (!validated.ok()) return prev ? Result<void>(Ok{}) : Result<void>(validated.take_error());
  auto reparsed = doc.parse(json::to_string(tree), json::Limits{~std::size_t{0}, options_.limits.max_depth + 1});
  if (!reparsed.ok()) return reparsed.take_error();
  normalized = true;
  return Ok{};
}

void Engine::append_text(TextSpan& span, std::string_view text) {
  span.offset = static_cast<std::uint32_t>(result_.texts.size());
  span.length = static_cast<std::uint32_t>(text.size());
  result_.texts.append(text);
}

Result<void> Engine::check_entry(const Kind& kind, const WriteEntry& e, std::size_t index, std::size_t count) {
  auto in_batch = [&](Error err) {
    if (count > 1) {
      std::string message = "ingest: entry ";
      message += std::to_string(index);
      message += ": ";
      message += err.message;
      err.message = std::move(message);
      std::string path = "[";
      path += std::to_string(index);
      path += ']';
      if (!err.path.empty()) {
        path += '.';
        path += err.path;
      }
      err.path = std::move(path);
    }
    return err;
  };
  if (e.id.empty())
    return in_batch(make_error(Code::ER_BAD_ID, "kind " + quoted(kind.name) + ": id must be a non-empty string", "id"));
  Parsed& p = batch_docs_[index];
  p.prev_normalized = p.next_normalized = false;
  if (e.prev == PrevSource::Text) {
    auto r = load_state(kind, e.id, e.prev_text, p.prev, true, p.prev_normalized);
    if (!r.ok()) return in_batch(r.take_error());
  }
  if (!e.remove) {
    auto r = load_state(kind, e.id, e.next_text, p.next, false, p.next_normalized);
    if (!r.ok()) return in_batch(r.take_error());
  }
  return Ok{};
}

namespace {
// The message names the kind and the run, never the id: it holds the secret.
Error secret_in_id(std::string_view kind, std::string_view run_id, std::string path) {
  return make_error(Code::ER_SECRET_IN_ID,
                    "kind " + quoted(kind) + ": the id contains a secret of run " + quoted(run_id) +
                        "; an id cannot be masked, so the write is refused",
                    std::move(path));
}
}  // namespace

Result<void> Engine::check_run_id(std::uint32_t kind, std::string_view run_id, std::string_view id,
                                  std::string_view path) const {
  if (kind >= kinds_.size()) return make_error(Code::ER_UNKNOWN_KIND, "unknown kind");
  const secrets::Matcher* matcher = run_id.empty() ? nullptr : secrets_.matcher(run_id);
  if (!matcher || !matcher->contains_any(id)) return Ok{};
  return secret_in_id(kinds_[kind]->name, run_id, std::string(path));
}

Result<const WriteResult*> Engine::write(const WriteContext& ctx, std::span<const WriteEntry> entries) {
  result_.clear();
  if (ctx.kind >= kinds_.size()) return make_error(Code::ER_UNKNOWN_KIND, "unknown kind");
  const Kind& kind = *kinds_[ctx.kind];
  // Room for what this write may allocate (parsed documents, rows, cached
  // state): several times its texts, checked before anything happens.
  std::size_t text_bytes = ctx.actor.size();
  for (const WriteEntry& e : entries) text_bytes += e.id.size() + e.prev_text.size() + e.next_text.size();
  if (auto room = reserve_memory(6 * text_bytes + (64u << 10)); !room.ok()) return room.take_error();
  const secrets::Matcher* matcher = ctx.run_id.empty() ? nullptr : secrets_.matcher(ctx.run_id);
  if (matcher && matcher->empty()) matcher = nullptr;
  if (matcher)
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (matcher->contains_any(entries[i].id))
        return secret_in_id(kind.name, ctx.run_id, entries.size() > 1 ? "[" + std::to_string(i) + "].id" : "id");
  // Every cached prev must still be there before anything takes effect,
  // and name the state before the batch: an id an earlier entry of the
  // batch writes has moved on (its entry must carry that state as text).
  // An id is "moved on" when an earlier entry named it: each entity that
  // exists is stamped with the batch (an id without one cannot be cached).
  const bool batch = entries.size() > 1;
  if (batch && ++batch_ == 0) ++batch_;  // 0 is "never"
  prev_entity_.assign(entries.size(), EntityTable::kNone);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const WriteEntry& e = entries[i];
    if (!batch && e.prev != PrevSource::Cached) continue;
    const std::uint32_t index = entities_.find(ctx.kind, e.id);
    prev_entity_[i] = index;
    bool moved = false;
    if (batch && index != EntityTable::kNone) {
      moved = entities_.at(index).batch == batch_;
      entities_.at(index).batch = batch_;
    }
    if (e.prev != PrevSource::Cached) continue;
    const bool miss =
        moved || index == EntityTable::kNone || entities_.at(index).token != e.prev_token || e.prev_token == 0;
    if (miss) {
      if (result_.status != WriteResult::Status::CacheMiss) result_.miss = static_cast<std::uint32_t>(i);
      result_.status = WriteResult::Status::CacheMiss;
      result_.fields.push_back(static_cast<std::uint32_t>(i));
    }
  }
  if (result_.status == WriteResult::Status::CacheMiss) return &result_;
  // A batch validates every entry first: one bad entry fails it whole. (A
  // single write fails before any effect by construction.)
  if (entries.size() > 1) {
    if (batch_docs_.size() < entries.size()) batch_docs_.resize(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (auto r = check_entry(kind, entries[i], i, entries.size()); !r.ok()) {
        release_batch_docs();
        return r.take_error();
      }
  }
  result_.entries.reserve(entries.size());
  // Nothing is evicted while a batch commits: every cached prev it was
  // checked against stays until its entry has run.
  in_batch_ = entries.size() > 1;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto r = commit_entry(kind, ctx, entries[i], matcher, static_cast<std::uint32_t>(i));
    if (!r.ok()) {
      if (in_batch_) release_batch_docs();
      in_batch_ = false;
      return r.take_error();
    }
  }
  if (in_batch_) {
    in_batch_ = false;
    release_batch_docs();
    evict(lru_head_);
  }
  enforce_log_budget();
  return &result_;
}

Result<void> Engine::commit_entry(const Kind& kind, const WriteContext& ctx, const WriteEntry& e,
                                  const secrets::Matcher* matcher, std::uint32_t entry_index) {
  if (e.id.empty())
    return make_error(Code::ER_BAD_ID, "kind " + quoted(kind.name) + ": id must be a non-empty string", "id");
  EntryOutcome& out = result_.entries.emplace_back();

  // ---- prev
  DocRef prev;
  std::uint32_t entity = EntityTable::kNone;
  if (e.prev == PrevSource::Cached) {
    entity = prev_entity_[entry_index];  // found and checked by write()
    prev = DocRef{&entities_.at(entity).state, json::Doc::root()};
  } else if (e.prev == PrevSource::Text) {
    // A batch's check pass parsed it already.
    bool normalized = false;
    json::Doc* doc = &prev_doc_;
    if (in_batch_) {
      doc = &batch_docs_[entry_index].prev;
      normalized = batch_docs_[entry_index].prev_normalized;
    } else if (auto r = load_state(kind, e.id, e.prev_text, prev_doc_, true, normalized); !r.ok()) {
      return r;
    }
    prev = DocRef{doc, json::Doc::root()};
    if (normalized) {
      out.prev_normalized = true;
      scratch_.clear();
      json::write(*doc, json::Doc::root(), scratch_);
      append_text(out.prev_text, scratch_);
    }
  }

  // ---- next
  DocRef next;
  json::Doc& next_doc = in_batch_ ? batch_docs_[entry_index].next : next_doc_;
  if (!e.remove) {
    bool normalized = false;
    if (in_batch_) {
      normalized = batch_docs_[entry_index].next_normalized;
    } else if (auto r = load_state(kind, e.id, e.next_text, next_doc_, false, normalized); !r.ok()) {
      return r;
    }
    next = DocRef{&next_doc, json::Doc::root()};
    if (normalized) {
      out.next_normalized = true;
      scratch_.clear();
      json::write(next_doc, json::Doc::root(), scratch_);
      append_text(out.next_text, scratch_);
    }
  }

  // ---- masking (SPEC §7): the diff, rows and change see masked copies.
  DocRef mprev = prev, mnext = next;
  if (matcher) {
    auto mask = [&](DocRef state, json::Doc& masked, TextSpan& span) -> Result<bool> {
      scratch_.clear();
      if (!state || !secrets::mask_doc(*matcher, *state.doc, state.node, scratch_)) return false;
      // Parsed again: masked keys re-sorted, and of two keys that mask
      // alike the later one kept.
      auto r = masked.parse(scratch_, json::Limits{~std::size_t{0}, options_.limits.max_depth + 1});
      if (!r.ok()) return r.take_error();
      scratch2_.clear();
      json::write(masked, json::Doc::root(), scratch2_);
      append_text(span, scratch2_);
      return true;
    };
    auto p = mask(prev, masked_prev_, out.masked_prev);
    if (!p.ok()) return p.take_error();
    if (*p) {
      out.prev_masked = true;
      mprev = DocRef{&masked_prev_, json::Doc::root()};
    }
    auto n = mask(next, masked_next_, out.masked_next);
    if (!n.ok()) return n.take_error();
    if (*n) {
      out.next_masked = true;
      mnext = DocRef{&masked_next_, json::Doc::root()};
    }
    if (!ctx.actor.empty()) {
      if (auto a = actor_doc_.parse(ctx.actor, options_.limits); a.ok()) {
        scratch_.clear();
        if (secrets::mask_doc(*matcher, actor_doc_, json::Doc::root(), scratch_)) {
          out.actor_masked = true;
          append_text(out.actor, scratch_);
        }
      }
    }
  }

  // ---- diff
  const bool alike = diff(mprev, mnext, changes_);
  if (changes_.empty()) {
    // No change: no rows, no change event. The cache keeps the entity's
    // state when a cached prev equals next.
    if (next) {
      // It does when the diff saw the unmasked documents and passed over no
      // null/absent pair; masking may hide a difference (a change inside a
      // secret), so masked documents are compared.
      if (e.prev == PrevSource::Cached && ((alike && mprev.doc == prev.doc && mnext.doc == next.doc) ||
                                           json::equal(*prev.doc, prev.node, *next.doc, next.node))) {
        out.token = entities_.at(entity).token;
        cache_touch(entity);
      } else {
        if (entity == EntityTable::kNone) entity = entities_.get_or_add(ctx.kind, e.id);
        cache_put(entity, next_doc);
        out.token = entities_.at(entity).token;
        release_if_idle(entity);
      }
    }
    return Ok{};
  }

  // ---- the change
  out.changed = true;
  out.at = ctx.now;
  uuids_.next(out.change_id.data());
  iso8601(ctx.now, out.occurred_at.data());
  out.field_begin = static_cast<std::uint32_t>(result_.fields.size());
  out.field_count = static_cast<std::uint32_t>(changes_.size());
  names_.clear();
  {
    // Both lists are in key order: one merge-walk finds listed fields.
    const auto& listed = kind.fields;
    std::size_t j = 0;
    TextSpan names{static_cast<std::uint32_t>(result_.texts.size()), 0};
    for (const FieldChange& c : changes_) {
      names_.push_back(c.name);
      while (j < listed.size() && json::key_less(listed[j], c.name)) ++j;
      if (j < listed.size() && listed[j] == c.name) {
        result_.fields.push_back(static_cast<std::uint32_t>(j));
      } else {
        result_.fields.push_back(WriteResult::kUnlisted);
        put_u32(result_.texts, static_cast<std::uint32_t>(c.name.size()));
        result_.texts.append(c.name);
      }
    }
    names.length = static_cast<std::uint32_t>(result_.texts.size()) - names.offset;
    out.names = names;
  }

  if (entity == EntityTable::kNone) entity = entities_.get_or_add(ctx.kind, e.id);

  // ---- transition rows (none for a tombstone)
  if (next) {
    out.row_count = out.field_count;
    auto text_of = [&](DocRef side, std::uint32_t node, std::string& buf) -> std::string_view {
      if (node == json::Doc::kNone || side.doc->type(node) == json::Type::Null) return "null";
      if (side.doc->type(node) == json::Type::String) return side.doc->str(node);
      buf.clear();
      json::write(*side.doc, node, buf);
      return buf;
    };
    if (options_.host_store) {
      out.rows.offset = static_cast<std::uint32_t>(result_.texts.size());
      for (const FieldChange& c : changes_) {
        if (mprev) {
          const std::string_view from = text_of(mprev, c.prev, scratch_);
          put_u32(result_.texts, static_cast<std::uint32_t>(from.size()));
          result_.texts.append(from);
        } else {
          put_u32(result_.texts, WriteResult::kNoValue);
        }
        const std::string_view to = text_of(mnext, c.next, scratch_);
        put_u32(result_.texts, static_cast<std::uint32_t>(to.size()));
        result_.texts.append(to);
      }
      out.rows.length = static_cast<std::uint32_t>(result_.texts.size()) - out.rows.offset;
    } else {
      EntityLog& log = entities_.at(entity).log;
      for (const FieldChange& c : changes_) {
        std::optional<std::string_view> from;
        if (mprev) from = text_of(mprev, c.prev, scratch_);
        const std::string_view to = text_of(mnext, c.next, scratch2_);
        log.append(c.name, from, to, ctx.now);
        log_appended(entity);
        if (options_.retention_per_entity != 0 && log.rows() > options_.retention_per_entity) {
          log.drop_oldest();
          --log_rows_;
          ++entities_.at(entity).stale_rows;  // its queue entry is skipped when it comes up
        }
      }
      log_recharge(entity);
    }
  }

  // ---- derivation by native derivers (a kind whose derivers all are)
  {
    ChangeView view{kind.name, e.id, mprev, mnext, names_};
    std::string& t = result_.texts;
    const std::size_t start = t.size();
    t += "{\"triggers\":[";
    bool has_payload = false;
    scratch_.clear();
    if (derivers_.derive_native(view, triggers_, scratch_, has_payload)) {
      for (std::size_t i = 0; i < triggers_.size(); ++i) {
        if (i) t += ',';
        json::write_string(triggers_[i], t);
      }
      t += ']';
      if (has_payload) {
        t += ",\"payload\":";
        t += scratch_;
      }
      t += '}';
      out.derived = true;
      out.derived_text.offset = static_cast<std::uint32_t>(start);
      out.derived_text.length = static_cast<std::uint32_t>(t.size() - start);
    } else {
      t.resize(start);
    }
  }

  // ---- the entity's state for the next write's prev
  if (next) {
    cache_put(entity, next_doc);
    out.token = entities_.at(entity).token;
  } else {
    cache_drop(entity);
  }
  release_if_idle(entity);
  return Ok{};
}

Result<std::string> Engine::validate(std::uint32_t kind, std::string_view state_json) const {
  if (kind >= kinds_.size()) return make_error(Code::ER_UNKNOWN_KIND, "unknown kind");
  json::Doc doc;
  bool normalized = false;
  if (auto r = load_state(*kinds_[kind], "", state_json, doc, false, normalized); !r.ok()) return r.take_error();
  return json::to_string(doc);
}

// ------------------------------------------------------------------ reads

Result<std::string> Engine::field_text(std::string_view state_json, std::string_view field) const {
  json::Doc doc;
  if (auto r = doc.parse(state_json, options_.limits); !r.ok()) return r.take_error();
  if (!doc.is_object(json::Doc::root()))
    return make_error(Code::ER_NOT_OBJECT, "state returned by read must be an object");
  std::string out;
  json::write_transition_text(doc, doc.find(json::Doc::root(), field), out);
  return out;
}

std::optional<std::int64_t> Engine::in_state_since(std::uint32_t kind, std::string_view id, std::string_view field,
                                                   std::string_view current_text) const {
  const std::uint32_t e = entities_.find(kind, id);
  if (e == EntityTable::kNone) return std::nullopt;
  return entities_.at(e).log.in_state_since(field, current_text);
}

std::size_t Engine::transition_count(std::uint32_t kind, std::string_view id, std::string_view field,
                                     std::int64_t window_ms, std::int64_t now) const {
  const std::uint32_t e = entities_.find(kind, id);
  if (e == EntityTable::kNone) return 0;
  return entities_.at(e).log.count_since(field, now - window_ms);
}

std::vector<TransitionRow> Engine::history(std::uint32_t kind, std::string_view id,
                                           std::optional<std::string_view> field, std::size_t limit) const {
  const std::uint32_t e = entities_.find(kind, id);
  if (e == EntityTable::kNone) return {};
  return entities_.at(e).log.history(field, limit);
}

// ------------------------------------------------------------------ changes handed back

ChangeView Engine::ParsedChange::view() const { return ChangeView{kind, id, prev, next, fields}; }

Result<std::unique_ptr<Engine::ParsedChange>> Engine::parse_change(std::string_view change_json) const {
  auto c = std::make_unique<ParsedChange>();
  json::Doc& d = c->doc;
  if (auto r = d.parse(change_json, options_.limits); !r.ok()) return r.take_error();
  const std::uint32_t root = json::Doc::root();
  if (!d.is_object(root)) return make_error(Code::ER_BAD_ARGUMENT, "change must be an object");
  auto str = [&](std::string_view key, std::string& out) {
    const std::uint32_t i = d.find(root, key);
    if (i != json::Doc::kNone && d.type(i) == json::Type::String) out = std::string(d.str(i));
  };
  str("kind", c->kind);
  str("id", c->id);
  if (blank(c->kind)) return make_error(Code::ER_BAD_KIND, "change.kind must be a non-empty string");
  if (auto p = d.find(root, "prev"); p != json::Doc::kNone && d.is_object(p)) c->prev = DocRef{&d, p};
  if (auto n = d.find(root, "next"); n != json::Doc::kNone && d.is_object(n)) c->next = DocRef{&d, n};
  if (auto f = d.find(root, "changedFields"); f != json::Doc::kNone && d.type(f) == json::Type::Array)
    for (std::uint32_t i = d.first_item(f); i < d.end(f); i = d.end(i))
      if (d.type(i) == json::Type::String) c->fields.push_back(d.str(i));
  return c;
}

}  // namespace er
