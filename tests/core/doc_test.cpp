// json::Doc, the flat tape document of the write path: parsing (strict RFC
// 8259, limits, errors), the tape (nodes, subtrees, key order), canonical
// output and its fast paths, structural equality, conversion to a tree and
// the copies a cache keeps.
#include "json/doc.hpp"

#include "js_number_cases.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using er::Code;
namespace json = er::json;
using json::Doc;

namespace {

Doc parse_ok(std::string_view text, const json::Limits& limits = {}) {
  Doc d;
  auto r = d.parse(text, limits);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return d;
}

std::string canon(std::string_view text) {
  Doc d = parse_ok(text);
  return d.empty() ? "<empty>" : json::to_string(d);
}

Code parse_code(std::string_view text, const json::Limits& limits = {}) {
  Doc d;
  auto r = d.parse(text, limits);
  EXPECT_FALSE(r.ok()) << text;
  EXPECT_TRUE(d.empty()) << "a failed parse leaves a document behind";
  return r.ok() ? Code::ER_CLOSED : r.error().code;
}

// Valid UTF-8 to UTF-16 code units (the order JavaScript sorts keys in).
std::u16string utf16(std::string_view s) {
  std::u16string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    unsigned cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      out += static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10));
      out += static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

std::vector<std::string> keys_of(const Doc& d, std::uint32_t obj = Doc::root()) {
  std::vector<std::string> out;
  for (std::uint32_t k = 0; k < d.size(obj); ++k) out.emplace_back(d.key(obj, k));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- the tape

TEST(DocTape, NodesInDocumentOrderWithSubtreeEnds) {
  Doc d = parse_ok(R"({"b":[1,{"x":null}],"a":"s","c":true})");
  EXPECT_FALSE(d.empty());
  ASSERT_TRUE(d.is_object(Doc::root()));
  EXPECT_EQ(d.size(Doc::root()), 3u);
  EXPECT_EQ(d.end(Doc::root()), d.node_count());
  // Pre-order: root, "b", [..], 1, {..}, "x", null, "a", "s", "c", true.
  EXPECT_EQ(d.node_count(), 11u);
  const std::uint32_t arr = d.find(Doc::root(), "b");
  ASSERT_NE(arr, Doc::kNone);
  EXPECT_EQ(d.type(arr), json::Type::Array);
  EXPECT_EQ(d.size(arr), 2u);
  const std::uint32_t first = d.first_item(arr);
  EXPECT_EQ(d.type(first), json::Type::Number);
  EXPECT_EQ(d.number(first), 1.0);
  const std::uint32_t obj = d.end(first);
  EXPECT_EQ(d.type(obj), json::Type::Object);
  EXPECT_EQ(d.end(obj), d.end(arr));  // the last item's subtree ends where the array's does
  EXPECT_EQ(d.type(d.find(obj, "x")), json::Type::Null);
  EXPECT_EQ(d.str(d.find(Doc::root(), "a")), "s");
  EXPECT_TRUE(d.boolean(d.find(Doc::root(), "c")));
  // Members in key order, whatever the text's order.
  EXPECT_EQ(keys_of(d), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(d.value(Doc::root(), 1), arr);
  EXPECT_EQ(d.member(Doc::root(), 1) + 1, arr);
}

TEST(DocTape, FindInKeyOrder) {
  Doc d = parse_ok(R"({"z":1,"a":2,"m":{"k":3},"":4,"__proto__":5})");
  EXPECT_EQ(d.number(d.find(Doc::root(), "z")), 1.0);
  EXPECT_EQ(d.number(d.find(Doc::root(), "")), 4.0);
  EXPECT_EQ(d.number(d.find(Doc::root(), "__proto__")), 5.0);
  EXPECT_EQ(d.find(Doc::root(), "nope"), Doc::kNone);
  EXPECT_EQ(d.find(Doc::root(), "zz"), Doc::kNone);
  EXPECT_EQ(d.find(d.find(Doc::root(), "a"), "a"), Doc::kNone);  // not an object
  const std::uint32_t m = d.find(Doc::root(), "m");
  EXPECT_EQ(d.number(d.find(m, "k")), 3.0);
  Doc arr = parse_ok("[1]");
  EXPECT_EQ(arr.find(Doc::root(), "0"), Doc::kNone);
  Doc empty = parse_ok("{}");
  EXPECT_EQ(empty.size(Doc::root()), 0u);
  EXPECT_EQ(empty.find(Doc::root(), ""), Doc::kNone);
}

TEST(DocTape, ScalarsAtTheRoot) {
  for (const char* text : {"1", "\"s\"", "true", "false", "null", " 2.5 "}) {
    Doc d = parse_ok(text);
    EXPECT_EQ(d.node_count(), 1u) << text;
    EXPECT_EQ(d.end(Doc::root()), 1u);
    EXPECT_EQ(json::depth(d, Doc::root()), 0);
  }
  EXPECT_FALSE(parse_ok("false").boolean(0));
  EXPECT_EQ(json::depth(parse_ok(R"({"a":[[1]],"b":{}})"), Doc::root()), 3);
}

// ---------------------------------------------------------------- duplicates and key order

TEST(DocKeys, DuplicateKeysLastWins) {
  Doc d = parse_ok(R"({"a":1,"b":2,"a":3})");
  EXPECT_EQ(d.size(Doc::root()), 2u);
  EXPECT_EQ(d.number(d.find(Doc::root(), "a")), 3.0);
  EXPECT_EQ(json::to_string(d), R"({"a":3,"b":2})");
  // Already in order except for the repeat; nested; a value that is a subtree.
  EXPECT_EQ(canon(R"({"a":{"x":1},"a":[2],"a":"last"})"), R"({"a":"last"})");
  EXPECT_EQ(canon(R"({"o":{"k":1,"k":{"deep":[1,2]},"j":0}})"), R"({"o":{"j":0,"k":{"deep":[1,2]}}})");
  // Keys equal in their first eight bytes but not after, and equal keys
  // written with and without escapes.
  EXPECT_EQ(canon(R"({"abcdefgh1":1,"abcdefgh2":2,"abcdefgh1":3})"), R"({"abcdefgh1":3,"abcdefgh2":2})");
  EXPECT_EQ(canon(R"({"a\u0062":1,"ab":2})"), R"({"ab":2})");
  EXPECT_EQ(canon(R"({"ab":1,"a\u0062":2})"), R"({"ab":2})");
  // "a" and "a\u0000" share their zero-padded prefix and still differ.
  EXPECT_EQ(canon(R"({"a\u0000":1,"a":2})"), R"({"a":2,"a\u0000":1})");
}

TEST(DocKeys, ManyKeysWithRepeatsSortLikeJavaScript) {
  // More than 32 members takes the stable_sort path.
  std::mt19937 rng(3);
  const char* pieces[] = {"a", "b",       "ab", "B", "\xC3\xA9", "\xEF\xBD\x9E", "\xEE\x80\x80", "\xF0\x9F\x98\x80",
                          "0", "abcdefgh"};
  for (int round = 0; round < 50; ++round) {
    std::string text = "{";
    std::vector<std::pair<std::string, int>> members;
    const int n = 20 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      std::string key;
      for (int p = static_cast<int>(rng() % 3) + 1; p > 0; --p) key += pieces[rng() % std::size(pieces)];
      members.emplace_back(key, i);
      if (i) text += ',';
      text += "\"" + key + "\":" + std::to_string(i);
    }
    text += "}";
    // Reference: last occurrence of each key, ordered by UTF-16 code units.
    std::vector<std::pair<std::string, int>> want;
    for (const auto& m : members) {
      auto it = std::find_if(want.begin(), want.end(), [&](const auto& w) { return w.first == m.first; });
      if (it != want.end())
        it->second = m.second;
      else
        want.push_back(m);
    }
    std::sort(want.begin(), want.end(), [](const auto& x, const auto& y) { return utf16(x.first) < utf16(y.first); });
    Doc d = parse_ok(text);
    ASSERT_EQ(d.size(Doc::root()), want.size()) << text;
    for (std::uint32_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(d.key(Doc::root(), k), want[k].first) << text;
      EXPECT_EQ(d.number(d.value(Doc::root(), k)), want[k].second) << text;
      EXPECT_EQ(d.find(Doc::root(), want[k].first), d.value(Doc::root(), k));
    }
  }
}

TEST(DocKeys, Utf16OrderPutsAstralBeforeThePrivateUseArea) {
  // UTF-8 byte order would put U+E000..U+FFFF (EE..EF) before astral
  // characters (F0..F4); UTF-16 puts surrogate pairs (D800..) first.
  const std::string astral = "\xF0\x9F\x98\x80", pua = "\xEE\x80\x80", fullwidth = "\xEF\xBD\x9E", eacute = "\xC3\xA9";
  Doc d = parse_ok("{\"" + fullwidth + "\":1,\"" + pua + "\":2,\"" + astral + "\":3,\"" + eacute + "\":4,\"z\":5}");
  EXPECT_EQ(keys_of(d), (std::vector<std::string>{"z", eacute, astral, pua, fullwidth}));
  // The same decided beyond the first eight bytes, and through escapes.
  const std::string p = "prefix--";
  Doc long_keys = parse_ok("{\"" + p + pua + "\":1,\"" + p + astral + "\":2}");
  EXPECT_EQ(keys_of(long_keys), (std::vector<std::string>{p + astral, p + pua}));
  Doc escaped = parse_ok(R"({"\ue000":1,"\ud83d\ude00":2,"\uffff":3,"\ud800\udc00":4})");
  EXPECT_EQ(keys_of(escaped), (std::vector<std::string>{"\xF0\x90\x80\x80", astral, pua, "\xEF\xBF\xBF"}));
  EXPECT_EQ(escaped.find(Doc::root(), pua), escaped.value(Doc::root(), 2));
  EXPECT_TRUE(json::key_less(astral, pua));
  EXPECT_FALSE(json::key_less(pua, astral));
  EXPECT_TRUE(json::key_less("a", "ab"));
  EXPECT_FALSE(json::key_less("ab", "ab"));
}

// ---------------------------------------------------------------- strings

TEST(DocStrings, EscapesDecodeInPlace) {
  Doc d = parse_ok(R"(["a\"b\\c\/d\b\f\n\r\t", "\u0000\u001f\u00e9\u20ac", "\ud83d\ude00", "x\u0041y", ""])");
  std::uint32_t i = d.first_item(Doc::root());
  EXPECT_EQ(d.str(i), "a\"b\\c/d\b\f\n\r\t");
  i = d.end(i);
  EXPECT_EQ(d.str(i), std::string("\0\x1f\xC3\xA9\xE2\x82\xAC", 7));
  i = d.end(i);
  EXPECT_EQ(d.str(i), "\xF0\x9F\x98\x80");
  i = d.end(i);
  EXPECT_EQ(d.str(i), "xAy");
  i = d.end(i);
  EXPECT_EQ(d.str(i), "");
  // Canonical output escapes as JSON.stringify does: short escapes, \u00XX
  // (lowercase hex) for other controls, "/" and non-ASCII as they are.
  EXPECT_EQ(json::to_string(d),
            "[\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\",\"\\u0000\\u001f\xC3\xA9\xE2\x82\xAC\","
            "\"\xF0\x9F\x98\x80\",\"xAy\",\"\"]");
}

