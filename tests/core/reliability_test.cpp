// Regression tests for what the fuzzers (tests/fuzz/) and reviews found.
//
// FuzzRegression.*: found by the fuzz targets before the core's redesign.
// PortRegression.*: bugs in the redesigned core found while porting the
// tests and fuzz targets to it (each test failed, or crashed under
// AddressSanitizer, until 4aefe70 fixed it; the comment says what it was).
// A bug found after the port is a PortRegression too, its comment saying
// what it was and what fixed it.
#include <gtest/gtest.h>

#include "boundary/wire.hpp"
#include "engine/engine.hpp"
#include "engine_test_support.hpp"
#include "json/doc.hpp"
#include "schema/schema.hpp"

using namespace er;
using namespace er::testing;

namespace {
std::string state(std::string_view name, std::string_view description = "null") {
  return std::string(R"({"name":")") + std::string(name) + R"(","description":)" + std::string(description) +
         R"(,"metadata":{}})";
}
}  // namespace

// Found by fuzz_pipeline: a state with an empty top-level key ("" is a valid
// JavaScript property) made the embedded store refuse the transition row
// (ER_STORE after the host's write), while a host store took it.
TEST(FuzzRegression, AnEmptyTopLevelKeyIsAFieldLikeAnyOther) {
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  auto out = h.write(loose, "a", "", R"({"":false,"n":1})");
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->fields, V({"", "n"}));
  EXPECT_EQ(h.engine->history(loose, "a", std::nullopt, 0).size(), 2u);
  auto again = h.write(loose, "a", R"({"":false,"n":1})", R"({"":true,"n":1})");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->fields, V({""}));
  EXPECT_EQ(h.engine->history(loose, "a", std::nullopt, 0).size(), 3u);
  EXPECT_EQ(h.engine->in_state_since(loose, "a", "", "true"), std::optional<std::int64_t>(h.clock));
}

// Found by fuzz_pipeline: ingest diffed against the raw read state while
// mutate normalises it first, so a stored key that the schema strips showed
// up as a change (a spurious event and transition row) in a batch only.
TEST(FuzzRegression, IngestNormalisesTheReadPrevLikeMutate) {
  Harness h;
  const std::string stored = R"({"name":"a","description":null,"metadata":{},"legacy":1})";
  const std::string clean = state("a");
  auto single = h.write("a", stored, clean);
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single->changed());
  auto out = h.run(h.sys, {text_prev("a", stored, clean), removal(text_prev("b", stored, ""))});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 2u);
  EXPECT_FALSE((*out)[0].changed());
  ASSERT_TRUE((*out)[1].changed());
  EXPECT_EQ((*out)[1].fields, V({"description", "metadata", "name"}));  // not "legacy"
  // The normalised prev travels to JavaScript (it differs from the read).
  ASSERT_TRUE((*out)[1].prev_text.has_value());
  EXPECT_EQ(*(*out)[1].prev_text, R"({"description":null,"metadata":{},"name":"a"})");
  EXPECT_TRUE(h.history("a").empty());
}

// Found by the schema property "a validated state validates again": allOf
// was checked before $ref and anyOf/oneOf normalised the state, so a branch
// that filled a default (or kept extra keys) could hand back a state that
// breaks the allOf — validation accepted what it then rejected.
TEST(FuzzRegression, AllOfHoldsForTheNormalisedState) {
  auto schema = J(R"({"type":"object","allOf":[{"maxProperties":1}],
    "anyOf":[{"properties":{"a":{"default":1}},"additionalProperties":true}]})");
  auto compiled = schema::Schema::compile(schema, "k");
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  json::Value two = J(R"({"b":2})");
  auto r = compiled->validate(two, "k", "i");
  ASSERT_FALSE(r.ok()) << "accepted " << S(two);
  EXPECT_EQ(r.error().code, Code::ER_SCHEMA);
  EXPECT_NE(r.error().message.find("at most 1"), std::string::npos) << r.error().message;
  json::Value one = J(R"({"a":5})");
  auto ok = compiled->validate(one, "k", "i");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(S(one), R"({"a":5})");
  json::Value empty = J("{}");
  ASSERT_TRUE(compiled->validate(empty, "k", "i").ok());
  EXPECT_EQ(S(empty), R"({"a":1})");
  json::Value again = empty;
  auto second = compiled->validate(again, "k", "i");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  // The document check cannot see the branch's default without
  // normalising: it sends the state down the tree path (true), where
  // validate rejects it — and so does a write.
  json::Doc doc;
  ASSERT_TRUE(doc.parse(R"({"b":2})").ok());
  auto checked = compiled->check(doc, json::Doc::root(), "k", "i");
  ASSERT_TRUE(!checked.ok() || checked.value());
  Harness h;
  const std::uint32_t kind = h.kind("k", S(schema));
  auto write = h.write(kind, "i", "", R"({"b":2})");
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().message, r.error().message);
}

