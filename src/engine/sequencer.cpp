#include "engine/sequencer.hpp"

#include <algorithm>

namespace er {

std::string WriteSequencer::key(std::string_view kind, std::string_view id) {
  std::string k;
  k.reserve(kind.size() + id.size() + 1);
  k.append(kind);
  k += '\0';  // kinds are non-empty strings; NUL cannot be confused with them
  k.append(id);
  return k;
}

std::uint32_t WriteSequencer::enqueue(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::uint32_t id = next_++;
  if (next_ == 0) next_ = 1;  // 0 means "none" to the binding
  Ticket t;
  for (const auto& k : keys) {
    auto& line = lines_[k];
    if (!line.empty()) ++t.waiting_on;
    line.push_back(id);
  }
  t.keys = std::move(keys);
  tickets_.emplace(id, std::move(t));
  return id;
}

bool WriteSequencer::ready(std::uint32_t ticket) const {
  auto it = tickets_.find(ticket);
  return it != tickets_.end() && it->second.waiting_on == 0;
}

bool WriteSequencer::known(std::uint32_t ticket) const { return tickets_.count(ticket) != 0; }

std::vector<std::uint32_t> WriteSequencer::finish(std::uint32_t ticket) {
  std::vector<std::uint32_t> woken;
  auto it = tickets_.find(ticket);
  if (it == tickets_.end()) return woken;
  Ticket t = std::move(it->second);
  tickets_.erase(it);
  for (const auto& k : t.keys) {
    auto line_it = lines_.find(k);
    if (line_it == lines_.end()) continue;
    auto& line = line_it->second;
    // A ticket may finish without running (aborted while waiting).
    const bool was_first = !line.empty() && line.front() == ticket;
    line.erase(std::find(line.begin(), line.end(), ticket));
    if (line.empty()) {
      lines_.erase(line_it);
      continue;
    }
    if (was_first) {
      auto& next = tickets_[line.front()];
      if (--next.waiting_on == 0) woken.push_back(line.front());
    }
  }
  return woken;
}

}  // namespace er