TEST(DocStrings, PlainStringsAreCopiedWithTheirQuotes) {
  Doc d = parse_ok("{\"plain\":\"caf\xC3\xA9 \x7F ok\",\"esc\":\"a\\nb\",\"k\\u0065y\":\"v\"}");
  const std::uint32_t plain = d.find(Doc::root(), "plain");
  EXPECT_TRUE(d.node(plain).flags & Doc::kPlainString);
  EXPECT_FALSE(d.node(d.find(Doc::root(), "esc")).flags & Doc::kPlainString);
  EXPECT_FALSE(d.node(d.member(Doc::root(), 1)).flags & Doc::kPlainString);  // the key "key" had an escape
  EXPECT_TRUE(d.node(d.member(Doc::root(), 2)).flags & Doc::kPlainString);   // "plain"
  EXPECT_EQ(json::to_string(d), "{\"esc\":\"a\\nb\",\"key\":\"v\",\"plain\":\"caf\xC3\xA9 \x7F ok\"}");
  // Both paths print what the general writer prints.
  for (std::uint32_t k = 0; k < d.size(Doc::root()); ++k) {
    std::string general;
    json::write_string(d.str(d.value(Doc::root(), k)), general);
    EXPECT_EQ(json::to_string(d, d.value(Doc::root(), k)), general);
  }
  // An escaped key followed by plain text (in-place decoding leaves bytes
  // behind it) still prints exactly its decoded text.
  EXPECT_EQ(canon(R"({"\u0041BCDEFGHIJ":1})"), R"({"ABCDEFGHIJ":1})");
}

