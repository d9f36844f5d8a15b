// The entity table (open addressing, backward-shift deletion, keyed by kind
// number + the id's exact bytes) and EntityLog, the embedded transition
// store of one entity (rows back to back in one buffer, oldest dropped by
// moving a head, compacted when half is dead).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/entities.hpp"
#include "store/transition_log.hpp"

using namespace er;

// ---------------------------------------------------------------- EntityTable

TEST(EntityTable, FindAddRemove) {
  EntityTable t;
  EXPECT_EQ(t.find(0, "a"), EntityTable::kNone);  // empty table
  EXPECT_EQ(t.size(), 0u);
  const std::uint32_t a = t.get_or_add(0, "a");
  EXPECT_EQ(t.get_or_add(0, "a"), a);  // present: the same record
  EXPECT_EQ(t.find(0, "a"), a);
  EXPECT_EQ(t.at(a).id, "a");
  EXPECT_EQ(t.at(a).kind, 0u);
  EXPECT_TRUE(t.at(a).live);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.find(0, "b"), EntityTable::kNone);
  t.remove(a);
  EXPECT_EQ(t.find(0, "a"), EntityTable::kNone);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.at(a).live);
  t.remove(a);  // twice: harmless
  EXPECT_EQ(t.size(), 0u);
  // A freed record is reused, clean.
  const std::uint32_t b = t.get_or_add(1, "b");
  EXPECT_EQ(b, a);
  EXPECT_EQ(t.at(b).id, "b");
  EXPECT_EQ(t.at(b).kind, 1u);
  EXPECT_EQ(t.at(b).token, 0u);
  EXPECT_TRUE(t.at(b).log.empty());
  EXPECT_TRUE(t.at(b).state.empty());
}

TEST(EntityTable, TheSameIdInTwoKindsIsTwoEntities) {
  EntityTable t;
  const std::uint32_t x0 = t.get_or_add(0, "x"), x1 = t.get_or_add(1, "x");
  EXPECT_NE(x0, x1);
  EXPECT_EQ(t.find(0, "x"), x0);
  EXPECT_EQ(t.find(1, "x"), x1);
  EXPECT_EQ(t.find(2, "x"), EntityTable::kNone);
  t.remove(x0);
  EXPECT_EQ(t.find(1, "x"), x1);
  EXPECT_EQ(t.find(0, "x"), EntityTable::kNone);
}

TEST(EntityTable, IdsAreComparedByEveryByte) {
  EntityTable t;
  const std::string ids[] = {"a",
                             std::string("a\0", 2),
                             std::string("a\0b", 3),
                             std::string("a\0c", 3),
                             std::string("\0", 1),
                             "",
                             std::string(8, '\0'),
                             std::string(9, '\0'),
                             "abcdefgh",
                             "abcdefghi",
                             "abcdefgh" + std::string("\0", 1),
                             "\xF0\x9F\x98\x80"};
  std::vector<std::uint32_t> index;
  for (const auto& id : ids) index.push_back(t.get_or_add(0, id));
  EXPECT_EQ(t.size(), std::size(ids));
  for (std::size_t i = 0; i < std::size(ids); ++i) {
    EXPECT_EQ(t.find(0, ids[i]), index[i]) << i;
    EXPECT_EQ(t.at(index[i]).id, ids[i]) << i;
  }
  std::vector<std::uint32_t> sorted = index;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
}

