// The reactive entity engine, sans-IO. The host's read/apply (and an
// optional host transition store) may be asynchronous JavaScript, so the
// engine never calls them: the JS layer reads prev and runs apply, then
// hands the core everything a write needs in one call.
//
//   prev  = await read([id])[id]      (JS, strictly before apply)
//   next  = await apply()             (JS; a throw ends the write there)
//   write(kind, {id, prev, next})     validate, mask, diff, rows, change
//
// prev arrives as JSON text, or as a token naming the state this engine
// committed last for the entity (the JS layer knows when `read` returned
// that very object); the engine keeps those states in a byte-bounded cache.
// A token the cache no longer holds is reported (CacheMiss) and the caller
// sends the text instead. Writes to one entity are ordered by the caller
// (one at a time); the engine holds no write open between calls.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "engine/change.hpp"
#include "engine/clock.hpp"
#include "engine/derivers.hpp"
#include "engine/entities.hpp"
#include "json/doc.hpp"
#include "schema/schema.hpp"
#include "secrets/secret_registry.hpp"

namespace er {

struct EngineOptions {
  std::array<std::uint64_t, 4> seed{};  // entropy for change ids
  // true: transition rows go back to the host (WriteResult), which appends
  // them; false: the embedded log keeps them.
  bool host_store = false;
  std::size_t retention_per_entity = 0;  // embedded log: rows kept per entity (0 = all)
  // Embedded log: bytes of rows kept in all (0 = no bound); beyond it the
  // oldest rows go first, whatever their entity.
  std::size_t log_bytes = 0;
  // Budget of the prev cache (committed states kept to skip parsing the
  // next write's prev); 0 disables it.
  std::size_t state_cache_bytes = 16u << 20;
  json::Limits limits;
  // Runs a kind's string test (schema::StringTest: a pattern or a format)
  // on a string. The binding runs it in JavaScript; without one, a schema's
  // string tests fail.
  std::function<bool(std::uint32_t kind, std::uint32_t test, std::string_view text)> string_test;
  // May the engine allocate about this many more bytes? The binding asks
  // the WebAssembly heap; a write that would not fit fails with
  // ER_OUT_OF_MEMORY before any effect, after the prev cache was given up.
  // Unset: always.
  std::function<bool(std::size_t bytes)> can_allocate;
  // What this engine may hold in all (0 = no limit): its cached states,
  // its log, its entities and its scratch, plus what a write needs.
  std::size_t memory_limit = 0;
};

enum class PrevSource : std::uint8_t {
  None,    // read returned nothing (a create, or removing an absent id)
  Cached,  // the state this engine committed last for the entity (token)
  Text,    // JSON text
};

// One write of a batch (a plain mutate/remove is a batch of one).
struct WriteEntry {
  std::string_view id;
  PrevSource prev = PrevSource::None;
  std::uint32_t prev_token = 0;  // Cached
  std::string_view prev_text;    // Text
  bool remove = false;           // a tombstone: no next
  std::string_view next_text;    // JSON text, unless remove
};

struct WriteContext {
  std::uint32_t kind = 0;   // from define_kind
  std::string_view run_id;  // "" = not run-originated
  std::string_view actor;   // JSON of opts.actor, read only for a run (masking); "" = none
  std::int64_t now = 0;     // epoch ms: occurredAt, transitionedAt
};

// A piece of WriteResult::texts.
struct TextSpan {
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
};

// What one entry of a write decided. A text span is set where its flag is.
struct EntryOutcome {
  bool changed = false;
  bool next_normalized = false;  // next_text: the validated state (defaults filled, keys stripped)
  bool prev_normalized = false;  // prev_text: prev as validated (a Text prev the schema normalised)
  bool prev_masked = false;      // masked_prev: the event's prev
  bool next_masked = false;      // masked_next: the event's next
  bool actor_masked = false;     // actor: the event's actor
  bool derived = false;          // derived: {"triggers":[...],"payload":...} (native derivers)
  // The cache token of the entity's state after the write (0: not cached).
  std::uint32_t token = 0;
  // Changed fields (key order): fields[field_begin, +field_count).
  std::uint32_t field_begin = 0;
  std::uint32_t field_count = 0;
  TextSpan next_text, prev_text, masked_prev, masked_next, actor, derived_text;
  // Names of changed fields the kind's schema does not list: each a u32
  // byte length and the bytes, in the order they appear in `fields`.
  TextSpan names;
  // Host store: per changed field, u32 length (kNoValue: none) and bytes of
  // fromValue, then u32 length and bytes of toValue.
  TextSpan rows;
  std::uint32_t row_count = 0;
  std::int64_t at = 0;
  std::array<char, UuidGenerator::kChars> change_id{};
  std::array<char, kIsoChars> occurred_at{};
};

struct WriteResult {
  enum class Status { Done, CacheMiss };
  Status status = Status::Done;
  // CacheMiss: the first entry whose token the cache no longer holds; every
  // such entry's index is in `fields` (a batch resends only those as text).
  std::uint32_t miss = 0;
  // Rows the embedded log's total budget dropped in this write (oldest
  // first); true on the write that started dropping (one warning per
  // episode: it ends once the log is back under 90% of its budget).
  std::uint32_t log_evicted = 0;
  bool log_trim_started = false;
  std::vector<EntryOutcome> entries;
  // Per changed field: its index in the kind's field list (fields()), or
  // kUnlisted (its name is in the entry's `names`).
  std::vector<std::uint32_t> fields;
  std::string texts;

