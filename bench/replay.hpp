// The engine's write path, replayed natively on the tapes bench.mjs records.
//
// ============================================================================
// THIS IS THE PART TO SWAP WHEN THE CORE'S WRITE API CHANGES.
// replay.cpp is the only bench file that calls the engine's write API. It
// does for each tape record what the package does for the same write:
// the JS layer's part that decides what crosses (prev by token when `read`
// returned the object the engine committed last — here: when the tape's
// prev text is the text that write committed —, else as text; a
// CACHE_MISS crosses again with text; the committed token and text kept per
// id) and wire::encode_write (js/src/wire.js), then exactly the binding's
// steps (bindings/entity_reactor.cpp, Core::write): wire::decode_write,
// Engine::write, wire::encode_records. native_bench.cpp times these two
// functions and knows nothing else about the engine; parse_bench.cpp uses
// only er::json::parse.
// Keep the behaviour: one Replayer = one engine set up the way the JS bench
// sets up createEngine({ retentionPerEntity: 16, emit }) +
// registerCatalogEntities (both catalog kinds, native derivers, 16 rows kept
// per entity, the package's default cache and log budgets, the run's
// secrets when given).
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
  // One handle.mutate / handle.remove as the package runs it, on the texts
  // JS sends (record: id, opts, prev, next; "" prev = absent, "" next =
  // removal). Sets changed to whether the write changed the entity. False
  // on error (see error()).
  bool write(const Record& w, bool& changed);

  // --- workload kind "ingest" -----------------------------------------------
  // One engine.ingest call as one batch (record: ids, opts, prevs, entries;
  // a repeated id's later entries get the previous entry's next as text).
  // Sets entries to the number of entries. False on error.
  bool ingest(const Record& rec, std::size_t& entries);

  const std::string& error() const;
  // Bytes the last call handed back across the boundary (records + texts),
  // for information.
  std::size_t outcome_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace er_bench
