// Compiles the JSON-Schema subset of SPEC §4 into a tree of nodes and
// validates states against it the way zod's parse does.
//
// Design notes:
// - Compile resolves everything once: type keywords become a bitmask, object
//   properties become a vector sorted by json::key_less (the order of
//   json::Object members), so validating an object is one merge-walk over the
//   state's sorted members and the schema's sorted properties.
// - Validation mutates in place (strip unknown keys, insert defaults). A valid
//   state that needs no normalising is checked without allocating; only an
//   object that changes is rebuilt (one new member vector).
// - Errors are values. On failure the state may already be partly normalised
//   (keys stripped or defaults added elsewhere in the tree); it never gains
//   data that the schema does not allow. Callers discard it.
// - "First bad field" follows zod: zod checks an object's properties in
//   declaration order, then unknown keys. JSON objects here are sorted, so the
//   declaration order is lost; `required` keeps it for required properties
//   (zod writes `required` in declaration order), so properties rank by their
//   position in `required`, then the optional ones in key order.
// - `pattern` (an ECMAScript regular expression) and a `format` without a
//   pattern are string tests the schema lists (string_tests()) and the
//   caller runs: the core decides which string needs which test and what a
//   failure means; the JavaScript host runs the RegExp (the core carries no
//   regex engine). zod writes a pattern beside every format it checks with
//   one, so then the pattern is the test.
// - Every keyword is either enforced or an annotation (title, description,
//   examples, $schema...); any other is an error at compile time naming it.
#include "schema/schema.hpp"

#include "json/detail.hpp"
#include "json/doc.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace er::schema {

namespace {

// Type bits. kInteger alone accepts numbers without a fractional part;
// kNumber accepts every finite number.
enum : std::uint8_t {
  kNull = 1,
  kBool = 2,
  kNumber = 4,
  kInteger = 8,
  kString = 16,
  kArray = 32,
  kObject = 64,
  kAllTypes = 127,
};

constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();
constexpr int kMaxDepth = 256;

// How an object treats keys that are not declared in `properties`.
enum class Extra : std::uint8_t {
  kStrip,   // additionalProperties false/absent: strip (or reject when strict)
  kAllow,   // additionalProperties true or {}: keep as is
  kSchema,  // additionalProperties is a schema: keep and validate
};

}  // namespace

struct Prop {
  std::string key;
  const Node* node;
  bool required;
  std::uint32_t rank;  // zod's check order (see the file comment)
};

struct Node {
  std::uint8_t types = kAllTypes;    // the `type` keyword
  std::uint8_t accepts = kAllTypes;  // types this node can accept at all
  bool trivial = true;               // accepts anything and never changes it
  bool never = false;                // the `false` schema
  bool may_change = true;            // validating may strip keys or insert defaults

  // enum / const (a const is a one-value enum)
  bool has_enum = false;
  std::vector<json::Value> enum_values;

  // strings: lengths in Unicode code points (what zod counts)
  std::size_t min_length = 0;
  std::size_t max_length = kNoLimit;

  // numbers
  bool has_range = false;
  double minimum = -std::numeric_limits<double>::infinity();
  double maximum = std::numeric_limits<double>::infinity();
  bool minimum_exclusive = false;
  bool maximum_exclusive = false;
  double multiple_of = 0;

  // objects
  bool object_part = false;  // any object keyword present
  std::vector<Prop> props;   // sorted by json::key_less
  Extra extra = Extra::kAllow;
  const Node* extra_node = nullptr;
  const Node* names = nullptr;  // propertyNames
  bool names_closed = false;    // propertyNames lists the allowed keys (enum)
  std::size_t min_props = 0;
  std::size_t max_props = kNoLimit;
  std::uint32_t unknown_rank = 0;  // after every declared property

  // arrays
  bool array_part = false;
  std::vector<const Node*> prefix;  // prefixItems (tuples)
  const Node* items = nullptr;      // nullptr: anything
  bool closed_tuple = false;        // items: false
  std::size_t min_items = 0;
  std::size_t max_items = kNoLimit;

  // anyOf / oneOf: valid when any branch matches (the first one wins)
  std::vector<const Node*> branches;
  bool branches_one_of = false;
  // nullable(X) as zod writes it: anyOf [X, {type:"null"}]. Errors inside X
  // are reported inside X, as zod's nullable does.
  const Node* nullable_inner = nullptr;
  // oneOf from z.discriminatedUnion: the branch is chosen by one key.
  std::string disc_key;
  std::vector<std::pair<json::Value, const Node*>> disc_map;

  std::vector<const Node*> all_of;   // each must hold (checked, never normalising)
  const Node* not_node = nullptr;    // `not`: must fail
  bool unique_items = false;         // `uniqueItems`
  std::vector<std::uint32_t> tests;  // string tests (Schema::string_tests indices)
  const Node* ref = nullptr;         // $ref target

  bool has_default = false;
  json::Value default_value;

  std::uint8_t mark = 0;  // compile-time scratch
};

