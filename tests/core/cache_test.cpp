// The prev cache: the state each entity's last write committed, named by a
// token, bounded in bytes (EngineOptions::state_cache_bytes), least recently
// used first out. A write may name its prev by that token (PrevSource::
// Cached) instead of sending its text; a token the cache no longer holds is
// a CacheMiss with no effect, and the JS layer sends the text instead.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/engine.hpp"
#include "engine_test_support.hpp"

using namespace er;
using namespace er::testing;

namespace {

std::string state(std::string_view name, std::string_view description = "null", std::string_view metadata = "{}") {
  return std::string(R"({"name":")") + std::string(name) + R"(","description":)" + std::string(description) +
         R"(,"metadata":)" + std::string(metadata) + "}";
}

EngineOptions with_budget(std::size_t bytes, bool host_store = true) {
  EngineOptions o = Harness::options(host_store);
  o.state_cache_bytes = bytes;
  return o;
}

// What the cache charges for one state like state("x").
std::size_t footprint_of_one() {
  Harness h;
  EXPECT_TRUE(h.write("x", "", state("x")).ok());
  return h.engine->cached_bytes();
}

// The JS layer's prev choice (js/src/engine.js + states.js): by token when
// read returned the object the engine committed last for the id (here: the
// host's text is the text that write committed), else the text; a
// CACHE_MISS crosses again with the text.
struct JsLike {
  Harness& h;
  std::map<std::string, std::pair<std::uint32_t, std::string>> committed;  // id -> token, text
  int misses = 0;

  Result<Outcome> mutate(const std::string& id, const std::optional<std::string>& host_prev,
                         const std::optional<std::string>& next, std::string_view run = "") {
    WriteEntry e;
    e.id = id;
    auto known = committed.find(id);
    if (host_prev && known != committed.end() && known->second.second == *host_prev) {
      e.prev = PrevSource::Cached;
      e.prev_token = known->second.first;
    } else if (host_prev) {
      e.prev = PrevSource::Text;
      e.prev_text = *host_prev;
    }
    if (next)
      e.next_text = *next;
    else
      e.remove = true;
    auto out = h.run(h.sys, {e}, run);
    if (out.ok() && out->cache_miss()) {
      ++misses;
      e.prev = PrevSource::Text;
      e.prev_text = *host_prev;
      out = h.run(h.sys, {e}, run);
      EXPECT_TRUE(!out.ok() || !out->cache_miss()) << "a text prev missed the cache";
    }
    if (!out.ok()) {
      committed.erase(id);  // apply ran: the host object may have changed
      return out;
    }
    if (!next || out->token == 0)
      committed.erase(id);
    else
      committed[id] = {out->token, out->next_text.value_or(*next)};
    return out;
  }
};

}  // namespace

TEST(PrevCache, ATokenNamesTheCommittedState) {
  Harness h;
  auto created = h.write("s1", "", state("a"));
  ASSERT_TRUE(created.ok());
  ASSERT_NE(created->token, 0u);
  EXPECT_GT(h.engine->cached_bytes(), 0u);
  auto update = h.run(h.sys, {cached_prev("s1", created->token, state("b"))});
  ASSERT_TRUE(update.ok());
  ASSERT_FALSE(update->cache_miss());
  EXPECT_EQ(update->fields, V({"name"}));
  EXPECT_NE(update->token, created->token);  // a new state, a new token
  auto rows = h.history("s1", "name");
  EXPECT_EQ(rows.front().from_value, std::optional<std::string>("a"));
  // No change with a cached prev keeps the token; with a text prev the
  // state is cached again under a new one.
  auto same = h.run(h.sys, {cached_prev("s1", update->token, state("b"))});
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed());
  EXPECT_EQ(same->token, update->token);
  auto same_text = h.write("s1", state("b"), state("b"));
  ASSERT_TRUE(same_text.ok());
  EXPECT_FALSE(same_text->changed());
  EXPECT_NE(same_text->token, 0u);
  EXPECT_NE(same_text->token, update->token);
  auto old = h.run(h.sys, {cached_prev("s1", update->token, state("c"))});
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->cache_miss());
}

TEST(PrevCache, UnknownIdsZeroAndStaleTokensMissWithNoEffect) {
  Harness h;
  auto created = h.write("s1", "", state("a"));
  ASSERT_TRUE(created.ok());
  const std::string b = state("b");
  for (const WriteEntry& e :
       {cached_prev("nobody", created->token, b), cached_prev("s1", 0, b), cached_prev("s1", created->token + 1, b)}) {
    auto out = h.run(h.sys, {e});
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(out->cache_miss());
    EXPECT_EQ(out->miss, 0u);
    EXPECT_TRUE(out->entries.empty());
  }
  EXPECT_EQ(h.history("s1").size(), 2u);
  EXPECT_TRUE(h.history("nobody").empty());
  auto still = h.run(h.sys, {cached_prev("s1", created->token, state("a"))});
  ASSERT_TRUE(still.ok());
  EXPECT_FALSE(still->cache_miss());
}