TEST(DocStrings, RawUtf8IsValidated) {
  EXPECT_EQ(canon("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\""),
            "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"");
  for (const char* bad : {"\"\xC3\"", "\"\xC3(\"", "\"\xC0\xAF\"", "\"\xE0\x80\xAF\"", "\"\xF0\x80\x80\x80\"",
                          "\"\xF4\x90\x80\x80\"", "\"\xFF\"", "\"\x80\"", "\"\xE2\x82\""})
    EXPECT_EQ(parse_code(bad), Code::ER_BAD_JSON) << bad;
}

TEST(DocStrings, LoneSurrogatesAreTheirOwnError) {
  for (const char* bad : {R"("\ud800")", R"("\udc00x")", R"({"k":"\ud83d\u0041"})", R"("\ud83d\ud83d")", R"("\ud83d")",
                          R"("\ud83d\")", R"(["\udfff"])", R"({"\ud800":1})"})
    EXPECT_EQ(parse_code(bad), Code::ER_LONE_SURROGATE) << bad;
  EXPECT_EQ(parse_code("\"\xED\xA0\x80\""), Code::ER_LONE_SURROGATE);  // a surrogate in raw (CESU-8) form
  EXPECT_EQ(parse_code("\"\xED\xBF\xBF\""), Code::ER_LONE_SURROGATE);
  EXPECT_EQ(canon("\"\xED\x9F\xBF\""), "\"\xED\x9F\xBF\"");  // U+D7FF is fine
}

TEST(DocStrings, BadEscapesAndControlCharacters) {
  for (const char* bad :
       {R"("\x")", R"("\u12")", R"("\u12G4")", R"("\U0041")", "\"a\x01\"", "\"a\nb\"", "\"\\", R"("abc)"})
    EXPECT_EQ(parse_code(bad), Code::ER_BAD_JSON) << bad;
  EXPECT_EQ(parse_code(std::string("\"a\0b\"", 5)), Code::ER_BAD_JSON);  // a raw NUL
}

// ---------------------------------------------------------------- numbers

TEST(DocNumbers, PrintAsJavaScriptDoes) {
  for (const auto& [in, want] : er_test::kJsNumberCases) EXPECT_EQ(canon(in), want) << in;
}

TEST(DocNumbers, IntegersUpToFifteenDigitsKeepTheirText) {
  Doc raw = parse_ok("[123,-45,0,123456789012345,-123456789012345,1234567890123456,-0,1.0,1e2]");
  std::vector<bool> flagged;
  for (std::uint32_t i = raw.first_item(Doc::root()); i < raw.end(Doc::root()); i = raw.end(i))
    flagged.push_back((raw.node(i).flags & Doc::kRawNumber) != 0);
  EXPECT_EQ(flagged, (std::vector<bool>{true, true, true, true, true, false, false, false, false}));
  const std::uint32_t first = raw.first_item(Doc::root());
  EXPECT_EQ(raw.raw(raw.node(first).a, raw.node(first).raw_len), "123");
  EXPECT_EQ(json::to_string(raw), "[123,-45,0,123456789012345,-123456789012345,1234567890123456,0,1,100]");
}

TEST(DocNumbers, AgreeWithStrtod) {
  // The fast path must give the correctly rounded double, as strtod does.
  std::mt19937_64 rng(0x9E3779B97F4A7C15ull);
  char buf[64];
  for (int i = 0; i < 20000; ++i) {
    switch (i % 5) {
      case 0: {
        double d;
        const std::uint64_t bits = rng();
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) continue;
        std::snprintf(buf, sizeof buf, "%.17g", d);
        break;
      }
      case 1:
        std::snprintf(buf, sizeof buf, "%llu.%llu", static_cast<unsigned long long>(rng() % 100000),
                      static_cast<unsigned long long>(rng() % 1000000));
        break;
      case 2:
        std::snprintf(buf, sizeof buf, "%llue%d", static_cast<unsigned long long>(rng() % 1000000000000000ull),
                      static_cast<int>(rng() % 60) - 30);
        break;
      case 3:
        std::snprintf(buf, sizeof buf, "-0.%06llu", static_cast<unsigned long long>(rng() % 1000000));
        break;
      default:  // 19+ significant digits, fraction beyond 19 digits, tiny and huge exponents
        std::snprintf(buf, sizeof buf, "%llu%llu.%llue%d", static_cast<unsigned long long>(rng() % 1000000000),
                      static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()),
                      static_cast<int>(rng() % 700) - 350);
        break;
    }
    Doc d = parse_ok(buf);
    ASSERT_EQ(d.type(0), json::Type::Number) << buf;
    const double want = std::strtod(buf, nullptr);
    if (std::isinf(want))
      EXPECT_TRUE(std::isinf(d.number(0))) << buf;
    else
      EXPECT_EQ(d.number(0), want) << buf;
  }
}

