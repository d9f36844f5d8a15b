// The engine's write path, replayed natively on the tapes bench.mjs records.
//
// ============================================================================
// THIS IS THE PART TO SWAP WHEN THE CORE'S WRITE API CHANGES.
// replay.cpp is the only bench file that calls the engine's write API
// (Engine::begin / set_prev / commit / write_outcome, begin_batch /
// commit_batch / write_outcomes, as bindings/entity_reactor.cpp drives them
// today). native_bench.cpp times these two functions and knows nothing else
// about the engine; parse_bench.cpp uses only er::json::parse.
// Keep the behaviour: one Replayer = one engine set up the way the JS bench
// sets up createEngine({ retentionPerEntity: 16, emit }) +
// registerCatalogEntities (both catalog kinds, native derivers, a wired
// emitter, 16 rows kept per entity, the run's secrets when given).
// ============================================================================
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace er_bench {

// One tape record: 4 lines (see native_bench.cpp for the tape format).
struct Record {
  std::string a, b, c, d;  // writes: id, opts, prev, next; ingest: ids, opts, prevs, entries
};

struct Secrets {
  std::string run_id;
  std::vector<std::string> values;
};

class Replayer {
 public:
  // secrets: registered for the run (masked), or nullptr.
  explicit Replayer(const Secrets* secrets);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // --- workload kind "write": update, noop, masked, createRemove ----------
  // One handle.mutate / handle.remove as the binding runs it, on the texts JS
  // sends (record: id, opts, prev, next; "" next = removal). Sets changed to
  // whether the write changed the entity. False on error (see error()).
  bool write(const Record& w, bool& changed);

  // --- workload kind "ingest" -----------------------------------------------
  // One engine.ingest call (record: ids, opts, prevs, entries texts).
  // Sets entries to the number of entries. False on error.
  bool ingest(const Record& rec, std::size_t& entries);

  const std::string& error() const;
  // Size of the last outcome text the write produced (for information).
  std::size_t outcome_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace er_bench
