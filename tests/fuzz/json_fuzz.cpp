// JSON parsing and canonicalisation.
//   * parse never crashes; an error carries one of the parser's codes;
//   * round trip: parse(write(parse(x))) equals parse(x), and canonical
//     output is a fixed point (write(parse(write(v))) == write(v));
//   * objects are sorted by UTF-16 code units, keys unique (JavaScript's order);
//   * every number prints as JavaScript prints it (checked against an
//     independent formatter over std::to_chars) and reads back exactly;
//   * nesting never exceeds the depth limit; equal() agrees with the
//     canonical text.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"

using namespace er;

namespace {

void check_numbers(const json::Value& v) {
  if (v.is_number()) {
    const double d = v.as_number();
    std::string mine;
    json::write_number(d, mine);
    FUZZ_CHECK(mine == fuzz::js_number(d), mine + " vs reference " + fuzz::js_number(d));
    if (std::isfinite(d)) {
      auto back = json::parse(mine);
      FUZZ_CHECK(back.ok() && back->is_number() && back->as_number() == d, "number does not read back: " + mine);
    }
  } else if (v.is_array()) {
    for (const auto& item : v.as_array()) check_numbers(item);
  } else if (v.is_object()) {
    for (const auto& m : v.as_object()) check_numbers(m.value);
  }
}

void check_text(std::string_view text, const json::Limits& limits) {
  auto first = json::parse(text, limits);
  if (!first.ok()) {
    const Code c = first.error().code;
    FUZZ_CHECK(c == Code::ER_BAD_JSON || c == Code::ER_TOO_DEEP || c == Code::ER_TOO_LARGE ||
                   c == Code::ER_LONE_SURROGATE,
               first.error().message);
    FUZZ_CHECK(!first.error().message.empty(), "error without a message");
    return;
  }
  FUZZ_CHECK(json::depth(*first) <= limits.max_depth, "depth over the limit");
  std::string where;
  FUZZ_CHECK(fuzz::objects_sorted(*first, where), where);
  const std::string canon = json::to_string(*first);
  json::Limits roomy = limits;  // canonical text may be longer ("1e21" -> "1e+21")
  roomy.max_bytes = std::max(limits.max_bytes, canon.size() * 2 + 16);
  auto second = json::parse(canon, roomy);
  FUZZ_CHECK(second.ok(), "canonical output does not parse: " + canon + " -> " +
                              (second.ok() ? std::string() : second.error().message));
  FUZZ_CHECK(json::equal(*first, *second), "round trip changed the value: " + canon);
  FUZZ_CHECK(json::to_string(*second) == canon, "canonical form is not a fixed point: " + canon);
  // Whitespace between tokens never matters.
  std::string spaced;
  bool in_string = false, escaped = false;
  for (char c : canon) {
    spaced += c;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',' || c == ':' || c == '[' || c == '{') {
      spaced += " \n\t\r";
    }
  }
  roomy.max_bytes = std::max(roomy.max_bytes, spaced.size());
  auto third = json::parse(spaced, roomy);
  FUZZ_CHECK(third.ok() && json::to_string(*third) == canon, "whitespace changed the value: " + spaced);
  check_numbers(*first);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_text(text, json::Limits{});
  // Tight limits: the depth and size checks trip on small inputs too.
  json::Limits tight;
  tight.max_depth = 4;
  tight.max_bytes = 64;
  check_text(text, tight);

  // equal() agrees with the canonical text on generated pairs.
  FuzzedDataProvider in(data, size);
  const std::vector<std::string> pool;
  const json::Value a = fuzz::gen_value(in, pool);
  const json::Value b = in.ConsumeBool() ? a : fuzz::gen_value(in, pool);
  FUZZ_CHECK(json::equal(a, b) == (json::to_string(a) == json::to_string(b)),
             json::to_string(a) + " vs " + json::to_string(b));
  FUZZ_CHECK(json::equal(a, a), json::to_string(a));
  std::string where;
  FUZZ_CHECK(fuzz::objects_sorted(a, where), where);
  return 0;
}
