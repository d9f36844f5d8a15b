// The boundary codec (src/boundary/wire.{def,hpp,cpp}): the write input
// js/src/wire.js encodes and decode_write reads, and the fixed-size records
// encode_records writes for readEntry. Layouts are checked word by word;
// the engine tests (engine_test_support.hpp) run every write through both.
#include "boundary/wire.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine_test_support.hpp"

using namespace er;
using namespace er::testing;

namespace {

std::uint32_t word_at(const std::string& bytes, std::size_t offset) {
  EXPECT_LE(offset + 4, bytes.size());
  return read_u32(bytes.data() + offset);
}

void expect_same(const std::vector<WriteEntry>& got, const std::vector<WriteEntry>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("entry " + std::to_string(i));
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].prev, want[i].prev);
    EXPECT_EQ(got[i].remove, want[i].remove);
    if (want[i].prev == PrevSource::Cached) EXPECT_EQ(got[i].prev_token, want[i].prev_token);
    if (want[i].prev == PrevSource::Text) EXPECT_EQ(got[i].prev_text, want[i].prev_text);
    if (!want[i].remove) EXPECT_EQ(got[i].next_text, want[i].next_text);
  }
}

}  // namespace

TEST(WireFormat, ConstantsHangTogether) {
  EXPECT_EQ(wire::ENTRY_WORDS, 4u);  // what encode_write writes per entry before its bytes
  // Header slots: distinct words inside the header; VALUE an f64 (8-aligned, two words).
  const std::uint32_t header[] = {wire::H_STATUS,        wire::H_COUNT,         wire::H_RECORDS, wire::H_FIELDS,
                                  wire::H_TEXTS,         wire::H_TEXTS_LENGTH,  wire::H_MISS,    wire::H_ERROR_CODE,
                                  wire::H_ERROR_MESSAGE, wire::H_ERROR_PATH,    wire::H_VALUE,   wire::H_VALUE + 1,
                                  wire::H_INPUT,         wire::H_INPUT_CAPACITY};
  std::set<std::uint32_t> header_words(std::begin(header), std::end(header));
  EXPECT_EQ(header_words.size(), std::size(header));
  EXPECT_LT(*header_words.rbegin(), wire::kHeaderWords);
  EXPECT_EQ(wire::H_VALUE % 2, 0u);
  // Flags are distinct bits.
  const std::uint32_t flags[] = {wire::F_CHANGED,     wire::F_NEXT_NORMALIZED, wire::F_PREV_NORMALIZED,
                                 wire::F_PREV_MASKED, wire::F_NEXT_MASKED,     wire::F_ACTOR_MASKED,
                                 wire::F_DERIVED};
  std::uint32_t all = 0;
  for (std::uint32_t f : flags) {
    EXPECT_EQ(f & (f - 1), 0u) << f;
    EXPECT_EQ(all & f, 0u) << f;
    all |= f;
  }
  // Record slots: spans take two words, AT two (an f64, 8-aligned), IDS 60 bytes; none overlap.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> slots = {
      {wire::R_FLAGS, 1},     {wire::R_TOKEN, 1},     {wire::R_FIELD_BEGIN, 1}, {wire::R_FIELD_COUNT, 1},
      {wire::R_NEXT_TEXT, 2}, {wire::R_PREV_TEXT, 2}, {wire::R_MASKED_PREV, 2}, {wire::R_MASKED_NEXT, 2},
      {wire::R_ACTOR, 2},     {wire::R_DERIVED, 2},   {wire::R_NAMES, 2},       {wire::R_ROWS, 2},
      {wire::R_ROW_COUNT, 1}, {wire::R_AT, 2},        {wire::R_IDS, 15}};
  std::set<std::uint32_t> used;
  for (const auto& [slot, words] : slots)
    for (std::uint32_t w = slot; w < slot + words; ++w) EXPECT_TRUE(used.insert(w).second) << "word " << w;
  EXPECT_LE(*used.rbegin(), wire::kRecordWords - 1);
  EXPECT_EQ(wire::R_AT % 2, 0u);
  EXPECT_EQ(wire::REMOVE, 0xFFFFFFFFu);
  EXPECT_EQ(wire::NO_VALUE, WriteResult::kNoValue);
  EXPECT_EQ(wire::NO_VALUE, WriteResult::kUnlisted);
  EXPECT_NE(wire::PREV_NONE, wire::PREV_CACHED);
  EXPECT_NE(wire::PREV_CACHED, wire::PREV_TEXT);
}

