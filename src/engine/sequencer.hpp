// Per-(kind, id) ordering of concurrent writes (SPEC §9). The core cannot
// await, so it hands out tickets: a ticket runs when it is first in line for
// every key it holds (a batch holds many keys); finishing a ticket returns
// the tickets that became runnable, for the binding layer to resume.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace er {

class WriteSequencer {
 public:
  // Takes a place in line for every key (duplicates ignored). Returns the
  // ticket; ready(ticket) tells whether it may run now.
  std::uint32_t enqueue(std::vector<std::string> keys);
  bool ready(std::uint32_t ticket) const;
  bool known(std::uint32_t ticket) const;
  // Leaves every line; returns tickets that are now first in all of theirs.
  std::vector<std::uint32_t> finish(std::uint32_t ticket);
  std::size_t pending() const { return tickets_.size(); }

  static std::string key(std::string_view kind, std::string_view id);

 private:
  struct Ticket {
    std::vector<std::string> keys;
    std::size_t waiting_on = 0;  // lines where it is not first
  };
  std::unordered_map<std::uint32_t, Ticket> tickets_;
  // Lines are short (usually one ticket): a vector, not a deque (libc++'s
  // deque allocates a 4 KB block per line, i.e. per write).
  std::unordered_map<std::string, std::vector<std::uint32_t>> lines_;
  std::uint32_t next_ = 1;
};

}  // namespace er
