// The change a write decided (SPEC §2) as the core sees it, and the diff
// that produces it (§3), over parsed documents.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "json/doc.hpp"

namespace er {

// A node of a document; no document = no state.
struct DocRef {
  const json::Doc* doc = nullptr;
  std::uint32_t node = 0;
  explicit operator bool() const { return doc != nullptr; }
};

// A change event's members that derivers and payload mappers read.
struct ChangeView {
  std::string_view kind;
  std::string_view id;
  DocRef prev;  // none on create
  DocRef next;  // none on a tombstone
  std::span<const std::string_view> changed_fields;
};

// One changed top-level field: its name and its value nodes on each side
// (json::Doc::kNone where the field is absent or the side has no state).
struct FieldChange {
  std::string_view name;
  std::uint32_t prev;
  std::uint32_t next;
};

// Top-level diff in key order (SPEC §3): the union of both sides' fields (a
// missing side is {}), a field absent on one side and null on the other is
// unchanged. A tombstone (no next) lists every field of prev. Returns false
// when such a null/absent pair was passed over: no change, yet the two
// documents differ (the prev cache must then keep next, not prev).
bool diff(DocRef prev, DocRef next, std::vector<FieldChange>& out);

}  // namespace er
