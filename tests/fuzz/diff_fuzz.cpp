// The top-level diff over documents (SPEC §3, src/engine/change.hpp) and the
// transition texts built from it (§5 step 6).
//   * diff(a, b) lists exactly the keys k of a ∪ b with
//     canonical(a[k] ?? null) != canonical(b[k] ?? null) — a reference over
//     trees and canonical text —, in UTF-16 code unit order, no duplicates;
//   * each change carries the value nodes of both sides (kNone where the
//     field is absent), and they print as the reference's values;
//   * symmetric: the same fields for (b, a); equal values (any key order,
//     any whitespace) → no field;
//   * a create (no prev) is a diff against {} and lists no null field; a
//     tombstone (no next) lists every field of prev, null ones too;
//   * transition texts: null/absent → "null", a string as itself, anything
//     else its canonical JSON; a changed field's from and to texts differ
//     unless a string's text spells the other side's JSON.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine/change.hpp"
#include "fuzz_util.hpp"

using namespace er;
using json::Doc;

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
  if (a)
    for (const auto& m : a->as_object()) keys.insert(m.key);
  if (b)
    for (const auto& m : b->as_object()) keys.insert(m.key);
  std::vector<std::string> out;
  for (const auto& k : keys)
    if (json::to_string(at(a, k)) != json::to_string(at(b, k))) out.push_back(k);
  std::sort(out.begin(), out.end(), fuzz::utf16_less);
  return out;
}

std::string reference_text(const json::Value* obj, const std::string& key) {
  const json::Value& v = at(obj, key);
  if (v.is_null()) return "null";
  if (v.is_string()) return v.as_string();
  return json::to_string(v);
}

// The value as text with every object's members in reverse key order and
// spaces between tokens: the same value, another text.
void write_shuffled(const json::Value& v, std::string& out) {
  if (v.is_array()) {
    out += "[ ";
    for (std::size_t i = 0; i < v.as_array().size(); ++i) {
      if (i) out += " , ";
      write_shuffled(v.as_array()[i], out);
    }
    out += " ]";
  } else if (v.is_object()) {
    out += "{ ";
    const auto& m = v.as_object();
    for (std::size_t i = m.size(); i-- > 0;) {
      if (i + 1 != m.size()) out += " , ";
      json::write_string(m[i].key, out);
      out += " : ";
      write_shuffled(m[i].value, out);
    }
    out += " }";
  } else {
    json::write(v, out);
  }
}

std::vector<std::string> names(const std::vector<FieldChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.emplace_back(c.name);
  return out;
}

