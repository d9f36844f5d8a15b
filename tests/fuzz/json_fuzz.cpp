// JSON parsing (json::Doc, the one parser; json::parse builds its tree from
// it) and canonical output, with nlohmann_json as an oracle.
//   * parse never crashes; an error carries one of the parser's codes and
//     leaves the document empty; the tree parser agrees with the document;
//   * round trip: the canonical text parses to an equal document and is a
//     fixed point; whitespace between tokens never matters;
//   * objects are in UTF-16 code unit order with unique keys (the last of
//     repeated keys wins) and find() finds every member;
//   * the canonical fast paths (kPlainString: a string copied with its
//     quotes; kRawNumber: an integer copied as its text) print exactly what
//     the general writers print;
//   * every number prints as JavaScript prints it (an independent formatter
//     over std::to_chars) and reads back exactly; depth within the limit;
//   * to_value, assign_compact and equal() agree with the canonical text;
//   * oracle: nlohmann_json accepts exactly what we accept and parses the
//     same value (numbers compared as doubles, objects by key), except for
//     the differences below, each checked to be exactly that difference.
//
// Known differences from nlohmann_json 3.11 (tests/fuzz/README.md):
//   1. Numbers that overflow a double ("1e400"): we accept them as
//      JavaScript does (Infinity, canonical null); nlohmann rejects them
//      (out_of_range.406).
//   2. A UTF-8 byte order mark before the value: nlohmann skips it; we
//      reject it, as JSON.parse does.
//   3. A NUL byte after a complete value: nlohmann stops reading there and
//      accepts ("1\0garbage"); we reject text after the value.
//   4. Nesting deeper than Limits::max_depth (256): we reject (ER_TOO_DEEP);
//      nlohmann has no limit. (Limits::max_bytes, 16 MiB, is beyond any
//      fuzz input; the tight-limits pass runs without the oracle.)
//   5. Lone surrogates ("\ud800", or the raw bytes ED A0 80): both reject —
//      we with a code of our own, ER_LONE_SURROGATE. (JSON.parse accepts
//      them; JavaScript strings may hold them, JSON text we compare may not.)
//   6. Representation only, not a difference in value: nlohmann keeps
//      integers as int64/uint64 (we keep doubles: compared after the same
//      rounding), orders keys by bytes (we by UTF-16 code units: compared by
//      key), and prints numbers its own way (never compared as text).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "fuzz_util.hpp"

using namespace er;
using json::Doc;