namespace {

// -------------------------------------------------------------- paths

struct Seg {
  std::string key;
  std::size_t index = 0;
  bool is_index = false;
};

bool is_identifier(std::string_view k) {
  if (k.empty()) return false;
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$'; };
  if (!head(k[0])) return false;
  for (char c : k.substr(1))
    if (!head(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

void append_seg(const Seg& s, std::string& out) {
  if (s.is_index) {
    out += '[';
    out += std::to_string(s.index);
    out += ']';
  } else if (is_identifier(s.key)) {
    if (!out.empty()) out += '.';
    out += s.key;
  } else {
    out += '[';
    json::write_string(s.key, out);
    out += ']';
  }
}

// JavaScript-style path ("metadata.tags[2]", `metadata["a b"]`).
template <typename It>
std::string format_path(It begin, It end) {
  std::string out;
  for (It it = begin; it != end; ++it) append_seg(*it, out);
  return out;
}

std::string quoted(std::string_view s) {
  std::string out;
  json::write_string(s, out);
  return out;
}

// ------------------------------------------------------------ messages

const char* type_name(json::Type t) {
  switch (t) {
    case json::Type::Null:
      return "null";
    case json::Type::Bool:
      return "boolean";
    case json::Type::Number:
      return "number";
    case json::Type::String:
      return "string";
    case json::Type::Array:
      return "array";
    case json::Type::Object:
      return "object";
  }
  return "value";
}

std::string mask_names(std::uint8_t mask) {
  static constexpr std::pair<std::uint8_t, const char*> kNames[] = {
      {kObject, "object"},   {kArray, "array"},  {kString, "string"}, {kNumber, "number"},
      {kInteger, "integer"}, {kBool, "boolean"}, {kNull, "null"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(mask & bit)) continue;
    if (bit == kInteger && (mask & kNumber)) continue;
    if (!out.empty()) out += " | ";
    out += name;
  }
  return out.empty() ? "nothing" : out;
}

std::string number_text(double n) {
  std::string out;
  json::write_number(n, out);
  return out;
}

std::string enum_text(const std::vector<json::Value>& values) {
  if (values.size() == 1) return "expected " + json::to_string(values[0]);
  if (values.empty()) return "no value is allowed here";
  std::string out = "expected one of ";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i == 10) {
      out += ", ...";
      break;
    }
    if (i) out += ", ";
    json::write(values[i], out);
  }
  return out;
}

// --------------------------------------------------------- value views
//
// The validator runs over two kinds of value: a json::Value tree it may
// normalise in place (cold paths) and a read-only json::Doc node (the write
// path). One template serves both; a Doc view reports "would normalise"
// (Ctx::changed) instead of changing anything, and the caller then takes
// the tree path for that state.

// A node of a document.
struct DocView {
  const json::Doc* d;
  std::uint32_t i;
};

json::Type type_of(const json::Value& v) { return v.type(); }
json::Type type_of(DocView v) { return v.d->type(v.i); }
double number_of(const json::Value& v) { return v.as_number(); }
double number_of(DocView v) { return v.d->number(v.i); }
std::string_view string_of(const json::Value& v) { return v.as_string(); }
std::string_view string_of(DocView v) { return v.d->str(v.i); }
bool equal_to(const json::Value& a, const json::Value& v) { return json::equal(a, v); }
bool equal_to(const json::Value& a, DocView v) { return json::equal(*v.d, v.i, a); }

// Object members in key order.
std::size_t member_count(json::Value& v) { return v.as_object().size(); }
std::size_t member_count(DocView v) { return v.d->size(v.i); }
std::string_view member_key(json::Value& v, std::size_t k) { return v.as_object()[k].key; }
std::string_view member_key(DocView v, std::size_t k) { return v.d->key(v.i, static_cast<std::uint32_t>(k)); }
json::Value& member_value(json::Value& v, std::size_t k) { return v.as_object()[k].value; }
DocView member_value(DocView v, std::size_t k) { return DocView{v.d, v.d->value(v.i, static_cast<std::uint32_t>(k))}; }
json::Value* find_member(json::Value& v, std::string_view key) { return v.find(key); }
std::optional<DocView> find_member(DocView v, std::string_view key) {
  const std::uint32_t i = v.d->find(v.i, key);
  if (i == json::Doc::kNone) return std::nullopt;
  return DocView{v.d, i};
}

// Array items, in order: f(index, item) until it returns false.
std::size_t item_count(json::Value& v) { return v.as_array().size(); }
std::size_t item_count(DocView v) { return v.d->size(v.i); }
template <typename F>
bool each_item(json::Value& v, F&& f) {
  auto& items = v.as_array();
  for (std::size_t k = 0; k < items.size(); ++k)
    if (!f(k, items[k])) return false;
  return true;
}
template <typename F>
bool each_item(DocView v, F&& f) {
  const std::uint32_t end = v.d->end(v.i);
  std::size_t k = 0;
  for (std::uint32_t i = v.d->first_item(v.i); i < end; i = v.d->end(i), ++k)
    if (!f(k, DocView{v.d, i})) return false;
  return true;
}

// --------------------------------------------------------- value checks

bool is_integral(double n) { return std::isfinite(n) && std::trunc(n) == n; }

std::uint8_t type_bit(json::Type t) {
  switch (t) {
    case json::Type::Null:
      return kNull;
    case json::Type::Bool:
      return kBool;
    case json::Type::Number:
      return kNumber;
    case json::Type::String:
      return kString;
    case json::Type::Array:
      return kArray;
    case json::Type::Object:
      return kObject;
  }
  return 0;
}

template <typename V>
bool type_ok(std::uint8_t mask, const V& v) {
  const std::uint8_t bit = type_bit(type_of(v));
  if (bit != kNumber) return (mask & bit) != 0;
  const double n = number_of(v);
  if (!std::isfinite(n)) return false;  // NaN/Infinity never come from JSON
  return (mask & kNumber) || ((mask & kInteger) && is_integral(n));
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

template <typename V>
bool in_enum(const Node& n, const V& v) {
  for (const auto& e : n.enum_values)
    if (equal_to(e, v)) return true;
  return false;
}

// The string constraints of `n` on `s`; nullopt when fine.
std::optional<std::string> string_problem(const Node& n, std::string_view s) {
  if (n.min_length == 0 && n.max_length == kNoLimit) return std::nullopt;
  // bytes / 4 <= code points <= bytes: most checks need no counting.
  if (s.size() <= n.max_length && (n.min_length == 0 || s.size() / 4 >= n.min_length)) return std::nullopt;
  const std::size_t len = code_points(s);
  if (len < n.min_length)
    return "too short: expected at least " + std::to_string(n.min_length) + " character(s), received " +
           std::to_string(len);
  if (len > n.max_length)
    return "too long: expected at most " + std::to_string(n.max_length) + " character(s), received " +
           std::to_string(len);
  return std::nullopt;
}

std::optional<std::string> number_problem(const Node& n, double x) {
  if (!n.has_range) return std::nullopt;
  if (n.minimum_exclusive ? !(x > n.minimum) : !(x >= n.minimum))
    return std::string("too small: expected ") + (n.minimum_exclusive ? "> " : ">= ") + number_text(n.minimum) +
           ", received " + number_text(x);
  if (n.maximum_exclusive ? !(x < n.maximum) : !(x <= n.maximum))
    return std::string("too big: expected ") + (n.maximum_exclusive ? "< " : "<= ") + number_text(n.maximum) +
           ", received " + number_text(x);
  if (n.multiple_of > 0) {
    const double q = x / n.multiple_of;
    if (!std::isfinite(q) || std::fabs(q - std::round(q)) > 1e-9 * std::max(1.0, std::fabs(q)))
      return "expected a multiple of " + number_text(n.multiple_of) + ", received " + number_text(x);
  }
  return std::nullopt;
}

// A key checked against propertyNames: type, enum and lengths (the parts
// zod emits for record keys).
std::optional<std::string> key_problem(const Node& n, std::string_view key, const StringTester* tester,
                                       const std::vector<std::string>& test_names) {
  if (n.trivial) return std::nullopt;
  for (std::uint32_t t : n.tests)
    if (!tester || !(*tester)(t, key)) return "does not match " + test_names.at(t);
  if (n.never) return "no key is allowed here";
  if (!(n.types & kString)) return "keys are strings, expected " + mask_names(n.types);
  if (n.has_enum) {
    bool found = false;
    for (const auto& e : n.enum_values)
      if (e.is_string() && e.as_string() == key) found = true;
    if (!found) return enum_text(n.enum_values);
  }
  return string_problem(n, key);
}

// ------------------------------------------------------------ validator

struct Failure {
  std::string message;
  std::vector<Seg> rpath;  // innermost segment first
};

struct Ctx {
  const StringTester* tester = nullptr;
  const std::vector<std::string>* test_names = nullptr;  // for messages
  bool strict = false;
  bool dry = false;    // check only: never normalise
  bool report = true;  // build messages and paths
  bool changed = false;
  int depth = 0;
  Failure failure;
};

template <typename Make>
bool fail(Ctx& c, Make&& make) {
  if (c.report) {
    c.failure.message = make();
    c.failure.rpath.clear();
  }
  return false;
}

void push_key(Ctx& c, std::string_view key) {
  if (c.report) c.failure.rpath.push_back(Seg{std::string(key), 0, false});
}

void push_index(Ctx& c, std::size_t i) {
  if (c.report) c.failure.rpath.push_back(Seg{{}, i, true});
}

template <typename V>
bool check(const Node& n, V& v, Ctx& c);

int compare_keys(std::string_view a, std::string_view b) {
  if (a.size() == b.size() && json::detail::same_bytes(a.data(), b.data(), a.size())) return 0;
  return json::key_less(a, b) ? -1 : 1;
}

// Remembers the lowest-ranked failure of an object's fields.
struct Best {
  bool failed = false;
  std::uint32_t rank = 0;
  Failure failure;

  bool wants(std::uint32_t r) const { return !failed || r < rank; }
  void take(std::uint32_t r, Ctx& c) {
    failed = true;
    rank = r;
    if (c.report) failure = std::move(c.failure);
  }
};

// The string tests of node n (pattern, format) on s, through the caller's
// tester; without one, a test cannot pass.
bool run_tests(const Node& n, std::string_view s, Ctx& c) {
  for (std::uint32_t t : n.tests) {
    if (c.tester && (*c.tester)(t, s)) continue;
    return fail(c, [&] {
      return c.tester ? "does not match " + c.test_names->at(t) : "needs the host to check " + c.test_names->at(t);
    });
  }
  return true;
}

// uniqueItems: no two items structurally equal (zod's arrays carry no such
// rule; JSON Schema's does).
bool all_unique(json::Value& arr, Ctx& c) {
  const auto& items = arr.as_array();
  for (std::size_t i = 1; i < items.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (json::equal(items[i], items[j]))
        return fail(
            c, [&] { return "items " + std::to_string(j) + " and " + std::to_string(i) + " are equal (uniqueItems)"; });
  return true;
}
bool all_unique(DocView arr, Ctx& c) {
  std::vector<std::uint32_t> nodes;
  for (std::uint32_t i = arr.d->first_item(arr.i); i < arr.d->end(arr.i); i = arr.d->end(i)) nodes.push_back(i);
  for (std::size_t i = 1; i < nodes.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (json::equal(*arr.d, nodes[i], *arr.d, nodes[j]))
        return fail(
            c, [&] { return "items " + std::to_string(j) + " and " + std::to_string(i) + " are equal (uniqueItems)"; });
  return true;
}

// Applies the strip/default decisions of check_object to a tree (one
// merge-walk again, moving kept members into a new vector). A document
// cannot change: it only reports that it would.
void normalise_object(const Node& n, json::Value& v, std::size_t count) {
  json::Object& obj = v.as_object();
  const auto& props = n.props;
  const bool strip = n.extra == Extra::kStrip;
  json::Object out;
  out.reserve(count);
  std::size_t i = 0, j = 0;
  while (i < obj.size() || j < props.size()) {
    const int cmp = i == obj.size() ? 1 : j == props.size() ? -1 : compare_keys(obj[i].key, props[j].key);
    if (cmp == 0) {
      out.push_back(std::move(obj[i]));
      ++i;
      ++j;
    } else if (cmp > 0) {
      if (props[j].node->has_default) out.push_back(json::Member{props[j].key, props[j].node->default_value});
      ++j;
    } else {
      if (!strip) out.push_back(std::move(obj[i]));
      ++i;
    }
  }
  obj.swap(out);
}
void normalise_object(const Node&, DocView, std::size_t) {}

template <typename V>
bool check_object(const Node& n, V& obj, Ctx& c) {
  // A record of anything (zod's z.record(z.string(), z.unknown())): no
  // member to look at.
  if (n.props.empty() && n.extra == Extra::kAllow && !n.names && n.min_props == 0 && n.max_props == kNoLimit)
    return true;
  const auto& props = n.props;
  const bool strip = n.extra == Extra::kStrip;
  const std::size_t size = member_count(obj);
  std::size_t i = 0, j = 0, stripped = 0, inserted = 0;
  Best best;
  while (i < size || j < props.size()) {
    const int cmp = i == size ? 1 : j == props.size() ? -1 : compare_keys(member_key(obj, i), props[j].key);
    if (cmp == 0) {  // a declared property
      const Prop& p = props[j];
      auto&& value = member_value(obj, i);
      if (!p.node->trivial && best.wants(p.rank) && !check(*p.node, value, c)) {
        if (!c.report) return false;
        push_key(c, p.key);
        best.take(p.rank, c);
      }
      ++i;
      ++j;
    } else if (cmp > 0) {  // declared, absent from the state
      const Prop& p = props[j];
      if (p.node->has_default) {
        ++inserted;
      } else if (p.required && best.wants(p.rank)) {
        fail(c, [&] {
          const std::uint8_t m = p.node->accepts;
          return m == kAllTypes ? std::string("missing required property")
                                : "missing required property (expected " + mask_names(m) + ")";
        });
        if (!c.report) return false;
        push_key(c, p.key);
        best.take(p.rank, c);
      }
      ++j;
    } else {  // a key the schema does not declare
      const std::string_view key = member_key(obj, i);
      if (best.failed && !best.wants(n.unknown_rank)) {
        // an earlier field already failed: nothing left to learn here
      } else if (strip) {
        if (c.strict) {
          fail(c, [&] { return "unknown key " + quoted(key); });
          if (!c.report) return false;
          best.take(n.unknown_rank, c);
        } else {
          ++stripped;
        }
      } else {
        if (n.names) {
          if (auto problem = key_problem(*n.names, key, c.tester, *c.test_names)) {
            if (!c.report) return false;
            if (n.names_closed) {
              fail(c, [&] { return "unknown key " + quoted(key); });
            } else {
              fail(c, [&] { return "invalid key: " + *problem; });
              push_key(c, key);
            }
            best.take(n.unknown_rank, c);
            ++i;
            continue;
          }
        }
        if (n.extra == Extra::kSchema && !n.extra_node->trivial) {
          auto&& value = member_value(obj, i);
          if (!check(*n.extra_node, value, c)) {
            if (!c.report) return false;
            push_key(c, key);
            best.take(n.unknown_rank, c);
          }
        }
      }
      ++i;
    }
  }
  if (best.failed) {
    c.failure = std::move(best.failure);
    return false;
  }
  const std::size_t count = size - stripped + inserted;
  if (count < n.min_props)
    return fail(c, [&] {
      return "too few properties: expected at least " + std::to_string(n.min_props) + ", received " +
             std::to_string(count);
    });
  if (count > n.max_props)
    return fail(c, [&] {
      return "too many properties: expected at most " + std::to_string(n.max_props) + ", received " +
             std::to_string(count);
    });
  if ((stripped == 0 && inserted == 0) || c.dry) return true;
  normalise_object(n, obj, count);
  c.changed = true;
  return true;
}

template <typename V>
bool check_array(const Node& n, V& arr, Ctx& c) {
  const std::size_t size = item_count(arr);
  auto too_few = [&] {
    return "too few items: expected at least " + std::to_string(n.min_items) + ", received " + std::to_string(size);
  };
  auto too_many = [&](std::size_t max) {
    return "too many items: expected at most " + std::to_string(max) + ", received " + std::to_string(size);
  };
  // A closed tuple checks its length first (as zod's tuple does).
  if (n.closed_tuple) {
    const std::size_t max = std::min(n.max_items, n.prefix.size());
    if (size > max) return fail(c, [&] { return too_many(max); });
    if (size < n.min_items) return fail(c, too_few);
  }
  const bool items_ok = each_item(arr, [&](std::size_t i, auto&& value) {
    const Node* item = i < n.prefix.size() ? n.prefix[i] : n.items;
    if (item && !item->trivial && !check(*item, value, c)) {
      push_index(c, i);
      return false;
    }
    return true;
  });
  if (!items_ok) return false;
  if (size < n.min_items) return fail(c, too_few);
  if (size > n.max_items) return fail(c, [&] { return too_many(n.max_items); });
  if (n.unique_items && !all_unique(arr, c)) return false;
  return true;
}

// Runs `n` on `v` without normalising and without building messages.
template <typename V>
bool trial(const Node& n, V& v, Ctx& c) {
  const bool dry = c.dry, report = c.report;
  c.dry = true;
  c.report = false;
  const bool ok = check(n, v, c);
  c.dry = dry;
  c.report = report;
  return ok;
}

template <typename V>
bool check_branches(const Node& n, V& v, Ctx& c) {
  if (!n.disc_key.empty()) {
    if (type_of(v) != json::Type::Object)
      return fail(c, [&] { return std::string("expected object, received ") + type_name(type_of(v)); });
    const auto tag = find_member(v, n.disc_key);
    const Node* branch = nullptr;
    if (tag)
      for (const auto& [value, node] : n.disc_map)
        if (equal_to(value, *tag)) {
          branch = node;
          break;
        }
    if (!branch) {
      fail(c, [&] {
        std::vector<json::Value> values;
        for (const auto& entry : n.disc_map) values.push_back(entry.first);
        return "invalid discriminator: " + enum_text(values) +
               (tag ? std::string(", received ") + type_name(type_of(*tag)) : std::string(", received undefined"));
      });
      push_key(c, n.disc_key);
      return false;
    }
    return check(*branch, v, c);
  }
  if (n.nullable_inner) {
    if (type_of(v) == json::Type::Null) return true;
    if (!type_ok(n.nullable_inner->accepts, v))
      return fail(c, [&] {
        return "expected " + mask_names(n.nullable_inner->accepts | kNull) + ", received " + type_name(type_of(v));
      });
    return check(*n.nullable_inner, v, c);
  }
  const Node* single = nullptr;
  std::size_t candidates = 0;
  std::uint8_t all = 0;
  for (const Node* b : n.branches) {
    all |= b->accepts;
    if (type_ok(b->accepts, v)) {
      ++candidates;
      if (!single) single = b;
    }
  }
  if (candidates == 0)
    return fail(c, [&] { return "expected " + mask_names(all) + ", received " + type_name(type_of(v)); });
  auto no_match = [&](std::string detail) {
    return fail(c, [&] {
      return "matches none of the allowed schemas (" +
             (n.branches_one_of ? std::string("oneOf") : std::string("anyOf")) + ")" +
             (detail.empty() ? std::string() : ": " + detail);
    });
  };
  if (candidates == 1) {
    if (check(*single, v, c)) return true;
    if (!c.report) return false;
    std::string detail = format_path(c.failure.rpath.rbegin(), c.failure.rpath.rend());
    detail = (detail.empty() ? std::string() : detail + ": ") + c.failure.message;
    return no_match(std::move(detail));
  }
  for (const Node* b : n.branches) {
    if (!type_ok(b->accepts, v) || !trial(*b, v, c)) continue;
    if (c.dry || !b->may_change) return true;
    return check(*b, v, c);  // the same checks pass again, now normalising
  }
  return no_match({});
}

template <typename V>
bool check(const Node& n, V& v, Ctx& c) {
  if (n.trivial) return true;
  if (n.never) return fail(c, [] { return std::string("no value is allowed here"); });
  const json::Type type = type_of(v);
  if (!type_ok(n.types, v))
    return fail(c, [&] {
      if (type == json::Type::Number && !std::isfinite(number_of(v)))
        return "expected " + mask_names(n.types) + ", received a non-finite number";
      return "expected " + mask_names(n.types) + ", received " + type_name(type);
    });
  if (n.has_enum && !in_enum(n, v)) return fail(c, [&] { return enum_text(n.enum_values); });
  switch (type) {
    case json::Type::String:
      if (auto problem = string_problem(n, string_of(v))) return fail(c, [&] { return std::move(*problem); });
      if (!n.tests.empty() && !run_tests(n, string_of(v), c)) return false;
      break;
    case json::Type::Number:
      if (auto problem = number_problem(n, number_of(v))) return fail(c, [&] { return std::move(*problem); });
      break;
    case json::Type::Array:
      if (n.array_part) {
        if (++c.depth > 2 * kMaxDepth) return fail(c, [] { return std::string("nests too deep"); });
        const bool ok = check_array(n, v, c);
        --c.depth;
        if (!ok) return false;
      }
      break;
    case json::Type::Object:
      if (n.object_part) {
        if (++c.depth > 2 * kMaxDepth) return fail(c, [] { return std::string("nests too deep"); });
        const bool ok = check_object(n, v, c);
        --c.depth;
        if (!ok) return false;
      }
      break;
    default:
      break;
  }
  auto all_of_holds = [&] {
    for (const Node* part : n.all_of) {
      const bool dry = c.dry;
      c.dry = true;
      const bool ok = check(*part, v, c);
      c.dry = dry;
      if (!ok) return false;
    }
    return true;
  };
  if (!all_of_holds()) return false;
  if (n.not_node && trial(*n.not_node, v, c))
    return fail(c, [] { return std::string("matches a schema it must not match (not)"); });
  if (n.ref) {
    if (++c.depth > 2 * kMaxDepth) return fail(c, [] { return std::string("nests too deep"); });
    const bool ok = check(*n.ref, v, c);
    --c.depth;
    if (!ok) return false;
  }
  if (!n.branches.empty() || !n.disc_key.empty()) {
    if (!check_branches(n, v, c)) return false;
  }
  // $ref and branches may have normalised v (defaults added, keys kept or
  // stripped): allOf must hold for the state validation hands back too.
  if (!c.dry && !n.all_of.empty() && (n.ref || !n.branches.empty() || !n.disc_key.empty())) return all_of_holds();
  return true;
}

// ------------------------------------------------------------- compiler

struct Arena {
  std::deque<Node> nodes;  // stable addresses
  Node* make() { return &nodes.emplace_back(); }
};

class Compiler {
 public:
  Compiler(const json::Value& root, std::string_view kind, Arena& arena) : root_(root), kind_(kind), arena_(arena) {}

  std::optional<Error> error;
  std::vector<StringTest> tests;  // what string_tests() lists
  std::vector<std::string> test_names;

  Node* compile_root() {
    Node* node = arena_.make();
    refs_.emplace_back(std::string(), node);
    if (!fill(node, root_, 0)) return nullptr;
    finish();
    return node;
  }

 private:
  const json::Value& root_;
  std::string_view kind_;
  Arena& arena_;
  std::vector<Seg> path_;
  std::vector<std::pair<std::string, Node*>> refs_;  // JSON pointer → node
  Node* trivial_ = nullptr;

  std::string where() const {
    std::string p = format_path(path_.begin(), path_.end());
    return p.empty() ? "(root)" : p;
  }

  bool bad(std::string what) {
    if (!error)
      error = make_error(Code::ER_BAD_SCHEMA, "kind " + quoted(kind_) + ": " + what,
                         format_path(path_.begin(), path_.end()));
    return false;
  }

  bool bad_keyword(std::string_view keyword, std::string_view expected, const json::Value& got) {
    return bad(quoted(keyword) + " at " + where() + " must be " + std::string(expected) + ", received " +
               type_name(got.type()));
  }

  Node* trivial() {
    if (!trivial_) trivial_ = arena_.make();
    return trivial_;
  }

  // A sub-schema at keyword / key (pushed onto the path while compiling).
  const Node* sub(const json::Value& s, int depth, std::string_view k1,
                  std::optional<std::string_view> k2 = std::nullopt, std::optional<std::size_t> index = std::nullopt) {
    path_.push_back(Seg{std::string(k1), 0, false});
    if (k2) path_.push_back(Seg{std::string(*k2), 0, false});
    if (index) path_.push_back(Seg{{}, *index, true});
    const Node* node = compile(s, depth + 1);
    if (index) path_.pop_back();
    if (k2) path_.pop_back();
    path_.pop_back();
    return node;
  }

  const Node* compile(const json::Value& s, int depth) {
    if (depth > kMaxDepth) {
      bad("schema at " + where() + " nests deeper than " + std::to_string(kMaxDepth) + " levels");
      return nullptr;
    }
    if (s.is_bool()) {
      if (s.as_bool()) return trivial();
      Node* node = arena_.make();
      node->never = true;
      node->trivial = false;
      return node;
    }
    if (!s.is_object()) {
      bad("schema at " + where() + " must be an object or boolean, received " + type_name(s.type()));
      return nullptr;
    }
    Node* node = arena_.make();
    return fill(node, s, depth) ? node : nullptr;
  }

  static bool read_count(const json::Value& v, std::size_t& out) {
    if (!v.is_number()) return false;
    const double n = v.as_number();
    if (!is_integral(n) || n < 0) return false;
    out = n >= 1.8e19 ? kNoLimit : static_cast<std::size_t>(n);
    return true;
  }

  bool fill_type(Node* node, const json::Value& t) {
    auto bit_of = [](std::string_view name) -> std::uint8_t {
      if (name == "string") return kString;
      if (name == "number") return kNumber;
      if (name == "integer") return kInteger;
      if (name == "boolean") return kBool;
      if (name == "null") return kNull;
      if (name == "object") return kObject;
      if (name == "array") return kArray;
      return 0;
    };
    std::uint8_t mask = 0;
    if (t.is_string()) {
      mask = bit_of(t.as_string());
      if (!mask) return bad("unknown type " + quoted(t.as_string()) + " at " + where());
    } else if (t.is_array() && !t.as_array().empty()) {
      for (const auto& e : t.as_array()) {
        const std::uint8_t bit = e.is_string() ? bit_of(e.as_string()) : 0;
        if (!bit) return bad_keyword("type", "a type name or an array of type names", e);
        mask |= bit;
      }
    } else {
      return bad_keyword("type", "a type name or a non-empty array of type names", t);
    }
    node->types = mask;
    return true;
  }

  bool fill_numbers(Node* node, const json::Value& s) {
    const json::Value* minimum = s.find("minimum");
    const json::Value* maximum = s.find("maximum");
    const json::Value* xmin = s.find("exclusiveMinimum");
    const json::Value* xmax = s.find("exclusiveMaximum");
    const json::Value* mult = s.find("multipleOf");
    if (!minimum && !maximum && !xmin && !xmax && !mult) return true;
    node->has_range = true;
    if (minimum) {
      if (!minimum->is_number()) return bad_keyword("minimum", "a number", *minimum);
      node->minimum = minimum->as_number();
    }
    if (maximum) {
      if (!maximum->is_number()) return bad_keyword("maximum", "a number", *maximum);
      node->maximum = maximum->as_number();
    }
    if (xmin) {
      if (xmin->is_bool()) {  // draft 4: a flag on minimum
        node->minimum_exclusive = xmin->as_bool() && minimum;
      } else if (xmin->is_number()) {
        if (xmin->as_number() >= node->minimum) {
          node->minimum = xmin->as_number();
          node->minimum_exclusive = true;
        }
      } else {
        return bad_keyword("exclusiveMinimum", "a number", *xmin);
      }
    }
    if (xmax) {
      if (xmax->is_bool()) {
        node->maximum_exclusive = xmax->as_bool() && maximum;
      } else if (xmax->is_number()) {
        if (xmax->as_number() <= node->maximum) {
          node->maximum = xmax->as_number();
          node->maximum_exclusive = true;
        }
      } else {
        return bad_keyword("exclusiveMaximum", "a number", *xmax);
      }
    }
    if (mult) {
      if (!mult->is_number() || !(mult->as_number() > 0)) return bad_keyword("multipleOf", "a number above 0", *mult);
      node->multiple_of = mult->as_number();
    }
    return true;
  }

  bool fill_object(Node* node, const json::Value& s, int depth) {
    const json::Value* props = s.find("properties");
    const json::Value* required = s.find("required");
    const json::Value* additional = s.find("additionalProperties");
    const json::Value* names = s.find("propertyNames");
    const json::Value* min_props = s.find("minProperties");
    const json::Value* max_props = s.find("maxProperties");
    if (!props && !required && !additional && !names && !min_props && !max_props) return true;
    node->object_part = true;

    // Without `properties` and `additionalProperties` a schema says nothing
    // about extra keys (plain JSON Schema: any object), so they are kept.
    node->extra = props ? Extra::kStrip : Extra::kAllow;
    if (additional) {
      if (additional->is_bool()) {
        node->extra = additional->as_bool() ? Extra::kAllow : Extra::kStrip;
      } else {
        const Node* extra = sub(*additional, depth, "additionalProperties");
        if (!extra) return false;
        node->extra = extra->trivial ? Extra::kAllow : Extra::kSchema;
        node->extra_node = extra;
      }
    }
    if (names) {
      const Node* n = sub(*names, depth, "propertyNames");
      if (!n) return false;
      // {type: "string"} (what zod writes for a record's keys) says nothing
      // about a key: keys are strings.
      const bool any_string = (n->types & kString) && !n->has_enum && !n->never && n->min_length == 0 &&
                              n->max_length == kNoLimit && n->branches.empty() && n->all_of.empty() && !n->ref &&
                              n->disc_key.empty() && n->tests.empty() && !n->not_node;
      if (!n->trivial && !any_string) {
        node->names = n;
        node->names_closed = n->has_enum;
      }
    }
    if (min_props && !read_count(*min_props, node->min_props))
      return bad_keyword("minProperties", "a non-negative integer", *min_props);
    if (max_props && !read_count(*max_props, node->max_props))
      return bad_keyword("maxProperties", "a non-negative integer", *max_props);

    if (props) {
      if (!props->is_object()) return bad_keyword("properties", "an object", *props);
      for (const auto& m : props->as_object()) {  // already sorted by key_less
        const Node* p = sub(m.value, depth, "properties", m.key);
        if (!p) return false;
        node->props.push_back(Prop{m.key, p, false, 0});
      }
    }
    std::uint32_t next_rank = 0;
    if (required) {
      if (!required->is_array()) return bad_keyword("required", "an array of strings", *required);
      for (const auto& r : required->as_array()) {
        if (!r.is_string()) return bad_keyword("required", "an array of strings", r);
        const std::string& key = r.as_string();
        auto it = std::lower_bound(node->props.begin(), node->props.end(), key,
                                   [](const Prop& p, const std::string& k) { return json::key_less(p.key, k); });
        if (it != node->props.end() && it->key == key) {
          if (!it->required) {
            it->required = true;
            it->rank = next_rank++;
          }
          continue;
        }
        // Required but not in `properties`: JSON Schema checks it with
        // additionalProperties (zod's record over an enum of keys).
        const Node* value_node = node->extra == Extra::kSchema ? node->extra_node : static_cast<const Node*>(trivial());
        node->props.insert(it, Prop{key, value_node, true, next_rank++});
      }
    }
    for (auto& p : node->props)
      if (!p.required) p.rank = next_rank++;
    node->unknown_rank = next_rank;
    return true;
  }

  bool fill_array(Node* node, const json::Value& s, int depth) {
    const json::Value* items = s.find("items");
    const json::Value* prefix = s.find("prefixItems");
    const json::Value* additional = s.find("additionalItems");
    const json::Value* min_items = s.find("minItems");
    const json::Value* max_items = s.find("maxItems");
    if (!items && !prefix && !min_items && !max_items) return true;
    node->array_part = true;
    auto read_prefix = [&](const json::Value& list, std::string_view keyword) {
      for (std::size_t i = 0; i < list.as_array().size(); ++i) {
        const Node* p = sub(list.as_array()[i], depth, keyword, std::nullopt, i);
        if (!p) return false;
        node->prefix.push_back(p);
      }
      return true;
    };
    auto read_rest = [&](const json::Value& rest, std::string_view keyword) {
      if (rest.is_bool() && !rest.as_bool()) {
        node->closed_tuple = true;
        return true;
      }
      const Node* n = sub(rest, depth, keyword);
      if (!n) return false;
      node->items = n->trivial ? nullptr : n;
      return true;
    };
    if (prefix) {
      if (!prefix->is_array()) return bad_keyword("prefixItems", "an array of schemas", *prefix);
      if (!read_prefix(*prefix, "prefixItems")) return false;
      if (items && !read_rest(*items, "items")) return false;
    } else if (items && items->is_array()) {  // draft 4-2019 tuples
      if (!read_prefix(*items, "items")) return false;
      if (additional && !read_rest(*additional, "additionalItems")) return false;
    } else if (items) {
      if (!read_rest(*items, "items")) return false;
    }
    if (min_items && !read_count(*min_items, node->min_items))
      return bad_keyword("minItems", "a non-negative integer", *min_items);
    if (max_items && !read_count(*max_items, node->max_items))
      return bad_keyword("maxItems", "a non-negative integer", *max_items);
    return true;
  }

  bool fill_list(const json::Value& list, std::string_view keyword, int depth, std::vector<const Node*>& out) {
    if (!list.is_array() || list.as_array().empty()) return bad_keyword(keyword, "a non-empty array of schemas", list);
    for (std::size_t i = 0; i < list.as_array().size(); ++i) {
      const Node* n = sub(list.as_array()[i], depth, keyword, std::nullopt, i);
      if (!n) return false;
      out.push_back(n);
    }
    return true;
  }

  static bool null_only(const Node* n) {
    return n->types == kNull && !n->has_enum && !n->ref && n->branches.empty() && n->all_of.empty() && !n->never;
  }

  // z.discriminatedUnion: every branch an object with one required key whose
  // schema is a const/enum of scalars, no value shared between branches.
  static void find_discriminator(Node* node) {
    const auto& bs = node->branches;
    for (const Node* b : bs)
      if (b->types != kObject || !b->object_part) return;
    for (const Prop& candidate : bs[0]->props) {
      std::vector<std::pair<json::Value, const Node*>> map;
      bool usable = true;
      for (const Node* b : bs) {
        auto it = std::find_if(b->props.begin(), b->props.end(), [&](const Prop& p) { return p.key == candidate.key; });
        if (it == b->props.end() || !it->required || !it->node->has_enum) {
          usable = false;
          break;
        }
        for (const auto& v : it->node->enum_values) {
          if (v.is_array() || v.is_object()) usable = false;
          for (const auto& [seen, _] : map)
            if (json::equal(seen, v)) usable = false;
          map.emplace_back(v, b);
        }
        if (!usable) break;
      }
      if (usable) {
        node->disc_key = candidate.key;
        node->disc_map = std::move(map);
        return;
      }
    }
  }

  bool fill_branches(Node* node, const json::Value& s, int depth) {
    const json::Value* any_of = s.find("anyOf");
    const json::Value* one_of = s.find("oneOf");
    const json::Value* all_of = s.find("allOf");
    if (all_of && !fill_list(*all_of, "allOf", depth, node->all_of)) return false;
    if (any_of && one_of) {
      // Both must hold; keep the anyOf here and require the oneOf via allOf.
      Node* extra = arena_.make();
      extra->trivial = false;
      extra->branches_one_of = true;
      if (!fill_list(*one_of, "oneOf", depth, extra->branches)) return false;
      node->all_of.push_back(extra);
      one_of = nullptr;
    }
    const json::Value* list = any_of ? any_of : one_of;
    if (!list) return true;
    node->branches_one_of = list == one_of;
    if (!fill_list(*list, node->branches_one_of ? "oneOf" : "anyOf", depth, node->branches)) return false;
    const Node* inner = nullptr;
    std::size_t non_null = 0;
    for (const Node* b : node->branches)
      if (!null_only(b)) {
        ++non_null;
        inner = b;
      }
    if (non_null == 1 && node->branches.size() > 1) node->nullable_inner = inner;
    if (node->branches_one_of && node->branches.size() > 1 && !node->nullable_inner) find_discriminator(node);
    return true;
  }

  static std::size_t index_value(std::string_view digits) {
    std::size_t n = 0;
    for (char c : digits) n = n * 10 + static_cast<std::size_t>(c - '0');
    return n;
  }

  bool resolve_ref(Node* node, const json::Value& ref, int depth) {
    if (!ref.is_string()) return bad_keyword("$ref", "a string", ref);
    const std::string& text = ref.as_string();
    if (text.empty() || text[0] != '#')
      return bad("$ref " + quoted(text) + " at " + where() +
                 " is not supported (only local references such as \"#/$defs/x\")");
    // JSON pointer after '#': "/a/b", with ~0 ~1 and %XX escapes.
    std::string pointer;
    for (std::size_t i = 1; i < text.size(); ++i) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
        pointer += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
        i += 2;
      } else {
        pointer += text[i];
      }
    }
    for (const auto& [p, target] : refs_)
      if (p == pointer) {
        node->ref = target;
        return true;
      }
    if (!pointer.empty() && pointer[0] != '/')
      return bad("$ref " + quoted(text) + " at " + where() +
                 " is not supported (only JSON pointers such as \"#/$defs/x\")");
    const json::Value* at = &root_;
    std::vector<Seg> target_path;
    std::size_t pos = 1;
    while (!pointer.empty() && pos <= pointer.size()) {
      std::size_t end = pointer.find('/', pos);
      if (end == std::string::npos) end = pointer.size();
      std::string token;
      for (std::size_t i = pos; i < end; ++i) {
        if (pointer[i] == '~' && i + 1 < end && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
          token += pointer[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          token += pointer[i];
        }
      }
      if (at->is_object()) {
        at = at->find(token);
        target_path.push_back(Seg{token, 0, false});
      } else if (at->is_array() && !token.empty() && token.size() < 10 &&
                 token.find_first_not_of("0123456789") == std::string::npos &&
                 index_value(token) < at->as_array().size()) {
        const std::size_t index = index_value(token);
        at = &at->as_array()[index];
        target_path.push_back(Seg{{}, index, true});
      } else {
        at = nullptr;
      }
      if (!at) return bad("$ref " + quoted(text) + " at " + where() + " points to nothing");
      pos = end + 1;
    }
    Node* target = nullptr;
    std::vector<Seg> saved = std::move(path_);
    path_ = std::move(target_path);
    if (at->is_bool()) {
      target = const_cast<Node*>(compile(*at, depth + 1));
    } else if (at->is_object()) {
      if (depth + 1 > kMaxDepth) {
        bad("schema at " + where() + " nests deeper than " + std::to_string(kMaxDepth) + " levels");
      } else {
        target = arena_.make();
        refs_.emplace_back(pointer, target);  // before filling: refs may cycle
        if (!fill(target, *at, depth + 1)) target = nullptr;
      }
    } else {
      bad("schema at " + where() + " must be an object or boolean, received " + type_name(at->type()));
    }
    path_ = std::move(saved);
    if (!target) return false;
    node->ref = target;
    return true;
  }

  // The formats a host checks without a pattern (the JS package's own
  // checks); zod writes a pattern beside every other format it checks.
  static bool host_format(std::string_view f) {
    static constexpr std::string_view kFormats[] = {"email", "uuid", "uri",  "url",  "date-time",
                                                    "date",  "time", "ipv4", "ipv6", "jwt"};
    return std::find(std::begin(kFormats), std::end(kFormats), f) != std::end(kFormats);
  }

  std::uint32_t add_test(StringTest::Kind kind, const std::string& text) {
    for (std::size_t i = 0; i < tests.size(); ++i)
      if (tests[i].kind == kind && tests[i].text == text) return static_cast<std::uint32_t>(i);
    tests.push_back(StringTest{kind, text});
    test_names.push_back(kind == StringTest::Kind::Pattern ? "pattern /" + text + "/" : "format " + quoted(text));
    return static_cast<std::uint32_t>(tests.size() - 1);
  }

  // Keywords that are enforced, and annotations that change nothing.
  static bool known_keyword(std::string_view k) {
    static constexpr std::string_view kKnown[] = {
        "type", "properties", "required", "additionalProperties", "propertyNames", "items", "prefixItems",
        "additionalItems", "enum", "const", "anyOf", "oneOf", "allOf", "not", "minLength", "maxLength", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems",
        "minProperties", "maxProperties", "pattern", "format", "default", "nullable", "$ref", "$defs", "definitions",
        // annotations
        "$schema", "$id", "id", "$comment", "title", "description", "examples", "readOnly", "writeOnly", "deprecated",
        "contentEncoding", "contentMediaType"};
    return std::find(std::begin(kKnown), std::end(kKnown), k) != std::end(kKnown);
  }

  bool fill(Node* node, const json::Value& s, int depth) {
    // $defs/definitions are used through $ref; annotations change nothing;
    // every other keyword is enforced or refused.
    for (const auto& m : s.as_object())
      if (!known_keyword(m.key))
        return bad("unsupported keyword " + quoted(m.key) + " at " + where() +
                   " (a misspelling, or a JSON Schema keyword entity-reactor does not enforce)");
    bool constrained = false;
    if (const json::Value* t = s.find("type")) {
      if (!fill_type(node, *t)) return false;
      constrained = true;
    }
    if (const json::Value* n = s.find("nullable"); n && n->is_bool() && n->as_bool()) {
      node->types |= kNull;  // OpenAPI 3.0
    }
    if (const json::Value* e = s.find("enum")) {
      if (!e->is_array()) return bad_keyword("enum", "an array", *e);
      node->has_enum = true;
      node->enum_values = e->as_array();
      constrained = true;
    }
    if (const json::Value* k = s.find("const")) {
      if (node->has_enum) {
        std::vector<json::Value> kept;
        for (auto& v : node->enum_values)
          if (json::equal(v, *k)) kept.push_back(v);
        node->enum_values = std::move(kept);
      } else {
        node->enum_values = {*k};
      }
      node->has_enum = true;
      constrained = true;
    }
    const json::Value* pattern = s.find("pattern");
    if (pattern) {
      if (!pattern->is_string()) return bad_keyword("pattern", "a string (an ECMAScript regular expression)", *pattern);
      node->tests.push_back(add_test(StringTest::Kind::Pattern, pattern->as_string()));
      constrained = true;
    }
    if (const json::Value* format = s.find("format")) {
      if (!format->is_string()) return bad_keyword("format", "a string", *format);
      if (!pattern) {  // with a pattern, the pattern is the check (what zod does)
        if (!host_format(format->as_string()))
          return bad("format " + quoted(format->as_string()) + " at " + where() +
                     " cannot be checked: give a \"pattern\" with it (supported without one: email, uuid, uri, "
                     "url, date-time, date, time, ipv4, ipv6, jwt)");
        node->tests.push_back(add_test(StringTest::Kind::Format, format->as_string()));
        constrained = true;
      }
    }
    if (const json::Value* n = s.find("not")) {
      const Node* sub_node = sub(*n, depth, "not");
      if (!sub_node) return false;
      node->not_node = sub_node;
      constrained = true;
    }
    if (const json::Value* u = s.find("uniqueItems")) {
      if (!u->is_bool()) return bad_keyword("uniqueItems", "a boolean", *u);
      if (u->as_bool()) {
        node->unique_items = true;
        node->array_part = true;
        constrained = true;
      }
    }
    const json::Value* min_length = s.find("minLength");
    const json::Value* max_length = s.find("maxLength");
    if (min_length && !read_count(*min_length, node->min_length))
      return bad_keyword("minLength", "a non-negative integer", *min_length);
    if (max_length && !read_count(*max_length, node->max_length))
      return bad_keyword("maxLength", "a non-negative integer", *max_length);
    if (!fill_numbers(node, s) || !fill_object(node, s, depth) || !fill_array(node, s, depth) ||
        !fill_branches(node, s, depth))
      return false;
    if (const json::Value* ref = s.find("$ref"); ref && !resolve_ref(node, *ref, depth)) return false;
    if (const json::Value* d = s.find("default")) {
      node->has_default = true;
      node->default_value = *d;
    }
    constrained = constrained || min_length || max_length || node->has_range || node->object_part || node->array_part ||
                  !node->branches.empty() || !node->all_of.empty() || node->ref;
    node->trivial = !constrained;
    return true;
  }

  // Per node: which types it can accept (for choosing union branches) and
  // whether validating it can change a value. Refs may cycle: a node in
  // progress answers conservatively.
  struct Facts {
    std::uint8_t accepts;
    bool may_change;
  };

  static Facts facts(Node* n) {
    if (n->mark == 2) return {n->accepts, n->may_change};
    if (n->mark == 1) return {kAllTypes, true};
    n->mark = 1;
    std::uint8_t accepts = n->never ? 0 : n->types;
    bool change = n->object_part &&
                  (n->extra == Extra::kStrip ||
                   std::any_of(n->props.begin(), n->props.end(), [](const Prop& p) { return p.node->has_default; }));
    auto visit = [&](const Node* child) {
      const Facts f = facts(const_cast<Node*>(child));
      change = change || f.may_change;
      return f;
    };
    for (const auto& p : n->props) visit(p.node);
    if (n->extra_node) visit(n->extra_node);
    for (const Node* p : n->prefix) visit(p);
    if (n->items) visit(n->items);
    if (n->names) facts(const_cast<Node*>(n->names));
    for (const Node* a : n->all_of) accepts &= facts(const_cast<Node*>(a)).accepts;  // never normalises
    if (n->not_node) facts(const_cast<Node*>(n->not_node));                          // never normalises
    if (n->ref) accepts &= visit(n->ref).accepts;
    if (!n->branches.empty()) {
      std::uint8_t any = 0;
      for (const Node* b : n->branches) any |= visit(b).accepts;
      accepts &= any;
    }
    n->accepts = accepts;
    n->may_change = change;
    n->mark = 2;
    return {accepts, change};
  }

  void finish() {
    for (auto& n : arena_.nodes) facts(&n);
  }
};

// The root must be an object schema: `type: "object"` (or ["object"]).
std::optional<Error> check_root(const json::Value& schema, std::string_view kind) {
  const std::string prefix = "kind " + quoted(kind) + ": state schema must describe an object";
  if (!schema.is_object())
    return make_error(Code::ER_BAD_SCHEMA,
                      prefix + " (a JSON Schema with type \"object\"), received " +
                          (schema.is_null() ? std::string("null") : std::string(type_name(schema.type()))));
  const json::Value* type = schema.find("type");
  if (!type) return make_error(Code::ER_BAD_SCHEMA, prefix + " (type \"object\"), received a schema without \"type\"");
  const bool object = (type->is_string() && type->as_string() == "object") ||
                      (type->is_array() && type->as_array().size() == 1 && type->as_array()[0].is_string() &&
                       type->as_array()[0].as_string() == "object");
  if (!object)
    return make_error(Code::ER_BAD_SCHEMA, prefix + " (type \"object\"), received type " + json::to_string(*type));
  return std::nullopt;
}

}  // namespace

Result<Schema> Schema::compile(const json::Value& schema, std::string_view kind, CompileOptions options) {
  if (auto error = check_root(schema, kind)) return std::move(*error);
  auto arena = std::make_shared<Arena>();
  Compiler compiler(schema, kind, *arena);
  Node* root = compiler.compile_root();
  if (!root) return std::move(*compiler.error);
  Schema out;
  out.root_ = std::shared_ptr<const Node>(arena, root);  // shares the arena
  out.strict_ = options.strict;
  out.tests_ = std::make_shared<const Tests>(Tests{std::move(compiler.tests), std::move(compiler.test_names)});
  return out;
}

namespace {
template <typename V>
Result<bool> run_check(const Node* root, bool strict, const std::vector<std::string>* test_names,
                       const StringTester* tester, V& state, std::string_view kind, std::string_view id) {
  if (!root) return make_error(Code::ER_BAD_SCHEMA, "kind " + quoted(kind) + ": schema was never compiled");
  Ctx c;
  c.strict = strict;
  c.tester = tester && *tester ? tester : nullptr;
  c.test_names = test_names;
  if (check(*root, state, c)) return c.changed;
  std::string path = format_path(c.failure.rpath.rbegin(), c.failure.rpath.rend());
  std::string message = "kind " + quoted(kind) + " id " + quoted(id) + ": " +
                        (path.empty() ? std::string("(root)") : path) + ": " + c.failure.message;
  return make_error(Code::ER_SCHEMA, std::move(message), std::move(path));
}
}  // namespace

Result<bool> Schema::validate(json::Value& state, std::string_view kind, std::string_view id,
                              const StringTester* tester) const {
  return run_check(root_.get(), strict_, tests_ ? &tests_->names : nullptr, tester, state, kind, id);
}

const std::vector<StringTest>& Schema::string_tests() const {
  static const std::vector<StringTest> kNone;
  return tests_ ? tests_->list : kNone;
}

std::vector<std::string> Schema::property_names() const {
  std::vector<std::string> out;
  if (root_)
    for (const Prop& p : root_->props) out.push_back(p.key);
  return out;
}

Result<bool> Schema::check(const json::Doc& doc, std::uint32_t node, std::string_view kind, std::string_view id,
                           const StringTester* tester) const {
  DocView v{&doc, node};
  return run_check(root_.get(), strict_, tests_ ? &tests_->names : nullptr, tester, v, kind, id);
}

}  // namespace er::schema