TEST(DocNumbers, MalformedNumbers) {
  for (const char* bad :
       {"01", "1.", "-", ".5", "+1", "1e", "1e+", "0x10", "1.e3", "-.1", "NaN", "Infinity", "--1", "1ee2", "[01]"})
    EXPECT_EQ(parse_code(bad), Code::ER_BAD_JSON) << bad;
}

// ---------------------------------------------------------------- syntax, limits, errors

TEST(DocParse, RejectsMalformedInputWithOffset) {
  for (const char* bad :
       {"",           " ",          "{", "[1,]", "{\"a\" 1}", "tru", "nul",  "{\"a\":1}x", "[1 2]",
        "{a:1}",      "{\"a\":1,}", "[", "]",    "{\"a\"}",   "{,}", "[,1]", "\"a\"\"b\"", "{\"a\":1 \"b\":2}",
        "{\"a\"::1}", "[]]"}) {
    Doc d;
    auto r = d.parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::ER_BAD_JSON) << bad;
    EXPECT_NE(r.error().message.find("offset"), std::string::npos) << r.error().message;
  }
  Doc d;
  auto r = d.parse("[1,2,x]");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("offset 5"), std::string::npos) << r.error().message;
}

TEST(DocParse, WhitespaceBetweenTokensOnly) {
  EXPECT_EQ(canon(" \t\r\n{ \"b\" : [ 1 , { } ] , \"a\" : null } \n"), R"({"a":null,"b":[1,{}]})");
  EXPECT_EQ(parse_code("\x0B{}"), Code::ER_BAD_JSON);  // vertical tab is not JSON whitespace
  EXPECT_EQ(parse_code("{}\f"), Code::ER_BAD_JSON);
  EXPECT_EQ(parse_code("\xC2\xA0{}"), Code::ER_BAD_JSON);  // nor is U+00A0
}

