// The top-level diff (SPEC §3) and what is built from it (delta, rows).
//   * changed_fields(a, b) is exactly the set of keys k of a ∪ b with
//     canonical(a[k] ?? null) != canonical(b[k] ?? null), sorted by UTF-16
//     code units, no duplicates;
//   * symmetric: the same fields for (b, a) — except a tombstone, which lists
//     every field of prev, null ones too; a create (no prev) is a diff
//     against {};
//   * equal values (same canonical form, any key order) → no field;
//   * delta holds exactly the changed fields with next's value (null when
//     absent); rows hold one per changed field with the transition texts.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine/change.hpp"
#include "fuzz_util.hpp"

using namespace er;

namespace {

std::string list(const std::vector<std::string>& fields) {
  std::string out = "[";
  for (const auto& f : fields) out += json::to_string(json::Value(f)) + ",";
  return out + "]";
}

const json::Value kNull;

const json::Value& at(const json::Value* obj, const std::string& key) {
  if (!obj) return kNull;
  const json::Value* v = obj->find(key);
  return v ? *v : kNull;
}

std::vector<std::string> reference(const json::Value* a, const json::Value* b) {
  std::set<std::string> keys;
  if (a) for (const auto& m : a->as_object()) keys.insert(m.key);
  if (b) for (const auto& m : b->as_object()) keys.insert(m.key);
  std::vector<std::string> out;
  for (const auto& k : keys)
    if (json::to_string(at(a, k)) != json::to_string(at(b, k))) out.push_back(k);
  std::sort(out.begin(), out.end(), fuzz::utf16_less);
  return out;
}

void check_sorted(const std::vector<std::string>& fields) {
  for (std::size_t i = 1; i < fields.size(); ++i)
    FUZZ_CHECK(fuzz::utf16_less(fields[i - 1], fields[i]), "fields not sorted/unique: " + list(fields));
}

// The same value with its object members rebuilt in reverse order.
json::Value reordered(const json::Value& v) {
  if (v.is_array()) {
    json::Array a;
    for (const auto& item : v.as_array()) a.push_back(reordered(item));
    return json::Value(std::move(a));
  }
  if (v.is_object()) {
    json::Object o;
    const auto& m = v.as_object();
    for (auto it = m.rbegin(); it != m.rend(); ++it) o.push_back(json::Member{it->key, reordered(it->value)});
    return json::Value(std::move(o));
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::vector<std::string> pool = {"shared", "x"};
  json::Value a, b;
  if (in.ConsumeBool()) {
    // Two JSON texts (exercises the parser's objects too).
    auto pa = json::parse(in.ConsumeRandomLengthString(512));
    auto pb = json::parse(in.ConsumeRandomLengthString(512));
    if (!pa.ok() || !pb.ok() || !pa->is_object() || !pb->is_object()) return 0;
    a = std::move(pa.value());
    b = std::move(pb.value());
  } else {
    a = fuzz::gen_object(in, pool);
    b = in.ConsumeBool() ? fuzz::gen_object(in, pool) : a;
    // Often derive b from a by a few edits, so most fields are shared.
    if (in.ConsumeBool()) {
      b = a;
      const std::size_t edits = in.ConsumeIntegralInRange<std::size_t>(0, 3);
      for (std::size_t i = 0; i < edits; ++i) {
        const std::string key = fuzz::gen_key(in, pool);
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
          case 0: b.erase(key); break;
          case 1: b.set(key, json::Value(nullptr)); break;
          default: b.set(key, fuzz::gen_value(in, pool, 1)); break;
        }
      }
    }
  }

  const auto ab = changed_fields(&a, &b);
  const auto ba = changed_fields(&b, &a);
  check_sorted(ab);
  FUZZ_CHECK(ab == ba, "not symmetric: " + list(ab) + " vs " + list(ba) + " for " + json::to_string(a) + " / " +
                           json::to_string(b));
  FUZZ_CHECK(ab == reference(&a, &b), "differs from the reference: " + list(ab) + " vs " + list(reference(&a, &b)) +
                                          " for " + json::to_string(a) + " / " + json::to_string(b));
  FUZZ_CHECK(changed_fields(&a, &a).empty(), "a value differs from itself: " + json::to_string(a));
  const json::Value a2 = reordered(a);
  FUZZ_CHECK(changed_fields(&a, &a2).empty(), "key order made a change: " + json::to_string(a));
  if (json::equal(a, b)) FUZZ_CHECK(ab.empty(), "equal values have changed fields: " + list(ab));

  // Create: a diff against {} (absent and null are alike at the top level).
  const json::Value empty = json::Value::object();
  const auto created = changed_fields(nullptr, &b);
  FUZZ_CHECK(created == changed_fields(&empty, &b), "create differs from a diff against {}");
  for (const auto& f : created) FUZZ_CHECK(!json::equal(at(&b, f), kNull), "create lists a null field " + f);

  // Tombstone: every field of prev, null ones included; no rows, delta {}.
  const auto tomb = changed_fields(&a, nullptr);
  std::vector<std::string> keys;
  for (const auto& m : a.as_object()) keys.push_back(m.key);
  FUZZ_CHECK(tomb == keys, "tombstone fields: " + list(tomb) + " vs keys " + list(keys));
  FUZZ_CHECK(make_delta(nullptr, tomb).as_object().empty(), "tombstone delta is not {}");

  // Delta and rows of a → b.
  const json::Value delta = make_delta(&b, ab);
  FUZZ_CHECK(delta.as_object().size() == ab.size(), "delta size");
  for (const auto& f : ab) {
    const json::Value* d = delta.find(f);
    FUZZ_CHECK(d && json::to_string(*d) == json::to_string(at(&b, f)), "delta value of " + f);
  }
  Change c;
  c.kind = "k";
  c.id = "i";
  c.prev = a;
  c.next = b;
  c.changed_fields = ab;
  const auto rows = transition_rows(c);
  FUZZ_CHECK(rows.size() == ab.size(), "one row per changed field");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    FUZZ_CHECK(rows[i].field == ab[i], "row order");
    FUZZ_CHECK(rows[i].from_value && *rows[i].from_value == transition_text(&at(&a, ab[i])), "fromValue");
    FUZZ_CHECK(rows[i].to_value == transition_text(&at(&b, ab[i])), "toValue");
    FUZZ_CHECK(rows[i].from_value != rows[i].to_value || at(&a, ab[i]).is_string() != at(&b, ab[i]).is_string(),
               "a row whose from and to texts are equal for values of the same kind: " + rows[i].to_value);
  }
  c.prev.reset();
  for (const auto& r : transition_rows(c)) FUZZ_CHECK(!r.from_value, "a create's fromValue is null");
  c.next.reset();
  FUZZ_CHECK(transition_rows(c).empty(), "a tombstone has rows");
  return 0;
}
