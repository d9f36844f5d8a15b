// The reactive entity engine, sans-IO. The host's read/apply (and an
// optional host transition store) may be asynchronous JavaScript, so the
// engine never calls them: the binding layer drives these steps.
//
//   t = begin(kind, id, opts)        // take a place in line (SPEC §9)
//   ...wait until ready(t)...        // woken by a finishing ticket
//   prev = await read([id])[id]
//   set_prev(t, prevJson)            // parsed before apply runs
//   next = await apply()             // a throw: abort(t), nothing else
//   out = commit(t, nextJson)        // validate, mask, diff, rows, event
//   (host store: append out.rows in one transaction, then settle(t, ok))
//
// commit() appends to the embedded store itself when there is no host store
// and then finishes the ticket; with a host store, settle() finishes it and
// publishes the event only when the append succeeded.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "engine/change.hpp"
#include "engine/clock.hpp"
#include "engine/delivery.hpp"
#include "engine/sequencer.hpp"
#include "engine/state_cache.hpp"
#include "json/value.hpp"
#include "schema/schema.hpp"
#include "secrets/secret_registry.hpp"
#include "store/memory_store.hpp"

namespace er {

struct EngineOptions {
  std::function<std::int64_t()> now;  // epoch ms; required
  std::array<std::uint64_t, 4> seed{};  // entropy for change ids
  std::size_t buffer_limit = 10000;
  std::function<void(const std::string&)> warn;
  bool host_store = false;  // true: rows go to the host, settle() publishes
  std::size_t retention_per_entity = 0;
  // Entities whose last committed state is kept to skip re-parsing it as the
  // next write's prev (0 disables the cache).
  std::size_t state_cache_entries = 4096;
  // The caller only serialises outcomes (write_outcome), which reads
  // change.next only when it was masked or normalised: commit may then move
  // an unchanged next into the prev cache instead of copying it, leaving
  // change.next empty in the returned outcome. (The WASM binding sets this.)
  bool outcome_next_unused = false;
  json::Limits limits;
};

struct MutationOptions {
  json::Value actor;   // null = SYSTEM_ACTOR
  std::string run_id;  // empty = not run-originated
};

struct CommitOutcome {
  bool changed = false;
  // The validated, unmasked next state, when validation normalised it
  // (stripped keys, defaults); otherwise the host's own value stands.
  std::optional<json::Value> normalized;
  bool masked_prev = false;  // change.prev differs from the host's prev
  bool normalized_prev = false;  // the schema stripped/filled the host's prev
  bool masked_next = false;  // change.next differs from the validated next
  // When masked_next: the validated next before masking (the state the
  // entity is now in, for the prev cache and a batch's next entry).
  std::optional<json::Value> unmasked_next;
  Change change;
  std::vector<TransitionRow> rows;  // host store: to append; else appended
  bool deliver_now = false;  // emitter wired: deliver; else it was buffered
  std::vector<std::uint32_t> subscribers;  // in-process handlers to run
  bool derived = false;  // triggers/payload computed natively
  std::vector<std::string> triggers;
  std::optional<json::Value> payload;
  std::vector<std::uint32_t> woken;  // tickets now free to run
};

struct NonReactiveDeclaration {
  std::string table, reason, note;
};

struct KindInfo {
  std::string kind;
  bool strict = false;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);

  // ---- kinds (SPEC §4)
  Result<void> define_kind(std::string_view kind, const json::Value& schema, bool strict = false);
  Result<void> define_kind(std::string_view kind, std::string_view schema_json, bool strict = false);
  bool has_kind(std::string_view kind) const;
  std::vector<std::string> kinds() const;
  Result<void> declare_non_reactive_state(std::string_view table, std::string_view reason, std::string_view note);
  const std::vector<NonReactiveDeclaration>& non_reactive_declarations() const { return non_reactive_; }

  // ---- the write pipeline (SPEC §5)
  // opts_json: "" or {"actor":{type,...},"runId":"..."}; ER_BAD_ARGUMENT otherwise.
  Result<MutationOptions> parse_options(std::string_view opts_json) const;
  Result<std::uint32_t> begin(std::string_view kind, std::string_view id, MutationOptions opts);
  // opts_json: "" or {"actor":{...},"runId":"..."}.
  Result<std::uint32_t> begin(std::string_view kind, std::string_view id, std::string_view opts_json);
  bool ready(std::uint32_t ticket) const { return sequencer_.ready(ticket); }
  // prev_json: "" when read returned nothing. On error the ticket is finished.
  Result<void> set_prev(std::uint32_t ticket, std::string_view prev_json);
  // next_json: "" for a removal (tombstone). On error the ticket is finished.
  Result<CommitOutcome> commit(std::uint32_t ticket, std::string_view next_json);
  // source_text: the JSON `next` was parsed from, if any (lets the next
  // write's identical prev skip parsing).
  Result<CommitOutcome> commit(std::uint32_t ticket, std::optional<json::Value> next,
                               std::string_view source_text = {});
  // Host store only: the append succeeded (publish) or failed (drop).
  Result<CommitOutcome> settle(std::uint32_t ticket, bool appended);
  // apply threw, or the host gave up: finish without any effect.
  std::vector<std::uint32_t> abort(std::uint32_t ticket);

