#include "store/memory_store.hpp"

#include "engine/sequencer.hpp"

namespace er {

const MemoryTransitionStore::Entity* MemoryTransitionStore::find(std::string_view kind, std::string_view id) const {
  auto it = entities_.find(WriteSequencer::key(kind, id));
  return it == entities_.end() ? nullptr : &it->second;
}

Result<void> MemoryTransitionStore::append(std::vector<TransitionRow> rows) {
  // Nothing here can fail half-way: validate first, then push.
  for (const auto& r : rows) {
    // An empty field name is data: "" is a valid top-level key of a state.
    if (r.kind.empty() || r.entity_id.empty())
      return make_error(Code::ER_STORE, "transition row needs a kind and an entity id");
  }
  Entity* last = nullptr;  // rows of one append usually share their entity
  for (auto& r : rows) {
    if (!last || last->id != r.entity_id || last->kind != r.kind) last = &entities_[WriteSequencer::key(r.kind, r.entity_id)];
    Entity& e = *last;
    if (e.kind.empty()) {
      e.kind = r.kind;
      e.id = r.entity_id;
    }
    e.rows.push_back(Entry{std::move(r.field), std::move(r.from_value), std::move(r.to_value), r.transitioned_at});
    ++total_;
    if (retention_ != 0 && e.rows.size() - e.head > retention_) {
      ++e.head;
      --total_;
      // Compact once the dropped prefix is as long as what is kept.
      if (e.head >= retention_) {
        e.rows.erase(e.rows.begin(), e.rows.begin() + static_cast<std::ptrdiff_t>(e.head));
        e.head = 0;
      }
    }
  }
  return Ok{};
}

std::optional<std::int64_t> MemoryTransitionStore::in_state_since(std::string_view kind, std::string_view entity_id,
                                                                  std::string_view field,
                                                                  std::string_view current_value) const {
  const Entity* e = find(kind, entity_id);
  if (!e) return std::nullopt;
  for (std::size_t i = e->rows.size(); i-- > e->head;) {
    const auto& r = e->rows[i];
    if (r.field == field && r.to_value == current_value) return r.at;
  }
  return std::nullopt;
}

std::size_t MemoryTransitionStore::transition_count(std::string_view kind, std::string_view entity_id,
                                                    std::string_view field, std::int64_t window_ms,
                                                    std::int64_t now) const {
  const Entity* e = find(kind, entity_id);
  if (!e) return 0;
  const std::int64_t since = now - window_ms;
  std::size_t n = 0;
  for (std::size_t i = e->head; i < e->rows.size(); ++i) {
    const auto& r = e->rows[i];
    if (r.field == field && r.at >= since) ++n;
  }
  return n;
}

std::vector<TransitionRow> MemoryTransitionStore::history(std::string_view kind, std::string_view entity_id,
                                                          std::optional<std::string_view> field,
                                                          std::size_t limit) const {
  std::vector<TransitionRow> out;
  const Entity* e = find(kind, entity_id);
  if (!e) return out;
  for (std::size_t i = e->rows.size(); i-- > e->head;) {
    const auto& r = e->rows[i];
    if (field && r.field != *field) continue;
    out.push_back(TransitionRow{e->kind, e->id, r.field, r.from_value, r.to_value, r.at});
    if (limit != 0 && out.size() == limit) break;
  }
  return out;
}

}  // namespace er