TEST(WireInput, LayoutWordByWord) {
  WriteEntry text = text_prev("ab", "x", "yz");
  WriteEntry cached = removal(cached_prev("c", 77, ""));
  std::string in;
  wire::encode_write("r", "{}", std::vector<WriteEntry>{text, cached}, in);
  // run id and actor lengths, their bytes, padded to a word
  EXPECT_EQ(word_at(in, 0), 1u);
  EXPECT_EQ(word_at(in, 4), 2u);
  EXPECT_EQ(in.substr(8, 3), "r{}");
  EXPECT_EQ(in[11], '\0');
  // entry 0 at 12: id length, PREV_TEXT, prev length, next length, then bytes
  EXPECT_EQ(word_at(in, 12), 2u);
  EXPECT_EQ(word_at(in, 16), wire::PREV_TEXT);
  EXPECT_EQ(word_at(in, 20), 1u);
  EXPECT_EQ(word_at(in, 24), 2u);
  EXPECT_EQ(in.substr(28, 5), "abxyz");
  EXPECT_EQ(in.substr(33, 3), std::string(3, '\0'));
  // entry 1 at 36: a cached prev carries its token, a removal REMOVE
  EXPECT_EQ(word_at(in, 36), 1u);
  EXPECT_EQ(word_at(in, 40), wire::PREV_CACHED);
  EXPECT_EQ(word_at(in, 44), 77u);
  EXPECT_EQ(word_at(in, 48), wire::REMOVE);
  EXPECT_EQ(in.substr(52, 1), "c");
  EXPECT_EQ(in.size(), 56u);
  // No run: two zero words.
  wire::encode_write("", "", std::vector<WriteEntry>{no_prev("i", "{}")}, in);
  EXPECT_EQ(word_at(in, 0), 0u);
  EXPECT_EQ(word_at(in, 4), 0u);
  EXPECT_EQ(word_at(in, 8), 1u);
  EXPECT_EQ(word_at(in, 12), wire::PREV_NONE);
  EXPECT_EQ(word_at(in, 16), 0u);
  EXPECT_EQ(word_at(in, 20), 2u);  // next length
  EXPECT_EQ(in.substr(24, 3), "i{}");
  EXPECT_EQ(in.size(), 28u);
}

TEST(WireInput, RoundTripsEveryShapeOfEntry) {
  std::mt19937 rng(99);
  std::vector<std::string> storage;
  storage.reserve(4000);
  auto text = [&](std::size_t n) -> std::string_view {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    storage.push_back(std::move(s));
    return storage.back();
  };
  wire::WriteInput out;
  for (int round = 0; round < 200; ++round) {
    std::vector<WriteEntry> entries;
    const std::size_t n = rng() % 6;
    for (std::size_t i = 0; i < n; ++i) {
      WriteEntry e;
      e.id = text(rng() % 9);
      switch (rng() % 3) {
        case 0:
          e.prev = PrevSource::None;
          break;
        case 1:
          e.prev = PrevSource::Cached;
          e.prev_token = static_cast<std::uint32_t>(rng());
          break;
        default:
          e.prev = PrevSource::Text;
          e.prev_text = text(rng() % 13);
          break;
      }
      e.remove = rng() % 4 == 0;
      if (!e.remove) e.next_text = text(rng() % 13);
      entries.push_back(e);
    }
    const std::string_view run = text(rng() % 6), actor = text(rng() % 6);
    std::string in;
    wire::encode_write(run, actor, entries, in);
    EXPECT_EQ(in.size() % 4, 0u);
    out.entries.push_back(WriteEntry{});  // decode replaces what the input held
    auto r = wire::decode_write(in, static_cast<std::uint32_t>(entries.size()), out);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(out.run_id, run);
    EXPECT_EQ(out.actor, actor);
    expect_same(out.entries, entries);
    // Views into the input, not copies.
    for (const WriteEntry& e : out.entries) {
      EXPECT_GE(e.id.data(), in.data());
      EXPECT_LE(e.id.data() + e.id.size(), in.data() + in.size());
    }
    // Fewer entries than encoded: the first ones.
    if (!entries.empty()) {
      ASSERT_TRUE(wire::decode_write(in, static_cast<std::uint32_t>(entries.size() - 1), out).ok());
      expect_same(out.entries, std::vector<WriteEntry>(entries.begin(), entries.end() - 1));
    }
  }
}