namespace {

bool parser_code(Code c) {
  return c == Code::ER_BAD_JSON || c == Code::ER_TOO_DEEP || c == Code::ER_TOO_LARGE || c == Code::ER_LONE_SURROGATE;
}

std::string show(std::string_view text) {
  std::string out;
  json::write_string(std::string(text.substr(0, 300)), out);  // may hold invalid UTF-8: bytes as they are
  return out;
}

// Keys sorted and unique, find() consistent, fast paths equal to the
// general writers, numbers as JavaScript prints them.
void check_nodes(const Doc& d) {
  for (std::uint32_t i = 0; i < d.node_count(); ++i) {
    const Doc::Node& n = d.node(i);
    if (n.type == json::Type::Object) {
      for (std::uint32_t k = 0; k < d.size(i); ++k) {
        if (k > 0)
          FUZZ_CHECK(fuzz::utf16_less(d.key(i, k - 1), d.key(i, k)),
                     "keys out of order or repeated: " + show(d.key(i, k - 1)) + " then " + show(d.key(i, k)));
        FUZZ_CHECK(d.find(i, d.key(i, k)) == d.value(i, k), "find() misses key " + show(d.key(i, k)));
      }
    } else if (n.type == json::Type::String && (n.flags & Doc::kPlainString)) {
      std::string general;
      json::write_string(d.str(i), general);
      const std::string_view quoted = d.raw(n.a - 1, n.s.b + 2);
      FUZZ_CHECK(general == quoted, "plain string prints " + show(quoted) + ", the writer " + show(general));
    } else if (n.type == json::Type::Number) {
      std::string mine;
      json::write_number(n.num, mine);
      FUZZ_CHECK(mine == fuzz::js_number(n.num), mine + " vs reference " + fuzz::js_number(n.num));
      if (n.flags & Doc::kRawNumber)
        FUZZ_CHECK(d.raw(n.a, n.raw_len) == mine,
                   "raw number " + std::string(d.raw(n.a, n.raw_len)) + " prints " + mine);
      if (std::isfinite(n.num)) {
        Doc back;
        FUZZ_CHECK(back.parse(mine).ok() && back.number(0) == n.num, "number does not read back: " + mine);
      }
    }
  }
}

// Parses `text`; returns whether it parsed (the document in `d`).
bool check_text(std::string_view text, const json::Limits& limits, Doc& d) {
  auto first = d.parse(text, limits);
  auto tree = json::parse(text, limits);
  FUZZ_CHECK(first.ok() == tree.ok(), "Doc and json::parse disagree on " + show(text));
  if (!first.ok()) {
    const Error& e = first.error();
    FUZZ_CHECK(parser_code(e.code), e.message);
    FUZZ_CHECK(!e.message.empty(), "error without a message");
    FUZZ_CHECK(d.empty(), "a failed parse left a document");
    FUZZ_CHECK(tree.error().code == e.code, "Doc and json::parse report different errors");
    return false;
  }
  FUZZ_CHECK(json::depth(d, Doc::root()) <= limits.max_depth, "depth over the limit");
  check_nodes(d);
  const std::string canon = json::to_string(d);
  FUZZ_CHECK(json::to_string(*tree) == canon, "tree and document print differently: " + canon);
  FUZZ_CHECK(json::to_string(json::to_value(d)) == canon, "to_value prints differently: " + canon);
  // The general string path (write_mapped, identity) prints the same.
  struct Same : json::StringMap {
    std::string_view operator()(std::string_view in) override { return in; }
  } same;
  std::string mapped;
  json::write_mapped(d, Doc::root(), mapped, same);
  FUZZ_CHECK(mapped == canon, "write_mapped(identity) differs: " + mapped + " vs " + canon);
  // A compact copy is the same document.
  Doc copy;
  copy.assign_compact(d);
  FUZZ_CHECK(json::to_string(copy) == canon, "assign_compact changed the document: " + canon);
  // Sized to what it holds (with a little room), not to the parse's worst case.
  FUZZ_CHECK(copy.footprint() <= 2 * (text.size() + d.node_count() * sizeof(Doc::Node)) + 256,
             "a compact copy is not compact: " + std::to_string(copy.footprint()) + " bytes");
  // Round trip (a non-finite number prints null and equals it).
  json::Limits roomy = limits;  // canonical text may be longer ("1e21" -> "1e+21")
  roomy.max_bytes = std::max(limits.max_bytes, canon.size() * 2 + 16);
  Doc second;
  auto again = second.parse(canon, roomy);
  FUZZ_CHECK(again.ok(),
             "canonical output does not parse: " + canon + " -> " + (again.ok() ? "" : again.error().message));
  FUZZ_CHECK(json::equal(d, Doc::root(), second, Doc::root()), "round trip changed the value: " + canon);
  FUZZ_CHECK(json::equal(d, Doc::root(), *tree), "equal(Doc, Value) of the same text is false: " + canon);
  FUZZ_CHECK(json::to_string(second) == canon, "canonical form is not a fixed point: " + canon);
  // Whitespace between tokens never matters.
  std::string spaced;
  bool in_string = false, escaped = false;
  for (char c : canon) {
    spaced += c;
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',' || c == ':' || c == '[' || c == '{') {
      spaced += " \n\t\r";
    }
  }
  roomy.max_bytes = std::max(roomy.max_bytes, spaced.size());
  Doc third;
  FUZZ_CHECK(third.parse(spaced, roomy).ok() && json::to_string(third) == canon,
             "whitespace changed the value: " + spaced);
  return true;
}

// ------------------------------------------------------------------ oracle

bool same_value(const Doc& d, std::uint32_t i, const nlohmann::json& j, std::string& where) {
  switch (d.type(i)) {
    case json::Type::Null:
      if (j.is_null()) return true;
      break;
    case json::Type::Bool:
      if (j.is_boolean() && j.get<bool>() == d.boolean(i)) return true;
      break;
    case json::Type::Number: {
      if (!j.is_number()) break;
      // Integers convert with the same rounding strtod applies to their text.
      const double theirs = j.is_number_unsigned()  ? static_cast<double>(j.get<std::uint64_t>())
                            : j.is_number_integer() ? static_cast<double>(j.get<std::int64_t>())
                                                    : j.get<double>();
      if (theirs == d.number(i)) return true;
      where = "number " + fuzz::js_number(d.number(i)) + " vs " + j.dump();
      return false;
    }
    case json::Type::String:
      if (j.is_string() && j.get_ref<const std::string&>() == d.str(i)) return true;
      break;
    case json::Type::Array: {
      if (!j.is_array() || j.size() != d.size(i)) break;
      std::size_t k = 0;
      for (std::uint32_t item = d.first_item(i); item < d.end(i); item = d.end(item), ++k)
        if (!same_value(d, item, j[k], where)) return false;
      return true;
    }
    case json::Type::Object: {
      if (!j.is_object() || j.size() != d.size(i)) break;
      for (std::uint32_t k = 0; k < d.size(i); ++k) {
        const auto it = j.find(std::string(d.key(i, k)));
        if (it == j.end()) {
          where = "key " + show(d.key(i, k)) + " missing in nlohmann's object";
          return false;
        }
        if (!same_value(d, d.value(i, k), *it, where)) return false;
      }
      return true;
    }
  }
  if (where.empty()) where = json::to_string(d, i) + " vs " + j.dump();
  return false;
}