TEST(PrevCache, TheCacheHoldsTheValidatedState) {
  Harness h;
  auto created = h.write("s1", "", R"({"name":"a","description":null,"metadata":{},"junk":1})");
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(created->next_text.has_value());
  // The cached prev is the normalised state: no prev normalising, no change.
  auto same =
      h.run(h.sys, {cached_prev("s1", created->token, R"({"junk":2,"name":"a","description":null,"metadata":{}})")});
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->cache_miss());
  EXPECT_FALSE(same->changed());
  EXPECT_FALSE(same->has(wire::F_PREV_NORMALIZED));
}

TEST(PrevCache, ARemovalDropsTheState) {
  for (bool host : {false, true}) {
    Harness h(host);
    auto created = h.write("s1", "", state("a"));
    ASSERT_TRUE(created.ok());
    auto removed = h.run(h.sys, {removal(cached_prev("s1", created->token, ""))});
    ASSERT_TRUE(removed.ok());
    ASSERT_TRUE(removed->changed());
    EXPECT_EQ(removed->token, 0u);
    EXPECT_EQ(h.engine->cached_bytes(), 0u);
    // An entity with neither a cached state nor rows is freed.
    EXPECT_EQ(h.engine->entity_count(), host ? 0u : 1u);
    auto stale = h.run(h.sys, {cached_prev("s1", created->token, state("a"))});
    ASSERT_TRUE(stale.ok());
    EXPECT_TRUE(stale->cache_miss());
  }
}