TEST(DocParse, DepthLimit) {
  std::string ok(256, '[');
  ok += std::string(256, ']');
  EXPECT_FALSE(parse_ok(ok).empty());
  std::string deep(257, '[');
  deep += std::string(257, ']');
  EXPECT_EQ(parse_code(deep), Code::ER_TOO_DEEP);
  std::string objects;
  for (int i = 0; i < 257; ++i) objects += "{\"k\":";
  objects += "1" + std::string(257, '}');
  EXPECT_EQ(parse_code(objects), Code::ER_TOO_DEEP);
  const std::string very_deep(100000, '[');  // must not overflow the stack
  EXPECT_EQ(parse_code(very_deep), Code::ER_TOO_DEEP);
  json::Limits tight;
  tight.max_depth = 2;
  EXPECT_FALSE(parse_ok("[[1]]", tight).empty());
  EXPECT_EQ(parse_code("[[[1]]]", tight), Code::ER_TOO_DEEP);
  EXPECT_EQ(parse_code("{\"a\":{\"b\":{}}}", tight), Code::ER_TOO_DEEP);
}

TEST(DocParse, SizeLimit) {
  json::Limits limits;
  limits.max_bytes = 10;
  EXPECT_EQ(parse_code(R"({"a":"0123456789"})", limits), Code::ER_TOO_LARGE);
  EXPECT_FALSE(parse_ok(R"({"a":"01"})", limits).empty());  // exactly 10 bytes
  Doc d;
  auto r = d.parse(R"({"a":"0123456789"})", limits);
  EXPECT_NE(r.error().message.find("limit of 10"), std::string::npos) << r.error().message;
}

