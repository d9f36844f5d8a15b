#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "json/value.hpp"

#include "js_number_cases.hpp"

using er::Code;
namespace json = er::json;

namespace {
json::Value parse_ok(std::string_view text) {
  auto r = json::parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : json::Value();
}
std::string canon(std::string_view text) { return json::to_string(parse_ok(text)); }
Code parse_code(std::string_view text, const json::Limits& limits = {}) {
  auto r = json::parse(text, limits);
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? Code::ER_CLOSED : r.error().code;
}
}  // namespace

TEST(JsonCanonical, SortsKeysAndDropsWhitespace) {
  EXPECT_EQ(canon(R"( { "b" : 1, "a" : [ true , null ], "c": {"z":1,"y":2} } )"),
            R"({"a":[true,null],"b":1,"c":{"y":2,"z":1}})");
}

TEST(JsonCanonical, KeyOrderIsUtf16CodeUnitOrder) {
  // U+FF5E (3-byte UTF-8) sorts after U+1F600 (astral, a surrogate pair) in
  // UTF-16, the opposite of UTF-8 byte order.
  EXPECT_EQ(canon(R"({"\uff5e":1,"\ud83d\ude00":2,"a":3,"B":4})"),
            "{\"B\":4,\"a\":3,\"\xF0\x9F\x98\x80\":2,\"\xEF\xBD\x9E\":1}");
  EXPECT_TRUE(json::key_less("\xF0\x9F\x98\x80", "\xEF\xBD\x9E"));
  EXPECT_FALSE(json::key_less("\xEF\xBD\x9E", "\xF0\x9F\x98\x80"));
  EXPECT_TRUE(json::key_less("a", "ab"));
  EXPECT_FALSE(json::key_less("ab", "ab"));
}

TEST(JsonCanonical, DuplicateKeysKeepTheLastLikeJsonParse) {
  EXPECT_EQ(canon(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
}

TEST(JsonCanonical, NumbersPrintAsJavaScriptDoes) {
  for (const auto& [in, want] : er_test::kJsNumberCases) EXPECT_EQ(canon(in), want) << in;
  std::string out;
  json::write_number(std::nan(""), out);
  EXPECT_EQ(out, "null");
  out.clear();
  json::write_number(-INFINITY, out);
  EXPECT_EQ(out, "null");
}

TEST(JsonCanonical, StringsEscapeAsJsonStringifyDoes) {
  EXPECT_EQ(canon(R"("a\"b\\c\/d\n\t\u0001\u001f\u00e9")"), "\"a\\\"b\\\\c/d\\n\\t\\u0001\\u001f\xC3\xA9\"");
  EXPECT_EQ(canon(R"("\ud83d\ude00")"), "\"\xF0\x9F\x98\x80\"");
}

TEST(JsonEqual, StructuralAndKeyOrderFree) {
  EXPECT_TRUE(json::equal(parse_ok(R"({"a":1,"b":[1,{"x":null}]})"), parse_ok(R"({"b":[1,{"x":null}],"a":1.0})")));
  EXPECT_FALSE(json::equal(parse_ok(R"({"a":{"x":null}})"), parse_ok(R"({"a":{}})")));
  EXPECT_FALSE(json::equal(parse_ok("[1,2]"), parse_ok("[2,1]")));
  EXPECT_FALSE(json::equal(parse_ok("1"), parse_ok("\"1\"")));
  EXPECT_TRUE(json::equal(json::Value(INFINITY), json::Value(nullptr)));  // both print null
}

TEST(JsonParse, RejectsMalformedInputWithOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "-", "\"abc", "{\"a\":1}x", "[1 2]",
                          "\"\\x\"", "{a:1}", "\"\x01\""}) {
    auto r = json::parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::ER_BAD_JSON) << bad;
    EXPECT_NE(r.error().message.find("offset"), std::string::npos);
  }
}