  static constexpr std::uint32_t kUnlisted = 0xFFFFFFFFu;
  static constexpr std::uint32_t kNoValue = 0xFFFFFFFFu;
  std::string_view text(TextSpan s) const { return std::string_view(texts.data() + s.offset, s.length); }
  void clear();
};

struct NonReactiveDeclaration {
  std::string table, reason, note;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  // Reseeds the change-id generator (the binding seeds it before the first
  // write: edge runtimes forbid randomness at load time).
  void seed(const std::array<std::uint64_t, 4>& seed) { uuids_ = UuidGenerator(seed); }

  // ---- kinds (SPEC §4)
  // The kind's number, used by write() and the reads.
  Result<std::uint32_t> define_kind(std::string_view kind, std::string_view schema_json, bool strict = false);
  Result<std::uint32_t> define_kind(std::string_view kind, const json::Value& schema, bool strict = false);
  std::optional<std::uint32_t> kind_index(std::string_view kind) const;
  // Undoes define_kind of a kind never written (the host refused its
  // schema's string tests): its name is free again, its number unused.
  void retract_kind(std::uint32_t kind);
  const std::string& kind_name(std::uint32_t kind) const { return kinds_[kind]->name; }
  // The top-level fields the kind's schema lists, in key order: changed
  // fields are reported as indices into this list.
  const std::vector<std::string>& fields(std::uint32_t kind) const { return kinds_[kind]->fields; }
  // The string tests the kind's schema needs the host to run (string_test).
  const std::vector<schema::StringTest>& string_tests(std::uint32_t kind) const {
    return kinds_[kind]->schema.string_tests();
  }
  std::vector<std::string> kinds() const;  // sorted
  std::size_t kind_count() const { return kinds_.size(); }
  Result<void> declare_non_reactive_state(std::string_view table, std::string_view reason, std::string_view note);
  const std::vector<NonReactiveDeclaration>& non_reactive_declarations() const { return non_reactive_; }

  // ---- the write pipeline (SPEC §5): validate, mask, diff, rows, change.
  // A batch validates every entry before anything takes effect; one bad
  // entry fails it. The result stays valid until the next call.
  Result<const WriteResult*> write(const WriteContext& context, std::span<const WriteEntry> entries);

  // SPEC §7: a run-originated write whose id contains a secret of its run
  // is refused (an id cannot be masked without losing its identity).
  // write() checks it; a host calls it before reading the state, too.
  Result<void> check_run_id(std::uint32_t kind, std::string_view run_id, std::string_view id,
                            std::string_view path = "id") const;

  // The validated (normalised) state for `state_json`, as JSON text.
  Result<std::string> validate(std::uint32_t kind, std::string_view state_json) const;

  // ---- reads over the embedded transition log
  // The transition text of `field` in `state_json`.
  Result<std::string> field_text(std::string_view state_json, std::string_view field) const;
  std::optional<std::int64_t> in_state_since(std::uint32_t kind, std::string_view id, std::string_view field,
                                             std::string_view current_text) const;
  std::size_t transition_count(std::uint32_t kind, std::string_view id, std::string_view field, std::int64_t window_ms,
                               std::int64_t now) const;
  // No field: every field's rows. Newest first; limit 0 = no limit.
  std::vector<TransitionRow> history(std::uint32_t kind, std::string_view id, std::optional<std::string_view> field,
                                     std::size_t limit) const;

  // ---- derivers (SPEC §6), run-secret masking (§7)
  DeriverRegistry& derivers() { return derivers_; }
  const DeriverRegistry& derivers() const { return derivers_; }
  secrets::SecretRegistry& secrets() { return secrets_; }
  const secrets::SecretRegistry& secrets() const { return secrets_; }

  // A change event the host hands back (derive/payload calls), parsed.
  struct ParsedChange {
    json::Doc doc;
    std::string kind, id;
    std::vector<std::string_view> fields;
    ChangeView view() const;
    DocRef prev, next;
  };
  Result<std::unique_ptr<ParsedChange>> parse_change(std::string_view change_json) const;

