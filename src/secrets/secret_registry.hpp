// Run-secret masking (SPEC §7): secrets resolved for a run are replaced by
// "****" wherever they occur. Aho-Corasick keeps the cost of masking linear
// in the text, whatever the number of secrets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "json/doc.hpp"
#include "json/value.hpp"

namespace er::secrets {

inline constexpr std::string_view kMask = "****";

// Multi-pattern matcher over bytes (UTF-8). Overlapping or nested matches
// are merged, so the longest match wins and no pattern survives in part
// ("abc" and "bcd" on "abcd" give "****"); matches that only touch are
// masked one by one ("abc" and "def" on "abcdef" give "********").
// Empty patterns are ignored, repeated ones count once. Immutable once
// built: the const methods may run on any thread.
//
// A pattern that contains '*' may still show in the output when kMask next
// to it completes it (patterns "**", or "a*" with "b" on "ab" -> "a****");
// real secrets are not made of asterisks.
class Matcher {
 public:
  explicit Matcher(const std::vector<std::string>& patterns);
  bool empty() const;
  // Appends `text` to `out` with every match replaced by kMask. Returns true
  // when at least one match was masked. Without a match, `text` is appended
  // as is and nothing else is allocated.
  bool mask(std::string_view text, std::string& out) const;
  // True when `text` contains any pattern.
  bool contains_any(std::string_view text) const;
  // True when any of texts[0, count) contains a pattern; scans four texts
  // at a time (the check over a state's many short strings).
  bool contains_any_of(const std::string_view* texts, std::size_t count) const;

 private:
  // Layout, encoding and sizing rationale: see secret_registry.cpp.
  // Calls on_match(begin, end) for the longest match ending at each end
  // offset, in increasing `end` order, until it returns false.
  template <typename OnMatch>
  void scan(std::string_view text, OnMatch&& on_match) const;
  // Transition of state `state` (an id, not encoded) on `byte`, encoded
  // like dense_.
  std::uint32_t next_by_id(std::uint32_t state, unsigned char byte) const;
  struct Walk;  // the scanning loops' view of the tables (secret_registry.cpp)

  std::uint32_t state_count_ = 0;                  // 0: no patterns
  std::uint32_t row_bytes_ = 0;                    // byte classes x sizeof(std::uint32_t)
  std::uint32_t dense_states_ = 0;                 // states [0, dense_states_) have a dense row
  std::uint32_t escape_ = 0;                       // >= dense_states_ * row_bytes_, a power of two
  std::array<std::uint16_t, 256> class_offset_{};  // byte class x sizeof(std::uint32_t)
  // Targets: a dense state that ends no pattern as the byte offset of its
  // row (< escape_), any other state s as escape_ + s.
  std::vector<std::uint32_t> dense_;
  std::vector<std::uint32_t> edge_begin_;   // sparse state s: edges [edge_begin_[s - dense_states_], next)
  std::vector<std::uint8_t> edge_byte_;     // sorted per state
  std::vector<std::uint32_t> edge_target_;  // encoded like dense_
  std::vector<std::uint32_t> fail_;         // failure link per state
  std::vector<std::uint32_t> longest_;      // longest pattern ending at a state (0: none)
};

class SecretRegistry {
 public:
  // Registers secret values for a run; empty strings are ignored, repeated
  // values count once. Registering more values for a run adds to them.
  void register_values(std::string_view run_id, const std::vector<std::string>& values);
  void link_step(std::string_view step_id, std::string_view run_id);
  // Forgets a run's secrets and every step linked to it.
  void drop(std::string_view run_id);

  bool has_run(std::string_view run_id) const;
  // Unknown runs/steps mask nothing (return the input unchanged).
  std::string mask_text(std::string_view run_id, std::string_view text) const;
  std::string mask_text_for_step(std::string_view step_id, std::string_view text) const;
  // Masks every string in `value` (object keys too: a secret must never
  // reach an event, and a key would carry it). Numbers, booleans and nulls
  // stay. Returns true when anything changed.
  bool mask_deep(std::string_view run_id, json::Value& value) const;
  bool mask_deep_for_step(std::string_view step_id, json::Value& value) const;

  // The matcher for a run, or nullptr when the run has no secrets. Valid
  // until the run's next register_values (that adds a value) or drop.
  const Matcher* matcher(std::string_view run_id) const;
  // The matcher of the run a step is linked to, or nullptr.
  const Matcher* step_matcher(std::string_view step_id) const;

 private:
  struct Run;
  // Transparent hashing: lookups by string_view allocate nothing.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  const Run* find_run(std::string_view run_id) const;
  const Run* find_step_run(std::string_view step_id) const;

  std::unordered_map<std::string, std::shared_ptr<Run>, KeyHash, std::equal_to<>> runs_;
  std::unordered_map<std::string, std::string, KeyHash, std::equal_to<>> step_to_run_;
};

// True when any string or key of the document node's subtree holds a pattern.
bool contains_any(const Matcher& matcher, const json::Doc& doc, std::uint32_t node);
// Appends the node as JSON with every string and key masked to `out` and
// returns true, when masking changes anything; otherwise returns false and
// leaves `out` as it was. Keys keep their order (a masked key may now sort
// elsewhere or repeat another): parse the text for a canonical document.
bool mask_doc(const Matcher& matcher, const json::Doc& doc, std::uint32_t node, std::string& out);

// Masks every string and key in `value` with `matcher`; true when changed.
// Only strings that change are reallocated. An object whose keys changed is
// re-sorted; when two keys mask to the same text ("k-ALPHA", "k-BRAVO" ->
// "k-****") one member is kept (the later one, as json::normalize_members
// does): losing a value beats leaking a secret.
bool mask_value(const Matcher& matcher, json::Value& value);

}  // namespace er::secrets
