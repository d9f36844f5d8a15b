// The embedded transition store (SPEC §5 step 6): one entity's rows back to
// back in one byte buffer, oldest first. Appending reuses the buffer, so a
// write allocates nothing once an entity's buffer has grown to hold its
// retained rows; dropping the oldest row moves a head offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace er {

// A row as queries return it (the caller knows its kind and entity).
struct TransitionRow {
  std::string field;
  std::optional<std::string> from_value;  // nullopt when there was no prev
  std::string to_value;
  std::int64_t transitioned_at = 0;  // epoch ms
};

class EntityLog {
 public:
  void append(std::string_view field, std::optional<std::string_view> from, std::string_view to, std::int64_t at);
  void drop_oldest();
  std::size_t rows() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Bytes the buffer holds (capacity).
  std::size_t footprint() const { return buf_.capacity(); }
  // Bytes the retained rows take.
  std::size_t bytes() const { return buf_.size() - head_; }
  void clear();

  // transitioned_at of the newest row of `field` whose to_value equals
  // `current`; nullopt when there is none.
  std::optional<std::int64_t> in_state_since(std::string_view field, std::string_view current) const;
  // Rows of `field` with transitioned_at >= since.
  std::size_t count_since(std::string_view field, std::int64_t since) const;
  // Newest first; no field = every field; limit 0 = no limit.
  std::vector<TransitionRow> history(std::optional<std::string_view> field, std::size_t limit) const;

 private:
  struct Header {
    std::uint32_t field_len;
    std::uint32_t from_len;  // kNoFrom: no prev
    std::uint32_t to_len;
    std::uint32_t pad;
    std::int64_t at;
  };
  static constexpr std::uint32_t kNoFrom = 0xFFFFFFFFu;
  struct View {
    std::string_view field;
    std::optional<std::string_view> from;
    std::string_view to;
    std::int64_t at;
    std::size_t size;  // bytes, header included
  };
  View view(std::size_t offset) const;
  // Offsets of the retained rows, oldest first.
  void offsets(std::vector<std::size_t>& out) const;

  std::string buf_;
  std::size_t head_ = 0;  // rows before head_ were dropped
  std::size_t count_ = 0;
};

}  // namespace er