DocRef ref(const Doc& d) { return DocRef{&d, Doc::root()}; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::vector<std::string> pool = {"shared", "x"};
  Doc da, db;
  if (in.ConsumeBool()) {
    // Two JSON texts (exercises the parser's objects too).
    if (!da.parse(in.ConsumeRandomLengthString(512)).ok() || !db.parse(in.ConsumeRandomLengthString(512)).ok())
      return 0;
    if (!da.is_object(Doc::root()) || !db.is_object(Doc::root())) return 0;
  } else {
    json::Value a = fuzz::gen_object(in, pool);
    json::Value b = in.ConsumeBool() ? fuzz::gen_object(in, pool) : a;
    // Often derive b from a by a few edits, so most fields are shared.
    if (in.ConsumeBool()) {
      b = a;
      const std::size_t edits = in.ConsumeIntegralInRange<std::size_t>(0, 3);
      for (std::size_t i = 0; i < edits; ++i) {
        const std::string key = fuzz::gen_key(in, pool);
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
          case 0:
            b.erase(key);
            break;
          case 1:
            b.set(key, json::Value(nullptr));
            break;
          default:
            b.set(key, fuzz::gen_value(in, pool, 1));
            break;
        }
      }
    }
    FUZZ_CHECK(da.parse(json::to_string(a)).ok() && db.parse(json::to_string(b)).ok(), "generated text does not parse");
  }
  const json::Value a = json::to_value(da), b = json::to_value(db);

  std::vector<FieldChange> ab, ba, out;
  diff(ref(da), ref(db), ab);
  diff(ref(db), ref(da), ba);
  const auto fields = names(ab);
  const auto want = reference(&a, &b);
  const std::string ctx = " for " + json::to_string(a) + " / " + json::to_string(b);
  FUZZ_CHECK(fields == want, "differs from the reference: " + list(fields) + " vs " + list(want) + ctx);
  FUZZ_CHECK(names(ba) == fields, "not symmetric: " + list(fields) + " vs " + list(names(ba)) + ctx);
  for (std::size_t i = 1; i < fields.size(); ++i)
    FUZZ_CHECK(fuzz::utf16_less(fields[i - 1], fields[i]), "fields not sorted/unique: " + list(fields));
  // The nodes of each side, and the transition texts built from them.
  for (const FieldChange& c : ab) {
    const std::string key(c.name);
    FUZZ_CHECK((c.prev == Doc::kNone) == (a.find(key) == nullptr), "prev node of " + key + ctx);
    FUZZ_CHECK((c.next == Doc::kNone) == (b.find(key) == nullptr), "next node of " + key + ctx);
    if (c.prev != Doc::kNone)
      FUZZ_CHECK(json::to_string(da, c.prev) == json::to_string(at(&a, key)), "prev value of " + key);
    if (c.next != Doc::kNone)
      FUZZ_CHECK(json::to_string(db, c.next) == json::to_string(at(&b, key)), "next value of " + key);
    std::string from, to;
    json::write_transition_text(da, c.prev, from);
    json::write_transition_text(db, c.next, to);
    FUZZ_CHECK(from == reference_text(&a, key), "fromValue of " + key + ": " + from);
    FUZZ_CHECK(to == reference_text(&b, key), "toValue of " + key + ": " + to);
    FUZZ_CHECK(from != to || at(&a, key).is_string() != at(&b, key).is_string(),
               "a row whose from and to texts are equal for values of the same kind: " + to);
  }
  diff(ref(da), ref(da), out);
  FUZZ_CHECK(out.empty(), "a value differs from itself" + ctx);
  std::string shuffled;
  write_shuffled(a, shuffled);
  Doc dr;
  FUZZ_CHECK(dr.parse(shuffled).ok(), "shuffled text does not parse: " + shuffled);
  diff(ref(da), ref(dr), out);
  FUZZ_CHECK(out.empty(), "key order or whitespace made a change: " + shuffled);
  if (json::equal(da, Doc::root(), db, Doc::root()))
    FUZZ_CHECK(fields.empty(), "equal values have changed fields" + ctx);

  // Create: a diff against {} (absent and null are alike at the top level).
  Doc empty;
  FUZZ_CHECK(empty.parse("{}").ok(), "{}");
  std::vector<FieldChange> created, against_empty;
  diff(DocRef{}, ref(db), created);
  diff(ref(empty), ref(db), against_empty);
  FUZZ_CHECK(names(created) == names(against_empty), "create differs from a diff against {}" + ctx);
  for (const FieldChange& c : created) {
    FUZZ_CHECK(db.type(c.next) != json::Type::Null, "create lists a null field " + std::string(c.name));
    FUZZ_CHECK(c.prev == Doc::kNone, "create has a prev node");
  }

  // Tombstone: every field of prev, null ones included, in key order.
  std::vector<FieldChange> tomb;
  diff(ref(da), DocRef{}, tomb);
  std::vector<std::string> keys;
  for (const auto& m : a.as_object()) keys.push_back(m.key);
  FUZZ_CHECK(names(tomb) == keys, "tombstone fields: " + list(names(tomb)) + " vs keys " + list(keys));
  for (const FieldChange& c : tomb) FUZZ_CHECK(c.next == Doc::kNone && c.prev != Doc::kNone, "tombstone nodes");
  diff(DocRef{}, DocRef{}, out);
  FUZZ_CHECK(out.empty(), "no prev and no next is no change");
  return 0;
}
