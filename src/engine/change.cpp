#include "engine/change.hpp"

namespace er {

bool diff(DocRef prev, DocRef next, std::vector<FieldChange>& out) {
  out.clear();
  constexpr std::uint32_t kNone = json::Doc::kNone;
  bool same = true;  // no member is null on one side and absent on the other
  if (!next) {
    if (prev)
      for (std::uint32_t k = 0; k < prev.doc->size(prev.node); ++k)
        out.push_back(FieldChange{prev.doc->key(prev.node, k), prev.doc->value(prev.node, k), kNone});
    return same;
  }
  const json::Doc& b = *next.doc;
  const std::uint32_t nb = b.size(next.node);
  if (!prev) {
    for (std::uint32_t j = 0; j < nb; ++j) {
      const std::uint32_t v = b.value(next.node, j);
      if (!json::is_null(b, v))
        out.push_back(FieldChange{b.key(next.node, j), kNone, v});
      else
        same = false;
    }
    return same;
  }
  const json::Doc& a = *prev.doc;
  const std::uint32_t na = a.size(prev.node);
  // Both member lists are in key order: merge-walk the union of keys.
  std::uint32_t i = 0, j = 0;
  while (i < na || j < nb) {
    const std::string_view ka = i < na ? a.key(prev.node, i) : std::string_view();
    const std::string_view kb = j < nb ? b.key(next.node, j) : std::string_view();
    // Most keys are on both sides: equality first, then order.
    const bool both = i < na && j < nb && ka.size() == kb.size() && json::same_key(ka, kb);
    if (!both && (j == nb || (i < na && json::key_less(ka, kb)))) {
      const std::uint32_t v = a.value(prev.node, i);
      if (!json::is_null(a, v))
        out.push_back(FieldChange{ka, v, kNone});
      else
        same = false;
      ++i;
    } else if (!both) {
      const std::uint32_t v = b.value(next.node, j);
      if (!json::is_null(b, v))
        out.push_back(FieldChange{kb, kNone, v});
      else
        same = false;
      ++j;
    } else {
      const std::uint32_t va = a.value(prev.node, i), vb = b.value(next.node, j);
      if (!json::equal(a, va, b, vb)) out.push_back(FieldChange{ka, va, vb});
      ++i;
      ++j;
    }
  }
  return same;
}

}  // namespace er
