#include "boundary/wire.hpp"

#include <cstring>

namespace er::wire {

namespace {

constexpr std::size_t pad4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u32(std::uint32_t& v) {
    if (in_.size() - pos_ < 4) return false;
    std::memcpy(&v, in_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool bytes(std::uint32_t n, std::string_view& out) {
    if (in_.size() - pos_ < n) return false;
    out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  void align() { pos_ = std::min(pad4(pos_), in_.size()); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

Error truncated() { return make_error(Code::ER_BAD_ARGUMENT, "write input is truncated"); }

}  // namespace

Result<void> decode_write(std::string_view input, std::uint32_t count, WriteInput& out) {
  Reader r(input);
  out.entries.clear();
  std::uint32_t run_len = 0, actor_len = 0;
  if (!r.u32(run_len) || !r.u32(actor_len) || !r.bytes(run_len, out.run_id) || !r.bytes(actor_len, out.actor))
    return truncated();
  r.align();
  // Each entry takes at least its four words: a count the input cannot hold
  // is refused before anything is reserved for it.
  if (count > input.size() / (ENTRY_WORDS * 4)) return truncated();
  out.entries.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t id_len = 0, mode = 0, arg = 0, next_len = 0;
    if (!r.u32(id_len) || !r.u32(mode) || !r.u32(arg) || !r.u32(next_len)) return truncated();
    WriteEntry e;
    if (!r.bytes(id_len, e.id)) return truncated();
    switch (mode) {
      case PREV_NONE:
        e.prev = PrevSource::None;
        break;
      case PREV_CACHED:
        e.prev = PrevSource::Cached;
        e.prev_token = arg;
        break;
      case PREV_TEXT:
        e.prev = PrevSource::Text;
        if (!r.bytes(arg, e.prev_text)) return truncated();
        break;
      default:
        return make_error(Code::ER_BAD_ARGUMENT, "write input: unknown prev source " + std::to_string(mode));
    }
    if (next_len == REMOVE) {
      e.remove = true;
    } else if (!r.bytes(next_len, e.next_text)) {
      return truncated();
    }
    r.align();
    out.entries.push_back(e);
  }
  return Ok{};
}

void encode_write(std::string_view run_id, std::string_view actor, std::span<const WriteEntry> entries,
                  std::string& input) {
  input.clear();
  auto word = [&](std::uint32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);
    input.append(b, 4);
  };
  auto align = [&] { input.resize(pad4(input.size()), '\0'); };
  word(static_cast<std::uint32_t>(run_id.size()));
  word(static_cast<std::uint32_t>(actor.size()));
  input += run_id;
  input += actor;
  align();
  for (const WriteEntry& e : entries) {
    word(static_cast<std::uint32_t>(e.id.size()));
    const std::uint32_t mode = e.prev == PrevSource::Cached ? PREV_CACHED
                               : e.prev == PrevSource::Text ? PREV_TEXT
                                                            : PREV_NONE;
    word(mode);
    word(e.prev == PrevSource::Cached ? e.prev_token : static_cast<std::uint32_t>(e.prev_text.size()));
    word(e.remove ? REMOVE : static_cast<std::uint32_t>(e.next_text.size()));
    input += e.id;
    if (e.prev == PrevSource::Text) input += e.prev_text;
    if (!e.remove) input += e.next_text;
    align();
  }
}

void encode_records(const WriteResult& result, std::vector<std::uint32_t>& records) {
  records.assign(result.entries.size() * kRecordWords, 0);
  std::uint32_t* r = records.data();
  for (const EntryOutcome& o : result.entries) {
    std::uint32_t flags = 0;
    if (o.changed) flags |= F_CHANGED;
    if (o.next_normalized) flags |= F_NEXT_NORMALIZED;
    if (o.prev_normalized) flags |= F_PREV_NORMALIZED;
    if (o.prev_masked) flags |= F_PREV_MASKED;
    if (o.next_masked) flags |= F_NEXT_MASKED;
    if (o.actor_masked) flags |= F_ACTOR_MASKED;
    if (o.derived) flags |= F_DERIVED;
    r[R_FLAGS] = flags;
    r[R_TOKEN] = o.token;
    r[R_FIELD_BEGIN] = o.field_begin;
    r[R_FIELD_COUNT] = o.field_count;
    auto span = [&](std::uint32_t slot, TextSpan s) {
      r[slot] = s.offset;
      r[slot + 1] = s.length;
    };
    span(R_NEXT_TEXT, o.next_text);
    span(R_PREV_TEXT, o.prev_text);
    span(R_MASKED_PREV, o.masked_prev);
    span(R_MASKED_NEXT, o.masked_next);
    span(R_ACTOR, o.actor);
    span(R_DERIVED, o.derived_text);
    span(R_NAMES, o.names);
    span(R_ROWS, o.rows);
    r[R_ROW_COUNT] = o.row_count;
    const double at = static_cast<double>(o.at);
    std::memcpy(&r[R_AT], &at, sizeof at);
    std::memcpy(&r[R_IDS], o.change_id.data(), o.change_id.size());
    std::memcpy(reinterpret_cast<char*>(&r[R_IDS]) + o.change_id.size(), o.occurred_at.data(), o.occurred_at.size());
    r += kRecordWords;
  }
}

static_assert(kRecordWords * 4 >= R_IDS * 4 + UuidGenerator::kChars + kIsoChars, "IDS fits the record");

}  // namespace er::wire