TEST(WireInput, TruncatedInputIsAnErrorNeverARead) {
  const std::string prev = "{\"a\":1}", next = "{\"a\":22}";
  std::vector<WriteEntry> entries = {text_prev("id-1", prev, next), cached_prev("id", 5, next),
                                     removal(no_prev("x", ""))};
  std::string in;
  wire::encode_write("run", "{\"type\":\"user\"}", entries, in);
  wire::WriteInput out;
  ASSERT_TRUE(wire::decode_write(in, 3, out).ok());
  // The last entry's payload ends here; only its padding follows.
  const std::size_t payload_end = in.size() - 3;
  for (std::size_t cut = 0; cut < in.size(); ++cut) {
    // A copy of exactly `cut` bytes, so ASan sees any read past it.
    const std::unique_ptr<char[]> bytes(new char[cut == 0 ? 1 : cut]);
    std::memcpy(bytes.get(), in.data(), cut);
    auto r = wire::decode_write(std::string_view(bytes.get(), cut), 3, out);
    if (cut >= payload_end) {
      ASSERT_TRUE(r.ok()) << "cut " << cut;  // the padding of the last entry may be missing
      expect_same(out.entries, entries);
      continue;
    }
    ASSERT_FALSE(r.ok()) << "cut " << cut;
    EXPECT_EQ(r.error().code, Code::ER_BAD_ARGUMENT);
    EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  }
  // More entries than the input holds.
  auto more = wire::decode_write(in, 4, out);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().code, Code::ER_BAD_ARGUMENT);
  // Lengths that run past the end.
  std::string bad = in;
  const std::uint32_t huge = 0xFFFFFF00u;
  std::memcpy(bad.data() + 28, &huge, 4);  // entry 0's id length
  ASSERT_FALSE(wire::decode_write(bad, 3, out).ok());
  bad = in;
  std::memcpy(bad.data(), &huge, 4);  // the run id's length
  ASSERT_FALSE(wire::decode_write(bad, 3, out).ok());
}

TEST(WireInput, UnknownPrevSourceIsAnError) {
  std::string in;
  wire::encode_write("", "", std::vector<WriteEntry>{no_prev("a", "{}")}, in);
  const std::uint32_t seven = 7;
  std::memcpy(in.data() + 12, &seven, 4);
  wire::WriteInput out;
  auto r = wire::decode_write(in, 1, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::ER_BAD_ARGUMENT);
  EXPECT_NE(r.error().message.find("unknown prev source 7"), std::string::npos) << r.error().message;
}