  // ---- introspection (tests, budgets)
  std::size_t entity_count() const { return entities_.size(); }
  std::size_t cached_bytes() const { return cache_bytes_; }
  std::size_t cached_entities() const { return cache_count_; }
  std::size_t log_bytes() const { return log_bytes_; }
  // What the engine holds now, as memory_limit counts it.
  std::size_t memory_bytes() const;
  std::size_t log_rows() const { return log_rows_; }
  // Gives up every cached state (the cache is an optimisation): what the
  // engine does before it reports ER_OUT_OF_MEMORY.
  void drop_cache();

 private:
  struct Kind {
    std::string name;
    schema::Schema schema;
    bool strict = false;
    std::vector<std::string> fields;
    schema::StringTester tester;  // set when the schema has string tests
  };

  Result<void> check_entry(const Kind& kind, const WriteEntry& e, std::size_t index, std::size_t count);
  Result<void> commit_entry(const Kind& kind, const WriteContext& ctx, const WriteEntry& e,
                            const secrets::Matcher* matcher, std::uint32_t entry_index);
  // Parses `text` into doc as kind's state: an object, validated; when the
  // schema would normalise it, doc holds the normalised state and `normalized`
  // is set. A prev that no longer validates is kept as it is (prev = true).
  Result<void> load_state(const Kind& kind, std::string_view id, std::string_view text, json::Doc& doc, bool prev,
                          bool& normalized) const;
  Error not_object(const Kind& kind, std::string_view id, std::string_view what, json::Type type) const;
  void append_text(TextSpan& span, std::string_view text);
  void cache_put(std::uint32_t entity, const json::Doc& state);
  void cache_drop(std::uint32_t entity);
  void cache_touch(std::uint32_t entity);
  void evict(std::uint32_t keep);
  void release_if_idle(std::uint32_t entity);
  // The budgets count what an entity makes the heap hold: its cached
  // document, its log buffer, and its record with the table slot and id.
  static std::size_t entity_cost(const Entity& e);
  void log_appended(std::uint32_t entity);
  // Re-counts what the entity's log holds, after rows came or went.
  void log_recharge(std::uint32_t entity);
  void enforce_log_budget();
  struct LogEntry;
  bool names_oldest_row(const LogEntry& e);
  Result<void> reserve_memory(std::size_t bytes);
  std::uint32_t next_token();

  EngineOptions options_;
  std::vector<std::unique_ptr<Kind>> kinds_;
  std::map<std::string, std::uint32_t, std::less<>> kind_index_;
  std::vector<NonReactiveDeclaration> non_reactive_;
  EntityTable entities_;
  // LRU list of cached entities (most recent first) and what they take.
  std::uint32_t lru_head_ = Entity::kNil, lru_tail_ = Entity::kNil;
  std::size_t cache_bytes_ = 0;
  std::size_t cache_count_ = 0;
  std::uint32_t batch_ = 0;  // numbers batches, to spot an id named twice
  std::uint32_t token_ = 0;
  bool in_batch_ = false;
  // The embedded log: bytes and rows held, and one entry per row appended
  // (entity, its generation) oldest first, for the total budget.
  std::size_t log_bytes_ = 0;
  std::size_t log_rows_ = 0;
  bool log_trimming_ = false;
  struct LogEntry {
    std::uint32_t entity;
    std::uint32_t generation;
  };
  std::vector<LogEntry> log_queue_;
  std::size_t log_queue_head_ = 0;
  DeriverRegistry derivers_;
  secrets::SecretRegistry secrets_;
  UuidGenerator uuids_;

  std::vector<json::Doc> spare_docs_;  // buffers of dropped cached states, for reuse
  static constexpr std::size_t kSpareDocs = 16;
  // Scratch, reused by every write (their capacity stays).
  WriteResult result_;
  json::Doc prev_doc_, next_doc_, masked_prev_, masked_next_, actor_doc_;
  // A batch's states, parsed once by the check pass and used again by the
  // commit (entry i's in batch_docs_[i]); released after the batch.
  struct Parsed {
    json::Doc prev, next;
    bool prev_normalized = false, next_normalized = false;
  };
  std::vector<Parsed> batch_docs_;
  // Per entry of the current write, its entity as write() found it (for a
  // cached prev: live until the entry commits; a batch evicts nothing).
  std::vector<std::uint32_t> prev_entity_;
  void release_batch_docs();
  std::vector<FieldChange> changes_;
  std::vector<std::string_view> names_;
  std::vector<std::string_view> triggers_;
  std::string scratch_, scratch2_;
};

}  // namespace er