TEST(EntityTable, BackwardShiftDeletionKeepsEveryOtherEntryFindable) {
  // Many ids in a table at most half full: clusters form (and wrap around
  // the end of the slot array); removing from their middle must not cut a
  // later entry off from its home slot.
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    EntityTable t;
    std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> live;
    const int n = 50 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n; ++i) {
      const std::uint32_t kind = rng() % 3;
      std::string id = "id-" + std::to_string(rng() % 5000);
      const std::uint32_t at = t.get_or_add(kind, id);
      auto [it, added] = live.emplace(std::make_pair(kind, id), at);
      ASSERT_EQ(it->second, at);  // already there: the same record
      (void)added;
      // Interleave removals with additions.
      if (rng() % 3 == 0 && !live.empty()) {
        auto victim = live.begin();
        std::advance(victim, rng() % live.size());
        t.remove(victim->second);
        live.erase(victim);
      }
    }
    ASSERT_EQ(t.size(), live.size());
    for (const auto& [key, at] : live) ASSERT_EQ(t.find(key.first, key.second), at) << key.second;
    // Remove everything in a random order, checking the rest each time.
    std::vector<std::pair<std::uint32_t, std::string>> order;
    for (const auto& [key, at] : live) order.push_back(key);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i = 0; i < order.size(); ++i) {
      t.remove(live.at(order[i]));
      live.erase(order[i]);
      ASSERT_EQ(t.find(order[i].first, order[i].second), EntityTable::kNone);
      if (i % 97 == 0)
        for (const auto& [key, at] : live) ASSERT_EQ(t.find(key.first, key.second), at);
    }
    EXPECT_EQ(t.size(), 0u);
  }
}

TEST(EntityTable, GrowingKeepsIndicesStable) {
  EntityTable t;
  std::vector<std::uint32_t> index;
  for (int i = 0; i < 5000; ++i) index.push_back(t.get_or_add(7, "e" + std::to_string(i)));
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(t.find(7, "e" + std::to_string(i)), index[i]);
    ASSERT_EQ(t.at(index[i]).id, "e" + std::to_string(i));
  }
}

TEST(EntityTable, RemoveFreesTheRecordsContents) {
  EntityTable t;
  const std::uint32_t a = t.get_or_add(0, "a");
  ASSERT_TRUE(t.at(a).state.parse(R"({"big":"state"})").ok());
  t.at(a).log.append("f", std::nullopt, "v", 1);
  t.at(a).token = 9;
  t.remove(a);
  EXPECT_TRUE(t.at(a).state.empty());
  EXPECT_TRUE(t.at(a).log.empty());
  EXPECT_EQ(t.at(a).token, 0u);
  EXPECT_TRUE(t.at(a).id.empty());
}

// ---------------------------------------------------------------- EntityLog

TEST(EntityLog, HistoryIsNewestFirstWithFieldAndLimit) {
  EntityLog log;
  EXPECT_TRUE(log.empty());
  EXPECT_TRUE(log.history(std::nullopt, 0).empty());
  log.append("name", std::nullopt, "a", 10);
  log.append("meta", std::nullopt, "{}", 10);
  log.append("name", std::string_view("a"), "b", 20);
  log.append("", std::string_view(""), "", 30);  // empty field and texts are data
  EXPECT_EQ(log.rows(), 4u);
  auto all = log.history(std::nullopt, 0);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].field, "");
  EXPECT_EQ(all[0].from_value, std::optional<std::string>(""));
  EXPECT_EQ(all[1].field, "name");
  EXPECT_EQ(all[1].from_value, std::optional<std::string>("a"));
  EXPECT_EQ(all[1].to_value, "b");
  EXPECT_EQ(all[1].transitioned_at, 20);
  EXPECT_EQ(all[3].field, "name");
  EXPECT_FALSE(all[3].from_value.has_value());
  auto names = log.history(std::string_view("name"), 0);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].to_value, "b");
  EXPECT_EQ(log.history(std::string_view("name"), 1).size(), 1u);
  EXPECT_EQ(log.history(std::nullopt, 3).size(), 3u);
  EXPECT_EQ(log.history(std::string_view(""), 0).size(), 1u);
  EXPECT_TRUE(log.history(std::string_view("nope"), 0).empty());
}

