#include "store/transition_log.hpp"

#include <cstring>

namespace er {

namespace {
constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }
}  // namespace

void EntityLog::append(std::string_view field, std::optional<std::string_view> from, std::string_view to,
                       std::int64_t at) {
  Header h{static_cast<std::uint32_t>(field.size()), from ? static_cast<std::uint32_t>(from->size()) : kNoFrom,
           static_cast<std::uint32_t>(to.size()), 0, at};
  const std::size_t body = field.size() + (from ? from->size() : 0) + to.size();
  // Appends (no zero-fill of the row's room first, as resize would).
  buf_.append(reinterpret_cast<const char*>(&h), sizeof h);
  buf_.append(field);
  if (from) buf_.append(*from);
  buf_.append(to);
  buf_.append(align8(body) - body, '\0');
  ++count_;
}

EntityLog::View EntityLog::view(std::size_t offset) const {
  Header h;
  std::memcpy(&h, buf_.data() + offset, sizeof h);
  const char* p = buf_.data() + offset + sizeof h;
  View v;
  v.field = std::string_view(p, h.field_len);
  p += h.field_len;
  if (h.from_len != kNoFrom) {
    v.from = std::string_view(p, h.from_len);
    p += h.from_len;
  }
  v.to = std::string_view(p, h.to_len);
  v.at = h.at;
  v.size = sizeof h + align8(h.field_len + (h.from_len == kNoFrom ? 0 : h.from_len) + h.to_len);
  return v;
}

void EntityLog::drop_oldest() {
  if (count_ == 0) return;
  head_ += view(head_).size;
  --count_;
  // Compact once the dropped prefix is as long as what is kept: amortised
  // O(1) per row, and the buffer's capacity stays for the next appends.
  // An emptied log gives its buffer back; a compacted one shrinks when it
  // holds more than twice its rows (what it holds is what the budget counts).
  if (count_ == 0) {
    std::string().swap(buf_);
    head_ = 0;
  } else if (head_ >= buf_.size() - head_) {
    std::memmove(buf_.data(), buf_.data() + head_, buf_.size() - head_);
    buf_.resize(buf_.size() - head_);
    head_ = 0;
    if (buf_.capacity() > 2 * buf_.size() + 256) buf_.shrink_to_fit();
  }
}

void EntityLog::clear() {
  buf_.clear();
  head_ = 0;
  count_ = 0;
}

void EntityLog::offsets(std::vector<std::size_t>& out) const {
  out.clear();
  for (std::size_t o = head_; o < buf_.size(); o += view(o).size) out.push_back(o);
}

std::optional<std::int64_t> EntityLog::in_state_since(std::string_view field, std::string_view current) const {
  std::vector<std::size_t> all;
  offsets(all);
  for (std::size_t i = all.size(); i-- > 0;) {
    const View v = view(all[i]);
    if (v.field == field && v.to == current) return v.at;
  }
  return std::nullopt;
}

std::size_t EntityLog::count_since(std::string_view field, std::int64_t since) const {
  std::size_t n = 0;
  for (std::size_t o = head_; o < buf_.size();) {
    const View v = view(o);
    if (v.field == field && v.at >= since) ++n;
    o += v.size;
  }
  return n;
}

std::vector<TransitionRow> EntityLog::history(std::optional<std::string_view> field, std::size_t limit) const {
  std::vector<TransitionRow> out;
  std::vector<std::size_t> all;
  offsets(all);
  for (std::size_t i = all.size(); i-- > 0;) {
    const View v = view(all[i]);
    if (field && v.field != *field) continue;
    TransitionRow r;
    r.field = std::string(v.field);
    if (v.from) r.from_value = std::string(*v.from);
    r.to_value = std::string(v.to);
    r.transitioned_at = v.at;
    out.push_back(std::move(r));
    if (limit != 0 && out.size() == limit) break;
  }
  return out;
}

}  // namespace er