TEST(DocParse, ProtoKeysAreData) {
  Doc d = parse_ok(R"({"__proto__":{"polluted":true},"constructor":1})");
  EXPECT_TRUE(d.boolean(d.find(d.find(Doc::root(), "__proto__"), "polluted")));
  EXPECT_EQ(json::to_string(d), R"({"__proto__":{"polluted":true},"constructor":1})");
}

TEST(DocParse, ReusingADocumentKeepsNothingOfTheLastText) {
  Doc d = parse_ok(R"({"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","n":[1,2,3,4,5,6,7,8,9]})");
  const std::size_t big = d.footprint();
  ASSERT_TRUE(d.parse(R"({"b":2})").ok());
  EXPECT_EQ(json::to_string(d), R"({"b":2})");
  EXPECT_EQ(d.node_count(), 3u);
  EXPECT_GE(d.footprint(), big / 2);  // buffers kept for the next parse
  ASSERT_FALSE(d.parse("{bad").ok());
  EXPECT_TRUE(d.empty());
  ASSERT_TRUE(d.parse("[]").ok());
  EXPECT_EQ(json::to_string(d), "[]");
  d.clear();
  EXPECT_TRUE(d.empty());
}

// ---------------------------------------------------------------- equality, trees, transition texts

TEST(DocEqual, StructuralAndKeyOrderFree) {
  auto eq = [](std::string_view a, std::string_view b) {
    Doc x = parse_ok(a), y = parse_ok(b);
    const bool doc = json::equal(x, Doc::root(), y, Doc::root());
    EXPECT_EQ(doc, json::equal(y, Doc::root(), x, Doc::root())) << a << " / " << b;
    // The same against a tree.
    auto tree = json::parse(b);
    EXPECT_EQ(json::equal(x, Doc::root(), *tree), doc) << a << " / " << b;
    return doc;
  };
  EXPECT_TRUE(eq(R"({"a":1,"b":[1,{"x":null}]})", R"({"b":[1,{"x":null}],"a":1.0})"));
  EXPECT_TRUE(eq(R"({"a":1,"a":2})", R"({"a":2})"));
  EXPECT_TRUE(eq(R"({"s":"\u00e9"})", "{\"s\":\"\xC3\xA9\"}"));
  EXPECT_TRUE(eq("0", "-0"));
  EXPECT_FALSE(eq(R"({"a":{"x":null}})", R"({"a":{}})"));
  EXPECT_FALSE(eq("[1,2]", "[2,1]"));
  EXPECT_FALSE(eq("[1]", "[1,1]"));
  EXPECT_FALSE(eq("1", "\"1\""));
  EXPECT_FALSE(eq("true", "false"));
  EXPECT_FALSE(eq(R"({"a":1})", R"({"b":1})"));
  EXPECT_FALSE(eq(R"("ab")", R"("abc")"));
  // Nodes of different documents, inside them.
  Doc x = parse_ok(R"({"p":{"k":[1]}})"), y = parse_ok(R"([{"k":[1]}])");
  EXPECT_TRUE(json::equal(x, x.find(Doc::root(), "p"), y, y.first_item(Doc::root())));
  // Against trees with non-finite numbers (canonical null).
  EXPECT_TRUE(json::equal(parse_ok("null"), Doc::root(), json::Value(INFINITY)));
}

TEST(DocEqual, ToValueAndBack) {
  const char* text = R"({"b":[true,false,null,1.5,"s",{"z":1,"a":{}}],"a":"x","a":"y"})";
  Doc d = parse_ok(text);
  const json::Value v = json::to_value(d);
  auto tree = json::parse(text);
  ASSERT_TRUE(tree.ok());
  EXPECT_TRUE(json::equal(v, *tree));
  EXPECT_EQ(json::to_string(v), json::to_string(d));
  EXPECT_EQ(json::to_string(json::to_value(d, d.find(Doc::root(), "b"))),
            R"([true,false,null,1.5,"s",{"a":{},"z":1}])");
  EXPECT_EQ(json::depth(v), json::depth(d, Doc::root()));
}