TEST(EntityLog, InStateSinceAndCountSince) {
  EntityLog log;
  log.append("s", std::nullopt, "on", 100);
  log.append("s", std::string_view("on"), "off", 200);
  log.append("s", std::string_view("off"), "on", 300);
  log.append("t", std::nullopt, "on", 400);
  EXPECT_EQ(log.in_state_since("s", "on"), 300);  // the newest such row
  EXPECT_EQ(log.in_state_since("s", "off"), 200);
  EXPECT_EQ(log.in_state_since("s", "gone"), std::nullopt);
  EXPECT_EQ(log.in_state_since("u", "on"), std::nullopt);
  EXPECT_EQ(log.count_since("s", 200), 2u);  // since is inclusive
  EXPECT_EQ(log.count_since("s", 201), 1u);
  EXPECT_EQ(log.count_since("s", 0), 3u);
  EXPECT_EQ(log.count_since("t", 0), 1u);
}

TEST(EntityLog, RetentionDropsTheOldestAndCompacts) {
  EntityLog log;
  const std::string big(200, 'x');
  for (int i = 0; i < 100; ++i) {
    log.append("f", std::string_view(big), std::to_string(i), i);
    if (log.rows() > 8) log.drop_oldest();
    ASSERT_LE(log.rows(), 8u);
    // What is dropped is gone from every query.
    const auto rows = log.history(std::nullopt, 0);
    ASSERT_EQ(rows.size(), log.rows());
    ASSERT_EQ(rows.front().to_value, std::to_string(i));
    ASSERT_EQ(rows.back().to_value, std::to_string(std::max(0, i - 7)));
    ASSERT_EQ(log.count_since("f", 0), log.rows());
  }
  // Compaction bounds the buffer: about twice what the kept rows take, far
  // below the 100 rows appended (~23 KB).
  EXPECT_LE(log.bytes(), 8 * (big.size() + 64));
  EXPECT_LE(log.footprint(), 6 * 8 * (big.size() + 64));
  EXPECT_EQ(log.in_state_since("f", "92"), 92);
  EXPECT_EQ(log.in_state_since("f", "91"), std::nullopt);
}

TEST(EntityLog, DroppingEverythingEmptiesIt) {
  EntityLog log;
  log.drop_oldest();  // empty: harmless
  EXPECT_TRUE(log.empty());
  log.append("a", std::nullopt, "1", 1);
  log.append("b", std::nullopt, "2", 2);
  log.drop_oldest();
  EXPECT_EQ(log.rows(), 1u);
  EXPECT_EQ(log.history(std::nullopt, 0).front().field, "b");
  log.drop_oldest();
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(log.bytes(), 0u);
  log.append("c", std::nullopt, "3", 3);  // usable again
  EXPECT_EQ(log.history(std::nullopt, 0).front().to_value, "3");
  log.clear();
  EXPECT_TRUE(log.empty());
  EXPECT_TRUE(log.history(std::nullopt, 0).empty());
}

TEST(EntityLog, RowsOfEveryLengthReadBackExactly) {
  // Rows are padded to eight bytes; every length of field and texts must
  // come back intact, with binary bytes.
  EntityLog log;
  std::vector<TransitionRow> want;
  for (int n = 0; n < 40; ++n) {
    TransitionRow r;
    r.field = std::string(static_cast<std::size_t>(n % 11), static_cast<char>('a' + n % 26));
    if (n % 3) r.from_value = std::string(static_cast<std::size_t>(n % 7), '\0') + "f";
    r.to_value = std::string(static_cast<std::size_t>(n), static_cast<char>(0xF0 - n));
    r.transitioned_at = -n * 1000000000000LL;
    log.append(r.field, r.from_value ? std::optional<std::string_view>(*r.from_value) : std::nullopt, r.to_value,
               r.transitioned_at);
    want.push_back(r);
  }
  auto got = log.history(std::nullopt, 0);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const TransitionRow& w = want[want.size() - 1 - i];
    EXPECT_EQ(got[i].field, w.field);
    EXPECT_EQ(got[i].from_value, w.from_value);
    EXPECT_EQ(got[i].to_value, w.to_value);
    EXPECT_EQ(got[i].transitioned_at, w.transitioned_at);
  }
}