int nlohmann_depth(const nlohmann::json& j) {
  int deepest = 0;
  if (j.is_array() || j.is_object())
    for (const auto& item : j) deepest = std::max(deepest, nlohmann_depth(item));
  return j.is_array() || j.is_object() ? deepest + 1 : 0;
}

void oracle(std::string_view text, const nlohmann::json& j) {
  const json::Limits limits;
  const bool theirs = !j.is_discarded();
  Doc d;
  auto r = d.parse(text, limits);
  std::string_view compared = text;
  // 2. A byte order mark: nlohmann skips it, we reject it; the rest must agree.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    FUZZ_CHECK(!r.ok(), "we accepted a byte order mark: " + show(text));
    compared = text.substr(3);
    r = d.parse(compared, limits);
  }
  if (r.ok() == theirs) {
    if (!theirs) return;
    std::string where;
    FUZZ_CHECK(same_value(d, Doc::root(), j, where),
               "nlohmann parses another value: " + where + "\n  text " + show(text));
    return;
  }
  if (r.ok()) {
    // 1. Overflow to Infinity: nlohmann refuses the number.
    FUZZ_CHECK(fuzz::has_non_finite(d), "nlohmann rejects what we accept: " + show(text) + " -> " + json::to_string(d));
    return;
  }
  const Code code = r.error().code;
  // 4. Deeper than our limit.
  if (code == Code::ER_TOO_DEEP) {
    FUZZ_CHECK(nlohmann_depth(j) > limits.max_depth, "ER_TOO_DEEP for a value within the limit: " + show(text));
    return;
  }
  // 3. A NUL after a complete value: what precedes it is that value.
  const std::size_t nul = compared.find('\0');
  FUZZ_CHECK(code == Code::ER_BAD_JSON && nul != std::string_view::npos,
             "we reject what nlohmann accepts (" + std::string(code_name(code)) + ": " + r.error().message +
                 "): " + show(text) + " -> " + j.dump());
  Doc prefix;
  FUZZ_CHECK(prefix.parse(compared.substr(0, nul), limits).ok(),
             "nlohmann accepts text with a NUL whose prefix we reject: " + show(text));
  std::string where;
  FUZZ_CHECK(same_value(prefix, Doc::root(), j, where), "NUL-terminated prefix parses to another value: " + where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Doc d;
  check_text(text, json::Limits{}, d);
  oracle(text, nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false));
  // Tight limits: the depth and size checks trip on small inputs too.
  json::Limits tight;
  tight.max_depth = 4;
  tight.max_bytes = 64;
  Doc t;
  check_text(text, tight, t);

  // equal() agrees with the canonical text on generated pairs (documents
  // parsed from their canonical text, and trees).
  FuzzedDataProvider in(data, size);
  const std::vector<std::string> pool;
  const json::Value a = fuzz::gen_value(in, pool);
  const json::Value b = in.ConsumeBool() ? a : fuzz::gen_value(in, pool);
  const std::string ta = json::to_string(a), tb = json::to_string(b);
  FUZZ_CHECK(json::equal(a, b) == (ta == tb), ta + " vs " + tb);
  FUZZ_CHECK(json::equal(a, a), ta);
  Doc da, db;
  FUZZ_CHECK(da.parse(ta).ok() && db.parse(tb).ok(), "canonical text of a generated value does not parse: " + ta);
  FUZZ_CHECK(json::equal(da, Doc::root(), db, Doc::root()) == (ta == tb), ta + " vs " + tb + " (documents)");
  FUZZ_CHECK(json::equal(da, Doc::root(), b) == (ta == tb), ta + " vs " + tb + " (document and tree)");
  FUZZ_CHECK(json::to_string(da) == ta, "a document prints its canonical text differently: " + ta);
  std::string where;
  FUZZ_CHECK(fuzz::objects_sorted(a, where), where);
  return 0;
}
