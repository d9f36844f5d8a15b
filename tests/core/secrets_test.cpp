// Run-secret masking (SPEC §7): the Aho-Corasick matcher against a naive
// oracle, and the registry's run/step bookkeeping.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "json/value.hpp"
#include "secrets/secret_registry.hpp"

namespace er::secrets {
namespace {

std::string masked(const std::vector<std::string>& secrets, std::string_view text) {
  Matcher m(secrets);
  std::string out;
  m.mask(text, out);
  return out;
}

// The reference semantics, by brute force: every occurrence of every
// pattern is a span; spans that overlap (share at least one byte) merge;
// each merged span becomes kMask. Touching spans stay separate.
std::string naive_mask(const std::vector<std::string>& secrets, std::string_view text) {
  struct Span {
    std::size_t begin, end;
  };
  std::vector<Span> spans;
  for (const std::string& s : secrets) {
    if (s.empty()) continue;
    for (std::size_t pos = text.find(s); pos != std::string_view::npos; pos = text.find(s, pos + 1)) {
      spans.push_back({pos, pos + s.size()});
    }
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> merged;
  for (const Span& s : spans) {
    if (!merged.empty() && s.begin < merged.back().end) {
      merged.back().end = std::max(merged.back().end, s.end);
    } else {
      merged.push_back(s);
    }
  }
  std::string out;
  std::size_t pos = 0;
  for (const Span& s : merged) {
    out.append(text.substr(pos, s.begin - pos));
    out.append(kMask);
    pos = s.end;
  }
  out.append(text.substr(pos));
  return out;
}

// ------------------------------------------------------------- Matcher

TEST(MatcherTest, SingleSecret) { EXPECT_EQ(masked({"hunter2"}, "password is hunter2, ok"), "password is ****, ok"); }

TEST(MatcherTest, MultipleOccurrences) {
  EXPECT_EQ(masked({"tok"}, "tok and tok and tok"), "**** and **** and ****");
  EXPECT_EQ(masked({"aa"}, "aaaa"), "****");  // overlapping occurrences merge
  EXPECT_EQ(masked({"aa"}, "aa-aa"), "****-****");
}

TEST(MatcherTest, OverlappingSecretsLongestWins) {
  EXPECT_EQ(masked({"abc", "abcdef"}, "xabcdefx"), "x****x");
  EXPECT_EQ(masked({"abcdef", "abc"}, "xabcdefx"), "x****x");
  EXPECT_EQ(masked({"abc", "bcd"}, "abcd"), "****");
  EXPECT_EQ(masked({"def", "abcdef"}, "abcdefg"), "****g");
}

TEST(MatcherTest, NestedSecrets) {
  EXPECT_EQ(masked({"bcd", "abcde"}, "xabcdex"), "x****x");
  EXPECT_EQ(masked({"c", "bcd", "abcde"}, "abcde"), "****");
  // A later, longer match swallows earlier separate spans.
  EXPECT_EQ(masked({"b", "c", "abcd"}, "abcd"), "****");
  EXPECT_EQ(masked({"b", "d", "abcde"}, "zabcdez"), "z****z");
}

TEST(MatcherTest, ChainedOverlaps) {
  EXPECT_EQ(masked({"abc", "cde", "efg"}, "abcdefg"), "****");
  EXPECT_EQ(masked({"abc", "cde", "efg"}, "_abcdefg_abc"), "_****_****");
  EXPECT_EQ(masked({"xy", "yz"}, "xyzxyz"), "********");  // xyz|xyz: touching, not overlapping
}

TEST(MatcherTest, AdjacentSecretsStaySeparate) {
  EXPECT_EQ(masked({"abc", "def"}, "abcdef"), "********");
  EXPECT_EQ(masked({"abc"}, "abcabc"), "********");
}

TEST(MatcherTest, SecretAtStartAndEnd) {
  EXPECT_EQ(masked({"key"}, "key"), "****");
  EXPECT_EQ(masked({"key"}, "key at start"), "**** at start");
  EXPECT_EQ(masked({"key"}, "at the end key"), "at the end ****");
  EXPECT_EQ(masked({"key"}, "ke"), "ke");
  EXPECT_EQ(masked({"key"}, ""), "");
}

TEST(MatcherTest, Utf8Secrets) {
  EXPECT_EQ(masked({"pässwörd"}, "my pässwörd: pässwörd!"), "my ****: ****!");
  EXPECT_EQ(masked({"🔑key🗝"}, "a🔑key🗝b"), "a****b");
  EXPECT_EQ(masked({"ö"}, "öäö"), "****ä****");
  // A secret sharing a lead byte with the text is not matched in part.
  EXPECT_EQ(masked({"pässwörd"}, "päss wörd pä"), "päss wörd pä");
  EXPECT_EQ(masked({"日本語"}, "これは日本語です"), "これは****です");
}

TEST(MatcherTest, EmptyAndDuplicatePatterns) {
  Matcher none({});
  EXPECT_TRUE(none.empty());
  Matcher empties({"", ""});
  EXPECT_TRUE(empties.empty());
  std::string out = "prefix:";
  EXPECT_FALSE(empties.mask("text", out));
  EXPECT_EQ(out, "prefix:text");
  EXPECT_FALSE(empties.contains_any("text"));

  Matcher dup({"s3cr3t", "", "s3cr3t"});
  EXPECT_FALSE(dup.empty());
  EXPECT_EQ(masked({"s3cr3t", "", "s3cr3t"}, "[s3cr3t]"), "[****]");
}

TEST(MatcherTest, NoMatchAppendsUnchanged) {
  Matcher m({"secret"});
  std::string out = "head|";
  EXPECT_FALSE(m.mask("nothing here, not even secre", out));
  EXPECT_EQ(out, "head|nothing here, not even secre");
  EXPECT_TRUE(m.mask("a secret", out));
  EXPECT_EQ(out, "head|nothing here, not even secrea ****");
}

TEST(MatcherTest, ContainsAny) {
  Matcher m({"abc", "xyz"});
  EXPECT_TRUE(m.contains_any("..abc.."));
  EXPECT_TRUE(m.contains_any("xyz"));
  EXPECT_FALSE(m.contains_any("ab xy bc yz"));
  EXPECT_FALSE(m.contains_any(""));
}

TEST(MatcherTest, AllByteValuesIncludingNul) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string nul_secret("a\0b", 3);
  std::vector<std::string> secrets = {all, nul_secret, "\xff\xfe"};
  std::string text = std::string("x") + all + "y" + nul_secret + "\xff\xfe";
  EXPECT_EQ(masked(secrets, text), "x****y********");
  EXPECT_EQ(masked(secrets, text), naive_mask(secrets, text));
}

// --------------------------------------------------- Property tests

// Random secrets never contain '*': the mask itself is made of '*', so a
// secret such as "**" (or "a*" next to a masked secret) could appear in the
// output without ever having been in the input. Such secrets are degenerate
// and excluded here.
std::string random_string(std::mt19937& rng, std::string_view alphabet, std::size_t min_len, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(min_len, max_len);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string s;
  const std::size_t n = len(rng);
  for (std::size_t i = 0; i < n; ++i) s.push_back(alphabet[pick(rng)]);
  return s;
}

// Text made of random runs, whole secrets and secret fragments.
std::string random_text(std::mt19937& rng, const std::vector<std::string>& secrets, std::string_view alphabet,
                        std::size_t target_len) {
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<std::size_t> which(0, secrets.size() - 1);
  std::string text;
  while (text.size() < target_len) {
    const int k = kind(rng);
    const std::string& s = secrets[which(rng)];
    if (k == 0) {
      text += s;
    } else if (k <= 2) {
      std::uniform_int_distribution<std::size_t> cut(0, s.size());
      const std::size_t a = cut(rng);
      const std::size_t b = cut(rng);
      text += s.substr(std::min(a, b), std::max(a, b) - std::min(a, b));
    } else {
      text += random_string(rng, alphabet, 1, 12);
    }
  }
  return text;
}

void check_against_oracle(const std::vector<std::string>& secrets, std::string_view alphabet, std::uint32_t seed,
                          int texts, std::size_t text_len) {
  std::mt19937 rng(seed);
  Matcher m(secrets);
  for (int t = 0; t < texts; ++t) {
    const std::string text = random_text(rng, secrets, alphabet, text_len);
    std::string out;
    const bool changed = m.mask(text, out);
    const std::string expected = naive_mask(secrets, text);
    ASSERT_EQ(out, expected) << "seed " << seed << " text #" << t << ": " << text;
    ASSERT_EQ(changed, expected != text);
    ASSERT_EQ(m.contains_any(text), changed);
    for (const std::string& s : secrets) {
      ASSERT_EQ(out.find(s), std::string::npos) << "secret survived: " << s;
    }
    ASSERT_FALSE(m.contains_any(out)) << out;
  }
}

TEST(MatcherPropertyTest, ThousandRandomAlphanumericSecrets) {
  constexpr std::string_view kAlnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937 rng(1234);
  std::vector<std::string> secrets;
  for (int i = 0; i < 1000; ++i) secrets.push_back(random_string(rng, kAlnum, 3, 24));
  check_against_oracle(secrets, std::string(kAlnum) + " \",:{}", 1, 300, 300);
}

TEST(MatcherPropertyTest, SmallAlphabetDenseOverlaps) {
  // Few letters: secrets overlap, nest and chain all the time.
  for (std::uint32_t seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> secrets;
    for (int i = 0; i < 12; ++i) secrets.push_back(random_string(rng, "abcd", 2, 7));
    check_against_oracle(secrets, "abcde", seed + 100, 50, 120);
  }
}

TEST(MatcherPropertyTest, DeepSparseStatesWithAllBytes) {
  // One secret holding all 256 byte values makes rows 256 wide, so only a
  // few hundred states get dense rows and the long "ab" secrets live in the
  // sparse part, with long failure chains inside it.
  std::string all;
  for (int b = 0; b < 256; ++b) {
    if (b != '*') all.push_back(static_cast<char>(b));
  }
  std::mt19937 rng(77);
  std::vector<std::string> secrets = {all};
  for (int i = 0; i < 400; ++i) secrets.push_back(random_string(rng, "ab", 6, 30));
  check_against_oracle(secrets, "abbc", 78, 200, 400);
}

TEST(MatcherPropertyTest, RandomUtf8Secrets) {
  const std::vector<std::string> pieces = {"ä", "ö", "ü", "ß", "é", "日", "本", "🔑", "🗝", "a", "b", "\xc3"};
  std::mt19937 rng(4242);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> len(1, 6);
  std::vector<std::string> secrets;
  for (int i = 0; i < 200; ++i) {
    std::string s;
    for (int n = len(rng); n > 0; --n) s += pieces[pick(rng)];
    secrets.push_back(s);
  }
  check_against_oracle(secrets, "abxy\xc3\xa4\xf0\x9f", 4343, 200, 200);
}

// Long texts are scanned as 2 or 4 interleaved segments that are stitched
// back together; these cover matches across the cuts, long partial matches
// that keep the stitching from converging, and every length around the
// thresholds.
TEST(MatcherStreamsTest, EveryLengthAndCutPosition) {
  const std::vector<std::string> secrets = {"abcab", "bca", "cc",
                                            "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcac"};
  std::mt19937 rng(5);
  Matcher m(secrets);
  for (std::size_t n = 0; n <= 300; ++n) {
    for (int rep = 0; rep < 8; ++rep) {
      // Mostly "abc" repeats (long partial matches), with random noise.
      std::string text;
      std::uniform_int_distribution<int> noise(0, 30);
      while (text.size() < n) {
        const int r = noise(rng);
        text += r == 0 ? 'c' : r == 1 ? 'x' : "abc"[text.size() % 3];
      }
      std::string out;
      const bool changed = m.mask(text, out);
      ASSERT_EQ(out, naive_mask(secrets, text)) << "n=" << n << " text=" << text;
      ASSERT_EQ(changed, out != text);
      ASSERT_EQ(m.contains_any(text), changed) << text;
    }
  }
}

TEST(MatcherStreamsTest, MatchStraddlingEachCut) {
  const std::string secret = "0123456789abcdef";
  Matcher m({secret});
  for (std::size_t n : {64u, 100u, 128u, 129u, 300u, 301u, 302u, 303u, 1000u}) {
    for (std::size_t pos = 0; pos + secret.size() <= n; ++pos) {
      std::string text(n, '.');
      text.replace(pos, secret.size(), secret);
      std::string expected = text;
      expected.replace(pos, secret.size(), kMask);
      std::string out;
      ASSERT_TRUE(m.mask(text, out)) << "n=" << n << " pos=" << pos;
      ASSERT_EQ(out, expected) << "n=" << n << " pos=" << pos;
      ASSERT_TRUE(m.contains_any(text)) << "n=" << n << " pos=" << pos;
    }
  }
}

TEST(MatcherStreamsTest, LongPartialMatchAcrossCuts) {
  // The true state stays deep in "aaaa..." across every cut while each
  // segment's stream restarts at the root: they never meet inside the sync
  // window and the true state must scan the segments itself.
  const std::string secret = std::string(400, 'a') + "b";
  Matcher m({secret, "aab"});
  const std::string plain(1000, 'a');
  std::string out;
  EXPECT_FALSE(m.mask(plain, out));
  EXPECT_EQ(out, plain);
  EXPECT_FALSE(m.contains_any(plain));

  const std::string hit = std::string(600, 'a') + "b" + std::string(300, 'a');
  out.clear();
  EXPECT_TRUE(m.mask(hit, out));
  EXPECT_EQ(out, std::string(200, 'a') + "****" + std::string(300, 'a'));
  EXPECT_EQ(out, naive_mask({secret, "aab"}, hit));

  // Only the short secret fits: the long one needs 400 'a's.
  const std::string short_hit = std::string(300, 'a') + "b";
  out.clear();
  EXPECT_TRUE(m.mask(short_hit, out));
  EXPECT_EQ(out, std::string(298, 'a') + "****");
}

TEST(MatcherStreamsTest, MatchesInEverySegment) {
  Matcher m({"KEY", "KEYS"});
  std::string text;
  std::string expected;
  for (int i = 0; i < 40; ++i) {
    text += i % 2 == 0 ? "..KEY..." : "..KEYS..";
    expected += i % 2 == 0 ? "..****..." : "..****..";
    if (i % 3 == 0) {
      text += "K";
      expected += "K";
    }
  }
  std::string out;
  EXPECT_TRUE(m.mask(text, out));
  EXPECT_EQ(out, expected);
}

// ------------------------------------------------------- mask_value

TEST(SecretMaskValueTest, MasksStringsAndKeysLeavesScalars) {
  auto parsed = json::parse(R"({"a":"x-TOKEN-y","n":42,"b":true,"z":null,)"
                            R"("nested":{"list":["TOKEN",1.5,false,null,{"deep":"TOKENTOKEN"}],"TOKEN-key":"v"},)"
                            R"("plain":"nothing"})");
  ASSERT_TRUE(parsed.ok());
  json::Value v = std::move(parsed.value());
  Matcher m({"TOKEN"});
  EXPECT_TRUE(mask_value(m, v));
  EXPECT_EQ(json::to_string(v), R"({"a":"x-****-y","b":true,"n":42,)"
                                R"("nested":{"****-key":"v","list":["****",1.5,false,null,{"deep":"********"}]},)"
                                R"("plain":"nothing","z":null})");
}

TEST(SecretMaskValueTest, UnchangedValueReportsFalse) {
  auto parsed = json::parse(R"({"a":"hello","b":[1,2,{"c":"world"}],"d":null})");
  ASSERT_TRUE(parsed.ok());
  json::Value v = std::move(parsed.value());
  const std::string before = json::to_string(v);
  Matcher m({"secret"});
  EXPECT_FALSE(mask_value(m, v));
  EXPECT_EQ(json::to_string(v), before);

  json::Value number(3.5);
  EXPECT_FALSE(mask_value(m, number));
  json::Value text("secret");
  EXPECT_TRUE(mask_value(m, text));
  EXPECT_EQ(text.as_string(), "****");
}

TEST(SecretMaskValueTest, UnchangedStringsKeepTheirBuffers) {
  json::Value v = json::Value::array();
  v.as_array().push_back(std::string(100, 'x'));
  v.as_array().push_back(std::string(100, 'y') + "SECRET");
  const char* untouched = v.as_array()[0].as_string().data();
  Matcher m({"SECRET"});
  EXPECT_TRUE(mask_value(m, v));
  EXPECT_EQ(v.as_array()[0].as_string().data(), untouched);
  EXPECT_EQ(v.as_array()[1].as_string(), std::string(100, 'y') + "****");
}

TEST(SecretMaskValueTest, MaskedKeysKeepObjectOrder) {
  // "zzSECRET" becomes "zz****", which sorts before "zzz": the object must
  // be re-sorted so lookups and canonical JSON stay right.
  json::Value v = json::Value::object();
  v.set("zzSECRET", 1);
  v.set("zza", 2);
  v.set("zzz", 3);
  Matcher m({"SECRET"});
  EXPECT_TRUE(mask_value(m, v));
  EXPECT_EQ(json::to_string(v), R"({"zz****":1,"zza":2,"zzz":3})");
  ASSERT_NE(v.find("zz****"), nullptr);
  EXPECT_EQ(v.find("zz****")->as_number(), 1);
  EXPECT_EQ(v.find("zzSECRET"), nullptr);
}

TEST(SecretMaskValueTest, CollidingMaskedKeysKeepOneMember) {
  // Two keys masking to the same text: one member survives (documented;
  // losing a value beats leaking a secret), and no secret remains.
  json::Value v = json::Value::object();
  v.set("k-ALPHA", "first");
  v.set("k-BRAVO", "second");
  Matcher m({"ALPHA", "BRAVO"});
  EXPECT_TRUE(mask_value(m, v));
  ASSERT_EQ(v.as_object().size(), 1u);
  EXPECT_EQ(v.as_object()[0].key, "k-****");
  EXPECT_EQ(v.as_object()[0].value.as_string(), "second");  // the later member
  const std::string text = json::to_string(v);
  EXPECT_EQ(text.find("ALPHA"), std::string::npos);
  EXPECT_EQ(text.find("BRAVO"), std::string::npos);
}

// Reference for mask_value: every string and key through naive_mask, objects
// rebuilt (sorted, later duplicate wins) by json::Value(Object).
json::Value naive_mask_value(const std::vector<std::string>& secrets, const json::Value& v) {
  switch (v.type()) {
    case json::Type::String:
      return json::Value(naive_mask(secrets, v.as_string()));
    case json::Type::Array: {
      json::Array items;
      for (const json::Value& item : v.as_array()) items.push_back(naive_mask_value(secrets, item));
      return json::Value(std::move(items));
    }
    case json::Type::Object: {
      json::Object members;
      for (const json::Member& m : v.as_object()) {
        members.push_back(json::Member{naive_mask(secrets, m.key), naive_mask_value(secrets, m.value)});
      }
      return json::Value(std::move(members));
    }
    default:
      return v;
  }
}

json::Value random_value(std::mt19937& rng, const std::vector<std::string>& secrets, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 0 ? 9 : 5);
  std::uniform_int_distribution<int> len(0, 40);
  switch (kind(rng)) {
    case 0:
      return json::Value(nullptr);
    case 1:
      return json::Value(static_cast<double>(rng() % 1000));
    case 2:
      return json::Value(rng() % 2 == 0);
    case 3:
    case 4:
    case 5: {
      const std::size_t n = static_cast<std::size_t>(len(rng));
      return json::Value(n == 0 ? std::string() : random_text(rng, secrets, "abcxyz", n));
    }
    case 6:
    case 7: {
      json::Array items;
      for (int i = static_cast<int>(rng() % 12); i > 0; --i) items.push_back(random_value(rng, secrets, depth - 1));
      return json::Value(std::move(items));
    }
    default: {
      json::Object members;
      for (int i = static_cast<int>(rng() % 12); i > 0; --i) {
        members.push_back(
            json::Member{random_text(rng, secrets, "abcxyz", 1 + rng() % 12), random_value(rng, secrets, depth - 1)});
      }
      return json::Value(std::move(members));
    }
  }
}

TEST(SecretMaskValueTest, RandomValuesAgainstOracle) {
  // Many strings per value: the check runs them four at a time in batches
  // of 32, so this covers lanes refilling, running dry and batch flushes.
  for (std::uint32_t seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> secrets;
    for (int i = 0; i < 6; ++i) secrets.push_back(random_string(rng, "abcxyz", 3, 7));
    Matcher m(secrets);
    for (int t = 0; t < 20; ++t) {
      json::Value v = random_value(rng, secrets, 4);
      const std::string before = json::to_string(v);
      const std::string expected = json::to_string(naive_mask_value(secrets, v));
      const bool changed = mask_value(m, v);
      ASSERT_EQ(json::to_string(v), expected) << "seed " << seed << ": " << before;
      ASSERT_EQ(changed, expected != before) << before;
    }
  }
}

TEST(SecretMaskValueTest, OneSecretAmongManyStrings) {
  // The secret sits in each position in turn among 100 strings of varied
  // lengths (so it lands in every lane, early, late and in a lane that
  // finishes alone).
  Matcher m({"SECRET"});
  for (std::size_t where = 0; where < 100; ++where) {
    json::Value v = json::Value::array();
    for (std::size_t i = 0; i < 100; ++i) {
      std::string s(i % 7 == 0 ? 90 : i % 5, 'x');
      if (i == where) s += "SECRET";
      v.as_array().push_back(s);
    }
    ASSERT_TRUE(mask_value(m, v)) << where;
    const std::string text = json::to_string(v);
    ASSERT_EQ(text.find("SECRET"), std::string::npos) << where;
    ASSERT_NE(text.find("****"), std::string::npos) << where;
  }
  json::Value clean = json::Value::array();
  for (std::size_t i = 0; i < 100; ++i) clean.as_array().push_back(std::string(i % 9, 'S'));
  EXPECT_FALSE(mask_value(m, clean));
}

// ----------------------------------------------------- SecretRegistry

TEST(SecretRegistryTest, UnknownRunMasksNothing) {
  SecretRegistry reg;
  EXPECT_FALSE(reg.has_run("nope"));
  EXPECT_EQ(reg.matcher("nope"), nullptr);
  EXPECT_EQ(reg.mask_text("nope", "secret text"), "secret text");
  json::Value v("secret");
  EXPECT_FALSE(reg.mask_deep("nope", v));
  EXPECT_EQ(v.as_string(), "secret");
}

TEST(SecretRegistryTest, ASecretThatMasksToTheSameTextIsNoChange) {
  // Found by fuzz_mask (seed corpus/mask/found_mask_same_text): "****"
  // holding the secret "**" masks to "****", and mask_deep said "changed".
  SecretRegistry reg;
  reg.register_values("run-1", {"**"});
  json::Value v = json::Value::object();
  v.set("a", "****");
  EXPECT_FALSE(reg.mask_deep("run-1", v));
  EXPECT_EQ(json::to_string(v), R"({"a":"****"})");
  v.set("b", "x**y");
  EXPECT_TRUE(reg.mask_deep("run-1", v));
  EXPECT_EQ(json::to_string(v), R"({"a":"****","b":"x****y"})");
}

TEST(SecretRegistryTest, MasksRegisteredValues) {
  SecretRegistry reg;
  reg.register_values("run-1", {"hunter2", "p@ss"});
  EXPECT_TRUE(reg.has_run("run-1"));
  ASSERT_NE(reg.matcher("run-1"), nullptr);
  EXPECT_EQ(reg.mask_text("run-1", "hunter2 / p@ss / other"), "**** / **** / other");
  // Runs are separate.
  reg.register_values("run-2", {"other"});
  EXPECT_EQ(reg.mask_text("run-1", "other"), "other");
  EXPECT_EQ(reg.mask_text("run-2", "hunter2 other"), "hunter2 ****");
}

TEST(SecretRegistryTest, EmptyValuesIgnoredAndDuplicatesCountOnce) {
  SecretRegistry reg;
  reg.register_values("run", {"", ""});
  EXPECT_TRUE(reg.has_run("run"));
  EXPECT_EQ(reg.matcher("run"), nullptr);  // no secrets: no matcher
  EXPECT_EQ(reg.mask_text("run", "anything"), "anything");

  reg.register_values("run", {"dup", "dup", ""});
  const Matcher* first = reg.matcher("run");
  ASSERT_NE(first, nullptr);
  reg.register_values("run", {"dup"});
  EXPECT_EQ(reg.matcher("run"), first);  // nothing new: matcher kept
  EXPECT_EQ(reg.mask_text("run", "dup-dup"), "****-****");
}

TEST(SecretRegistryTest, RegisteringMoreValuesExtendsTheRun) {
  SecretRegistry reg;
  reg.register_values("run", {"alpha"});
  EXPECT_EQ(reg.mask_text("run", "alpha beta"), "**** beta");
  reg.register_values("run", {"beta"});
  EXPECT_EQ(reg.mask_text("run", "alpha beta gamma"), "**** **** gamma");
  reg.register_values("run", {"alphabet"});  // longer overlapping value
  EXPECT_EQ(reg.mask_text("run", "alphabet"), "****");
}

TEST(SecretRegistryTest, StepMasking) {
  SecretRegistry reg;
  reg.register_values("run", {"s3cret"});
  reg.link_step("step-a", "run");
  reg.link_step("step-b", "run");
  reg.link_step("step-orphan", "no-such-run");
  EXPECT_EQ(reg.mask_text_for_step("step-a", "x s3cret"), "x ****");
  EXPECT_EQ(reg.mask_text_for_step("step-b", "s3cret"), "****");
  EXPECT_EQ(reg.mask_text_for_step("unknown-step", "s3cret"), "s3cret");
  EXPECT_EQ(reg.mask_text_for_step("step-orphan", "s3cret"), "s3cret");

  json::Value v = json::Value::array();
  v.as_array().push_back("s3cret");
  v.as_array().push_back(7);
  EXPECT_TRUE(reg.mask_deep_for_step("step-a", v));
  EXPECT_EQ(json::to_string(v), R"(["****",7])");
  json::Value w("s3cret");
  EXPECT_FALSE(reg.mask_deep_for_step("unknown-step", w));
  EXPECT_EQ(w.as_string(), "s3cret");

  // A step linked before its run registers picks the secrets up later.
  reg.link_step("step-early", "run-later");
  EXPECT_EQ(reg.mask_text_for_step("step-early", "late"), "late");
  reg.register_values("run-later", {"late"});
  EXPECT_EQ(reg.mask_text_for_step("step-early", "late"), "****");
}

TEST(SecretRegistryTest, DropForgetsRunAndItsSteps) {
  SecretRegistry reg;
  reg.register_values("run-1", {"one"});
  reg.register_values("run-2", {"two"});
  reg.link_step("s1", "run-1");
  reg.link_step("s2", "run-2");
  reg.drop("run-1");
  EXPECT_FALSE(reg.has_run("run-1"));
  EXPECT_EQ(reg.matcher("run-1"), nullptr);
  EXPECT_EQ(reg.mask_text("run-1", "one"), "one");
  EXPECT_EQ(reg.mask_text_for_step("s1", "one"), "one");
  // The other run and its step are untouched.
  EXPECT_EQ(reg.mask_text_for_step("s2", "two"), "****");
  // Re-registering the dropped run does not revive its old step links.
  reg.register_values("run-1", {"one"});
  EXPECT_EQ(reg.mask_text_for_step("s1", "one"), "one");
  EXPECT_EQ(reg.mask_text("run-1", "one"), "****");
  reg.drop("never-registered");  // harmless
}

TEST(SecretRegistryTest, MaskDeepOnNestedValue) {
  SecretRegistry reg;
  reg.register_values("run", {"pässwörd", "tok-123"});
  auto parsed =
      json::parse(R"({"metadata":{"creds":["pässwörd",{"tok-123":"tok-1234"}],"count":3,"on":false,"x":null}})");
  ASSERT_TRUE(parsed.ok());
  json::Value v = std::move(parsed.value());
  EXPECT_TRUE(reg.mask_deep("run", v));
  EXPECT_EQ(json::to_string(v), R"({"metadata":{"count":3,"creds":["****",{"****":"****4"}],"on":false,"x":null}})");
  EXPECT_FALSE(reg.mask_deep("run", v));  // idempotent
}

}  // namespace
}  // namespace er::secrets