// ---------------------------------------------------------------- found porting to the redesigned core

// Engine::commit_entry, no-change path: with a Cached prev, the cache kept
// the old state and the entry reported its old token. When masking made the
// diff empty (prev and next differ only inside a run secret) the host's
// state did change, and the JS layer remembers the returned token for its
// new object (js/src/engine.js: states.remember(id, next, out.token, …)).
// The next write then diffed against the state before: it reported a
// change of description from "secret-a" to "secret-b" although read and
// apply both return "secret-b" (and appended that row).
// Fixed: the no-change path keeps the cached state only when masking hid
// nothing or the unmasked next equals it; otherwise it caches next (a new
// token), as the Text path does.
TEST(PortRegression, AMaskedNoOpCachesTheNewerState) {
  Harness h;
  h.engine->secrets().register_values("r", {"secret-a", "secret-b"});
  auto created = h.write("s1", "", state("x", "\"secret-a\""));
  ASSERT_TRUE(created.ok());
  auto masked = h.run(h.sys, {cached_prev("s1", created->token, state("x", "\"secret-b\""))}, "r");
  ASSERT_TRUE(masked.ok());
  ASSERT_FALSE(masked->cache_miss());
  EXPECT_FALSE(masked->changed());  // right: the change is only inside a secret
  // The state now cached is the one apply returned: a new token.
  EXPECT_NE(masked->token, created->token);
  // JS: read returns the object apply returned (secret-b), named by the token.
  auto again = h.run(h.sys, {cached_prev("s1", masked->token, state("x", "\"secret-b\""))});
  ASSERT_TRUE(again.ok());
  ASSERT_FALSE(again->cache_miss());
  EXPECT_FALSE(again->changed()) << "a write that changes nothing reported a change of "
                                 << ::testing::PrintToString(again->fields);
  EXPECT_EQ(h.history("s1", "description").size(), 1u);  // only the create's row
}

// Engine::write checked every Cached token before anything takes effect,
// but against the cache as it was before the batch: an entry naming the
// token of an entity that an earlier entry of the same batch removed passed
// the check, and commit_entry then read a released state (embedded store:
// an empty Doc, null buffers) or entities_.at(kNone) (host store: the
// entity was freed) — a crash. The JS layer never sends this (a repeated id gets
// the previous entry's next as text), but the wire accepts it and the
// engine must not crash on what the wire accepts (SPEC §9).
// Fixed: the pre-check treats a Cached entry whose id appears earlier in
// the batch as a CacheMiss (miss = that entry), before anything takes effect.
TEST(PortRegression, ABatchEntryNamingATokenAnEarlierEntryWroteMisses) {
  for (bool host : {true, false}) {
    SCOPED_TRACE(host ? "host store" : "embedded store");
    Harness h(host);
    auto created = h.write("a", "", state("a"));
    ASSERT_TRUE(created.ok());
    const std::size_t rows = h.history("a").size();
    auto out =
        h.run(h.sys, {removal(cached_prev("a", created->token, "")), cached_prev("a", created->token, state("b"))});
    ASSERT_TRUE(!out.ok() || out->cache_miss()) << "the second entry's token names a state the first removed";
    if (out.ok()) EXPECT_EQ(out->miss, 1u);
    EXPECT_EQ(h.history("a").size(), rows);
  }
}

// wire::decode_write reserved `count` entries before it read any: a count
// the input cannot hold (each entry takes at least 16 bytes) allocated
// count × sizeof(WriteEntry) — std::bad_alloc natively, an abort in the
// WASM build (-fno-exceptions) — instead of ER_BAD_ARGUMENT. (The JS layer
// passes entries.length, so only a caller of the native API or a corrupted
// call reaches it.)
// Fixed: a count the input cannot hold (four words per entry) is refused
// before anything is reserved.
TEST(PortRegression, DecodeWriteRejectsACountTheInputCannotHold) {
  std::string in;
  wire::encode_write("", "", std::vector<WriteEntry>{no_prev("a", "{}")}, in);
  wire::WriteInput out;
  auto r = wire::decode_write(in, 0xFFFFFFFFu, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::ER_BAD_ARGUMENT);
}