  // ---- batch ingest (SPEC §9): all entries of one kind in one call.
  struct IngestEntry {
    std::string id;
    std::optional<json::Value> next;  // nullopt = tombstone
  };
  // Takes the line for every id; returns the ticket (use ready()).
  Result<std::uint32_t> begin_batch(std::string_view kind, const std::vector<std::string>& ids,
                                    MutationOptions opts);
  // prevs: id -> state as read now. Entries apply in order. All entries are
  // validated before anything is appended; one bad entry fails the batch.
  Result<std::vector<CommitOutcome>> commit_batch(std::uint32_t ticket, const json::Value& prevs,
                                                  std::vector<IngestEntry> entries);
  // Host store: the batch's rows were appended (or not).
  Result<std::vector<CommitOutcome>> settle_batch(std::uint32_t ticket, bool appended);

  // ---- reads over the transition log (embedded store)
  // The transition text of `field` in `state_json` ("" = entity absent -> nullopt).
  Result<std::optional<std::string>> field_text(std::string_view state_json, std::string_view field) const;
  std::optional<std::int64_t> in_state_since(std::string_view kind, std::string_view id, std::string_view field,
                                             std::string_view current_text) const;
  std::size_t transition_count(std::string_view kind, std::string_view id, std::string_view field,
                               std::int64_t window_ms) const;
  // No field: every field's rows.
  std::vector<TransitionRow> history(std::string_view kind, std::string_view id, std::optional<std::string_view> field,
                                     std::size_t limit) const;
  std::int64_t now() const { return options_.now(); }

  // ---- delivery (SPEC §6)
  EventBuffer& emitter() { return emitter_; }
  Subscriptions& subscriptions() { return subscriptions_; }
  DeriverRegistry& derivers() { return derivers_; }
  const DeriverRegistry& derivers() const { return derivers_; }
  secrets::SecretRegistry& secrets() { return secrets_; }

  // Parses a change event (as written by write_change) for derive/payload
  // calls on changes the host hands back.
  Result<Change> parse_change(std::string_view change_json) const;

  std::size_t pending_tickets() const { return sequencer_.pending(); }

 private:
  struct Kind {
    std::string name;
    schema::Schema schema;
    bool strict = false;
  };
  struct Pending {
    const Kind* kind = nullptr;
    std::string id;
    std::string key;  // WriteSequencer::key(kind, id)
    MutationOptions opts;
    bool has_prev_set = false;
    bool prev_normalized = false;
    std::optional<json::Value> prev;
    // host store: the outcome waiting for settle(), and the text next came
    // from (the prev cache takes it once the rows are appended)
    std::optional<CommitOutcome> outcome;
    std::string source_text;
    std::vector<CommitOutcome> batch_outcomes;
  };

  Result<json::Value> parse_state(std::string_view text, const Kind& kind, std::string_view id,
                                  std::string_view what) const;
  Result<CommitOutcome> build_outcome(const Kind& kind, std::string_view id, const MutationOptions& opts,
                                      std::optional<json::Value> prev, std::optional<json::Value> next,
                                      std::int64_t now);
  void publish(CommitOutcome& outcome);
  void remember(const Pending& p, CommitOutcome& outcome, std::string_view source_text);
  Error fail_ticket(std::uint32_t ticket, Error error);

  EngineOptions options_;
  std::map<std::string, std::unique_ptr<Kind>, std::less<>> kinds_;
  std::vector<NonReactiveDeclaration> non_reactive_;
  WriteSequencer sequencer_;
  std::unordered_map<std::uint32_t, Pending> pending_;
  MemoryTransitionStore store_;
  StateCache state_cache_;
  EventBuffer emitter_;
  Subscriptions subscriptions_;
  DeriverRegistry derivers_;
  secrets::SecretRegistry secrets_;
  UuidGenerator uuids_;
};

}  // namespace er