TEST(JsonParse, RejectsInvalidUtf8) {
  EXPECT_EQ(parse_code("\"\xC3\""), Code::ER_BAD_JSON);
  EXPECT_EQ(parse_code("\"\xC0\xAF\""), Code::ER_BAD_JSON);
  EXPECT_EQ(parse_code("\"\xFF\""), Code::ER_BAD_JSON);
}

TEST(JsonParse, LoneSurrogatesAreTheirOwnError) {
  EXPECT_EQ(parse_code(R"("\ud800")"), Code::ER_LONE_SURROGATE);
  EXPECT_EQ(parse_code(R"("\udc00x")"), Code::ER_LONE_SURROGATE);
  EXPECT_EQ(parse_code(R"({"k":"\ud83d\u0041"})"), Code::ER_LONE_SURROGATE);
  EXPECT_EQ(parse_code("\"\xED\xA0\x80\""), Code::ER_LONE_SURROGATE);  // CESU-style raw surrogate
}

TEST(JsonParse, DepthLimit) {
  std::string ok(256, '[');
  ok += std::string(256, ']');
  EXPECT_TRUE(json::parse(ok).ok());
  std::string deep(257, '[');
  deep += std::string(257, ']');
  EXPECT_EQ(parse_code(deep), Code::ER_TOO_DEEP);
  std::string very_deep(100000, '[');  // must not overflow the stack
  EXPECT_EQ(parse_code(very_deep), Code::ER_TOO_DEEP);
}

TEST(JsonParse, SizeLimit) {
  json::Limits limits;
  limits.max_bytes = 10;
  EXPECT_EQ(parse_code(R"({"a":"0123456789"})", limits), Code::ER_TOO_LARGE);
}

TEST(JsonParse, ProtoKeysAreData) {
  auto v = parse_ok(R"({"__proto__":{"polluted":true},"constructor":1})");
  ASSERT_NE(v.find("__proto__"), nullptr);
  EXPECT_TRUE(v.find("__proto__")->find("polluted")->as_bool());
  EXPECT_EQ(json::to_string(v), R"({"__proto__":{"polluted":true},"constructor":1})");
}

TEST(JsonValue, SetEraseKeepOrder) {
  auto v = json::Value::object();
  v.set("b", 1);
  v.set("a", 2);
  v.set("c", 3);
  v.set("a", 4);
  EXPECT_EQ(json::to_string(v), R"({"a":4,"b":1,"c":3})");
  EXPECT_TRUE(v.erase("b"));
  EXPECT_FALSE(v.erase("zz"));
  EXPECT_EQ(json::to_string(v), R"({"a":4,"c":3})");
  EXPECT_EQ(json::depth(parse_ok(R"({"a":[[1]]})")), 3);
}

TEST(JsonParse, NumbersAgreeWithStrtod) {
  // The fast path must give the correctly rounded double, as strtod does.
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  char buf[64];
  for (int i = 0; i < 20000; ++i) {
    const int kind = i % 4;
    if (kind == 0) {
      double d;
      std::uint64_t bits = next();
      std::memcpy(&d, &bits, sizeof d);
      if (!std::isfinite(d)) continue;
      std::snprintf(buf, sizeof buf, "%.17g", d);
    } else if (kind == 1) {
      std::snprintf(buf, sizeof buf, "%llu.%llu", static_cast<unsigned long long>(next() % 100000),
                    static_cast<unsigned long long>(next() % 1000000));
    } else if (kind == 2) {
      std::snprintf(buf, sizeof buf, "%llue%d", static_cast<unsigned long long>(next() % 1000000000000000ull),
                    static_cast<int>(next() % 60) - 30);
    } else {
      std::snprintf(buf, sizeof buf, "-0.%06llu", static_cast<unsigned long long>(next() % 1000000));
    }
    auto v = json::parse(buf);
    ASSERT_TRUE(v.ok()) << buf;
    EXPECT_EQ(v->as_number(), std::strtod(buf, nullptr)) << buf;
  }
}