TEST(WireRecords, EveryFieldOfTheRecord) {
  EngineOptions o = Harness::options(/*host_store=*/true);
  Harness h(o);
  ASSERT_TRUE(
      h.engine->derivers()
          .add_native(
              "sys", "t", [](const ChangeView&, std::vector<std::string_view>& out) { out.push_back("t"); }, nullptr)
          .ok());
  h.engine->secrets().register_values("run", {"hunter2"});
  const std::string junk = R"({"name":"hunter2","description":null,"metadata":{},"junk":1})";
  const std::string plain = R"({"name":"p","description":null,"metadata":{}})";
  const std::string created = R"({"name":"c","description":"hunter2","metadata":{"x":1}})";
  std::vector<WriteEntry> entries = {no_prev("new", created), text_prev("same", plain, plain),
                                     text_prev("norm", junk, plain), removal(text_prev("gone", plain, ""))};
  std::string in;
  wire::encode_write("run", R"({"type":"user","name":"hunter2"})", entries, in);
  wire::WriteInput input;
  ASSERT_TRUE(wire::decode_write(in, 4, input).ok());
  WriteContext ctx;
  ctx.kind = h.sys;
  ctx.run_id = input.run_id;
  ctx.actor = input.actor;
  ctx.now = 1700000000123;
  auto r = h.engine->write(ctx, input.entries);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const WriteResult& res = **r;
  ASSERT_EQ(res.entries.size(), 4u);
  std::vector<std::uint32_t> records(3, 0xDEADBEEF);  // replaced, not appended to
  wire::encode_records(res, records);
  ASSERT_EQ(records.size(), 4 * wire::kRecordWords);
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE("entry " + std::to_string(i));
    const EntryOutcome& o = res.entries[i];
    const std::uint32_t* w = records.data() + i * wire::kRecordWords;
    const std::uint32_t flags = (o.changed ? wire::F_CHANGED : 0) | (o.next_normalized ? wire::F_NEXT_NORMALIZED : 0) |
                                (o.prev_normalized ? wire::F_PREV_NORMALIZED : 0) |
                                (o.prev_masked ? wire::F_PREV_MASKED : 0) | (o.next_masked ? wire::F_NEXT_MASKED : 0) |
                                (o.actor_masked ? wire::F_ACTOR_MASKED : 0) | (o.derived ? wire::F_DERIVED : 0);
    EXPECT_EQ(w[wire::R_FLAGS], flags);
    EXPECT_EQ(w[wire::R_TOKEN], o.token);
    EXPECT_EQ(w[wire::R_FIELD_BEGIN], o.field_begin);
    EXPECT_EQ(w[wire::R_FIELD_COUNT], o.field_count);
    const std::pair<std::uint32_t, TextSpan> spans[] = {{wire::R_NEXT_TEXT, o.next_text},
                                                        {wire::R_PREV_TEXT, o.prev_text},
                                                        {wire::R_MASKED_PREV, o.masked_prev},
                                                        {wire::R_MASKED_NEXT, o.masked_next},
                                                        {wire::R_ACTOR, o.actor},
                                                        {wire::R_DERIVED, o.derived_text},
                                                        {wire::R_NAMES, o.names},
                                                        {wire::R_ROWS, o.rows}};
    for (const auto& [slot, span] : spans) {
      EXPECT_EQ(w[slot], span.offset) << "slot " << slot;
      EXPECT_EQ(w[slot + 1], span.length) << "slot " << slot;
    }
    EXPECT_EQ(w[wire::R_ROW_COUNT], o.row_count);
    double at;
    std::memcpy(&at, w + wire::R_AT, sizeof at);
    EXPECT_EQ(at, static_cast<double>(o.at));
    const char* ids = reinterpret_cast<const char*>(w + wire::R_IDS);
    EXPECT_EQ(std::string(ids, 36), std::string(o.change_id.data(), 36));
    EXPECT_EQ(std::string(ids + 36, 24), std::string(o.occurred_at.data(), 24));
  }
  // What each entry decided, as the record shows it.
  const std::uint32_t* created_rec = records.data();
  EXPECT_EQ(created_rec[wire::R_FLAGS], wire::F_CHANGED | wire::F_NEXT_MASKED | wire::F_ACTOR_MASKED | wire::F_DERIVED);
  EXPECT_EQ(res.text(res.entries[0].masked_next), R"({"description":"****","metadata":{"x":1},"name":"c"})");
  EXPECT_EQ(res.text(res.entries[0].actor), R"({"name":"****","type":"user"})");
  EXPECT_EQ(res.text(res.entries[0].derived_text), R"({"triggers":["t"]})");
  double at;
  std::memcpy(&at, created_rec + wire::R_AT, sizeof at);
  EXPECT_EQ(at, 1700000000123.0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(created_rec + wire::R_IDS) + 36, 24), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(created_rec[wire::R_ROW_COUNT], 3u);
  // An unchanged entry: no change bit, a token, no fields, rows, time or
  // ids (readEntry reads nothing else of it).
  const std::uint32_t* same = records.data() + wire::kRecordWords;
  EXPECT_EQ(same[wire::R_FLAGS] & wire::F_CHANGED, 0u);
  EXPECT_NE(same[wire::R_TOKEN], 0u);
  EXPECT_EQ(same[wire::R_FIELD_COUNT], 0u);
  EXPECT_EQ(same[wire::R_ROW_COUNT], 0u);
  for (std::uint32_t k = wire::R_AT; k < wire::kRecordWords; ++k) EXPECT_EQ(same[k], 0u) << "word " << k;
  // A normalised prev and a masked prev of the entry that changed the name.
  const std::uint32_t* norm = records.data() + 2 * wire::kRecordWords;
  EXPECT_EQ(norm[wire::R_FLAGS],
            wire::F_CHANGED | wire::F_PREV_NORMALIZED | wire::F_PREV_MASKED | wire::F_ACTOR_MASKED | wire::F_DERIVED);
  EXPECT_EQ(res.text(res.entries[2].prev_text), R"({"description":null,"metadata":{},"name":"hunter2"})");
  EXPECT_EQ(res.text(res.entries[2].masked_prev), R"({"description":null,"metadata":{},"name":"****"})");
  // A tombstone: changed, no rows, no token.
  const std::uint32_t* gone = records.data() + 3 * wire::kRecordWords;
  EXPECT_EQ(gone[wire::R_FLAGS] & wire::F_CHANGED, wire::F_CHANGED);
  EXPECT_EQ(gone[wire::R_ROW_COUNT], 0u);
  EXPECT_EQ(gone[wire::R_TOKEN], 0u);
  EXPECT_EQ(gone[wire::R_FIELD_COUNT], 3u);
  // Field indices: FIELDS[begin, begin + count) in the kind's field list.
  EXPECT_EQ(std::vector<std::uint32_t>(res.fields.begin() + gone[wire::R_FIELD_BEGIN],
                                       res.fields.begin() + gone[wire::R_FIELD_BEGIN] + gone[wire::R_FIELD_COUNT]),
            (std::vector<std::uint32_t>{0, 1, 2}));
  // An empty result: no records.
  WriteResult empty;
  wire::encode_records(empty, records);
  EXPECT_TRUE(records.empty());
}