TEST(DocEqual, TransitionTexts) {
  Doc d = parse_ok(R"({"s":"x\"y","n":null,"o":{"b":1,"a":2},"num":1e21,"t":true})");
  auto text = [&](std::uint32_t node) {
    std::string out;
    json::write_transition_text(d, node, out);
    return out;
  };
  EXPECT_EQ(text(d.find(Doc::root(), "s")), "x\"y");
  EXPECT_EQ(text(d.find(Doc::root(), "n")), "null");
  EXPECT_EQ(text(Doc::kNone), "null");
  EXPECT_EQ(text(d.find(Doc::root(), "o")), R"({"a":2,"b":1})");
  EXPECT_EQ(text(d.find(Doc::root(), "num")), "1e+21");
  EXPECT_EQ(text(d.find(Doc::root(), "t")), "true");
}

TEST(DocEqual, WriteMappedRewritesStringsAndKeys) {
  struct Upper : json::StringMap {
    std::string buf;
    std::string_view operator()(std::string_view in) override {
      buf.assign(in);
      for (char& c : buf) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return buf;
    }
  } upper;
  Doc d = parse_ok(R"({"b":["x",1,{"k":"v"}],"a":"q\"z"})");
  std::string out = "prefix:";
  json::write_mapped(d, Doc::root(), out, upper);
  EXPECT_EQ(out, R"(prefix:{"A":"Q\"Z","B":["X",1,{"K":"V"}]})");
}

// ---------------------------------------------------------------- copies

TEST(DocCopies, AssignCompactSizesTheCopyToItsContent) {
  Doc big;
  std::string text = "[";
  for (int i = 0; i < 1000; ++i) text += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  text += "]";
  ASSERT_TRUE(big.parse(text).ok());
  ASSERT_TRUE(big.parse(R"({"name":"a","tags":["x","y"],"n":12})").ok());  // buffers still sized for the first text
  Doc copy;
  copy.assign_compact(big);
  EXPECT_TRUE(json::equal(copy, Doc::root(), big, Doc::root()));
  EXPECT_EQ(json::to_string(copy), json::to_string(big));
  EXPECT_EQ(copy.node_count(), big.node_count());
  EXPECT_LT(copy.footprint(), big.footprint() / 10);
  // Independent of its source.
  ASSERT_TRUE(big.parse("[0]").ok());
  EXPECT_EQ(json::to_string(copy), R"({"n":12,"name":"a","tags":["x","y"]})");
  EXPECT_NE(copy.find(Doc::root(), "tags"), Doc::kNone);
  // Reuses its own buffers when they are large enough, and copies itself as is.
  const std::size_t before = copy.footprint();
  Doc small = parse_ok(R"({"a":1})");
  copy.assign_compact(small);
  EXPECT_EQ(json::to_string(copy), R"({"a":1})");
  EXPECT_LE(copy.footprint(), before);
  copy.assign_compact(copy);
  EXPECT_EQ(json::to_string(copy), R"({"a":1})");
  // An empty document copies as empty.
  Doc none;
  copy.assign_compact(none);
  EXPECT_TRUE(copy.empty());
}

TEST(DocCopies, SwapReleaseAndFootprint) {
  Doc a = parse_ok(R"({"a":"x"})"), b = parse_ok("[1,2,3]");
  const std::size_t fa = a.footprint(), fb = b.footprint();
  a.swap(b);
  EXPECT_EQ(json::to_string(a), "[1,2,3]");
  EXPECT_EQ(json::to_string(b), R"({"a":"x"})");
  EXPECT_EQ(a.footprint(), fb);
  EXPECT_EQ(b.footprint(), fa);
  a.clear();
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.footprint(), fb);  // clear keeps the buffers
  a.release();
  EXPECT_TRUE(a.empty());
  EXPECT_LT(a.footprint(), fb);
  ASSERT_TRUE(a.parse(R"({"again":true})").ok());  // usable after release
  EXPECT_EQ(json::to_string(a), R"({"again":true})");
}

TEST(DocCopies, ParsedAndCanonicalTextsAgreeWithTheTreeParser) {
  // json::parse goes through Doc; to_value of the document is that tree.
  for (const char* text :
       {R"({"b":1,"a":[{"y":2,"x":1}]})", "[]", "{}", R"("s")", "-0.5e-3", R"({"a":{"a":{"a":null}}})"}) {
    auto tree = json::parse(text);
    ASSERT_TRUE(tree.ok());
    Doc d = parse_ok(text);
    EXPECT_EQ(json::to_string(*tree), json::to_string(d)) << text;
  }
}