// json::equal over documents compared numbers with ==, so a non-finite
// number (what "1e400" parses to) differed from null and -Infinity from
// Infinity, although all three print "null" — the documented contract is
// "true iff their canonical forms are equal", and json::equal over trees
// (and json::equal(Doc, Value)'s tree side) treats them alike. The diff
// therefore reported {"a":1e400} -> {"a":null} as a change whose row reads
// "null" -> "null", and Schema::check (documents) could reject a state
// Schema::validate (trees) accepts ({"enum":[null]} against 1e400).
// JSON.stringify never writes such numbers, so the JS layer cannot send
// them; the native API and the wire can.
// Fixed: json::is_null treats a non-finite number as null, in equality and
// in the diff.
TEST(PortRegression, DocEqualityAgreesWithCanonicalTextForNonFiniteNumbers) {
  auto doc = [](std::string_view text) {
    auto d = std::make_unique<json::Doc>();
    EXPECT_TRUE(d->parse(text).ok());
    return d;
  };
  auto inf = doc("1e400"), minus_inf = doc("-1e400"), null = doc("null");
  EXPECT_EQ(json::to_string(*inf), "null");
  EXPECT_TRUE(json::equal(*inf, 0, *null, 0));
  EXPECT_TRUE(json::equal(*inf, 0, *minus_inf, 0));
  EXPECT_TRUE(json::equal(*inf, 0, json::Value(nullptr)));
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  auto out = h.write(loose, "a", R"({"a":1e400,"b":1})", R"({"a":null,"b":1})");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed()) << ::testing::PrintToString(out->fields);
}

// json::Doc's parser sized its node buffer for valid JSON — "at most one
// node per two bytes ("[0,0]")" — and wrote nodes without a bound check.
// Malformed text breaks the bound: "[[[[[[[[[[" writes a node per byte
// before the parser finds the missing ']' (and "[{\"\":[{\"\":..." three per
// five bytes), up to ~130 nodes (2 KB) past the buffer: a heap overflow
// (found by fuzz_json; AddressSanitizer reports it here, a release build
// corrupted the heap silently). JSON.stringify never produces such text, so
// the JS layer cannot send it; the native API, the wire and catalog::call
// can (SPEC §9: malformed JSON gets a clear error).
// Fixed: the tape is sized for malformed text too.
TEST(PortRegression, ParsingMalformedJsonStaysInsideTheTape) {
  const std::string texts[] = {std::string(200, '['), std::string(40, '[') + "{}]]\xF0\x9F", [] {
                                 std::string t;
                                 for (int i = 0; i < 60; ++i) t += "[{\"\":";
                                 return t;
                               }()};
  for (const std::string& text : texts) {
    json::Doc d;
    auto r = d.parse(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::ER_BAD_JSON);
    EXPECT_TRUE(d.empty());
  }
  Harness h;
  auto out = h.write("a", "", std::string(100, '['));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_BAD_JSON);
}

// Engine::commit_entry, no-change path over a cached prev: when masking hid
// nothing, the engine keeps its cached document and token without
// comparing it with next — but top-level null and absent are alike to the
// diff (SPEC §3), so the two may differ: {"a":"zz","b":null} then
// {"a":"zz"} is no change, the cache keeps the document with "b":null, and
// the JS layer remembers that token for its object {"a":"zz"}. A later run
// write named by that token then shows the event's masked prev as
// {"a":"****","b":null}: a member the state before the write (SPEC §2)
// never had. (Diff and rows are unaffected.)
// Fixed: diff() says when it passed over a null/absent pair, and the cache
// keeps its document only when it did not (or the documents are equal).
TEST(PortRegression, AMaskedPrevIsTheStateTheTokenNamed) {
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  h.engine->secrets().register_values("r", {"zz"});
  auto created = h.write(loose, "x", "", R"({"a":"zz","b":null})");
  ASSERT_TRUE(created.ok());
  // JS: read returned the object it committed; apply returns {"a":"zz"}.
  auto same = h.run(loose, {cached_prev("x", created->token, R"({"a":"zz"})")});
  ASSERT_TRUE(same.ok());
  ASSERT_FALSE(same->changed());
  // JS now remembers same->token for {"a":"zz"}, and a run writes over it.
  auto run = h.run(loose, {cached_prev("x", same->token, R"({"a":"zz","c":1})")}, "r");
  ASSERT_TRUE(run.ok());
  ASSERT_FALSE(run->cache_miss());
  ASSERT_TRUE(run->masked_prev.has_value());
  EXPECT_EQ(*run->masked_prev, R"({"a":"****"})");
}