TEST(PrevCache, EvictsTheLeastRecentlyUsedOverBudgetAndMissesThen) {
  const std::size_t one = footprint_of_one();
  ASSERT_GT(one, 0u);
  Harness h(with_budget(one * 2 + one / 2));
  auto a = h.write("a", "", state("a"));
  auto b = h.write("b", "", state("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(h.engine->cached_bytes(), 2 * one);
  // Using a makes b the least recently used.
  auto touch = h.run(h.sys, {cached_prev("a", a->token, state("a"))});
  ASSERT_TRUE(touch.ok());
  ASSERT_FALSE(touch->cache_miss());
  auto c = h.write("c", "", state("c"));
  ASSERT_TRUE(c.ok());
  EXPECT_LE(h.engine->cached_bytes(), one * 2 + one / 2);
  EXPECT_EQ(h.engine->entity_count(), 2u);  // b's entity freed (host store: no rows)
  auto miss = h.run(h.sys, {cached_prev("b", b->token, state("b2"))});
  ASSERT_TRUE(miss.ok());
  ASSERT_TRUE(miss->cache_miss());
  EXPECT_EQ(miss->miss, 0u);
  for (const auto& [id, token] : {std::pair<const char*, std::uint32_t>{"a", a->token}, {"c", c->token}}) {
    auto hit = h.run(h.sys, {cached_prev(id, token, state(id))});
    ASSERT_TRUE(hit.ok());
    EXPECT_FALSE(hit->cache_miss()) << id;
  }
  // The JS layer's retry: the text.
  auto retry = h.run(h.sys, {text_prev("b", state("b"), state("b2"))});
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->fields, V({"name"}));
  EXPECT_LE(h.engine->cached_bytes(), one * 2 + one / 2);
}

TEST(PrevCache, EvictionKeepsEntitiesThatHaveRows) {
  const std::size_t one = footprint_of_one();
  Harness h(with_budget(one, /*host_store=*/false));
  auto a = h.write("a", "", state("a"));
  auto b = h.write("b", "", state("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(h.engine->cached_bytes(), one);
  EXPECT_EQ(h.engine->entity_count(), 2u);  // a lost its cached state, not its log
  EXPECT_EQ(h.history("a").size(), 2u);
  auto miss = h.run(h.sys, {cached_prev("a", a->token, state("a"))});
  ASSERT_TRUE(miss.ok());
  EXPECT_TRUE(miss->cache_miss());
}

TEST(PrevCache, NothingIsEvictedWhileABatchCommits) {
  const std::size_t one = footprint_of_one();
  const std::size_t budget = one * 2 + one / 2;
  Harness h(with_budget(budget));
  auto a = h.write("a", "", state("a"));
  auto b = h.write("b", "", state("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  // c and d go over budget before a's and b's entries run: were anything
  // evicted mid-batch, their checked tokens would be gone.
  auto out = h.run(h.sys, {no_prev("c", state("c")), no_prev("d", state("d")), cached_prev("a", a->token, state("a2")),
                           cached_prev("b", b->token, state("b2"))});
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->cache_miss());
  ASSERT_EQ(out->size(), 4u);
  for (const Entry& e : out->entries) EXPECT_TRUE(e.changed());
  EXPECT_EQ((*out)[2].fields, V({"name"}));
  EXPECT_EQ((*out)[3].fields, V({"name"}));
  // After the batch the cache is back within budget: the last state kept,
  // the least recently used gone.
  EXPECT_LE(h.engine->cached_bytes(), budget);
  auto hit = h.run(h.sys, {cached_prev("b", (*out)[3].token, state("b2"))});
  ASSERT_TRUE(hit.ok());
  EXPECT_FALSE(hit->cache_miss());
  auto evicted = h.run(h.sys, {cached_prev("c", (*out)[0].token, state("c"))});
  ASSERT_TRUE(evicted.ok());
  EXPECT_TRUE(evicted->cache_miss());
}

TEST(PrevCache, AZeroBudgetCachesNothing) {
  Harness h(with_budget(0));
  auto a = h.write("a", "", state("a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->token, 0u);
  EXPECT_EQ(h.engine->cached_bytes(), 0u);
  EXPECT_EQ(h.engine->entity_count(), 0u);
  auto same = h.write("a", state("a"), state("a"));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->token, 0u);
  auto miss = h.run(h.sys, {cached_prev("a", 1, state("a"))});
  ASSERT_TRUE(miss.ok());
  EXPECT_TRUE(miss->cache_miss());
}

TEST(PrevCache, WritesThroughTheCacheDiffExactlyAsWithout) {
  // The same host writes, once as the JS layer sends them (tokens where it
  // can, under a budget of a few states) and once with every prev as text
  // into an engine without a cache: every outcome is the same.
  const std::size_t one = footprint_of_one();
  for (unsigned seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Harness cached(with_budget(one * 3));
    Harness plain(with_budget(0));
    for (Harness* h : {&cached, &plain}) h->engine->secrets().register_values("run", {"hunter2", "hunter3"});
    JsLike js{cached};
    std::map<std::string, std::string> host;  // the host's data
    std::mt19937 rng(seed);
    const std::string states[] = {
        state("a"),
        state("b", "\"d\""),
        R"({"metadata":{},"description":"d","name":"b"})",
        R"({"name":"b","description":"d","metadata":{},"junk":1})",
        state("c", "\"pw hunter2\"", R"({"k":[1,{"x":null}]})"),
        state("c", "null", R"({"k":[1]})"),
        state("c", "\"pw hunter3\"", R"({"k":[1,{"x":null}]})")};  // a change only inside a secret
    const char* ids[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 300; ++i) {
      const std::string id = ids[rng() % 4];
      const bool remove = rng() % 6 == 0;
      const std::string next = states[rng() % std::size(states)];
      const bool run = rng() % 2 == 0;
      std::optional<std::string> prev;
      if (auto it = host.find(id); it != host.end()) prev = it->second;
      auto x = js.mutate(id, prev, remove ? std::nullopt : std::optional<std::string>(next), run ? "run" : "");
      WriteEntry e = prev ? text_prev(id, *prev, next) : no_prev(id, next);
      if (remove) e = removal(e);
      auto y = plain.run(plain.sys, {e}, run ? "run" : "");
      ASSERT_TRUE(x.ok() && y.ok()) << i;
      ASSERT_FALSE(y->cache_miss());
      SCOPED_TRACE("write " + std::to_string(i) + " of " + id + ": " + (prev ? *prev : "<none>") + " -> " +
                   (remove ? "<removed>" : next));
      const Entry &a = (*x)[0], &b = (*y)[0];
      EXPECT_EQ(a.flags & ~wire::F_PREV_NORMALIZED, b.flags & ~wire::F_PREV_NORMALIZED);
      EXPECT_EQ(a.fields, b.fields);
      EXPECT_EQ(a.masked_prev, b.masked_prev);
      EXPECT_EQ(a.masked_next, b.masked_next);
      EXPECT_EQ(a.next_text, b.next_text);
      EXPECT_EQ(a.row_count, b.row_count);
      ASSERT_EQ(a.rows.size(), b.rows.size());
      for (std::size_t k = 0; k < a.rows.size(); ++k) {
        EXPECT_EQ(a.rows[k].from, b.rows[k].from);
        EXPECT_EQ(a.rows[k].to, b.rows[k].to);
      }
      if (remove)
        host.erase(id);
      else
        host[id] = next;
    }
    EXPECT_GT(js.misses, 0);  // the budget did evict
    EXPECT_LE(cached.engine->cached_bytes(), one * 3);
  }
}
