// Run-secret masking (SPEC §7) against an oracle.
//   * mask_text equals a naive reference (every occurrence of every secret,
//     overlapping occurrences merged, each span replaced by "****");
//   * no registered secret survives mask_text / mask_value (secrets made only
//     of '*' are part of the mask itself and excluded; see plain_secret);
//   * contains_any agrees with the reference;
//   * mask_value masks every string and key, leaves the object invariant
//     (sorted, unique keys) and reports whether anything changed;
//   * mask_doc (the write path: masking a json::Doc as it is written out)
//     reports the same change and its text parses to mask_value's result;
//     contains_any over a document agrees with the strings in it;
//   * registry: unknown runs mask nothing, drop forgets the run and its steps.
// Texts are long enough (up to a few KB) for the matcher's 2- and 4-stream
// scans, and one mode registers hundreds of secrets over a wide alphabet so
// that the automaton has sparse (non-dense) states.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "secrets/secret_registry.hpp"

using namespace er;

namespace {

std::string show(std::string_view s) { return json::to_string(json::Value(std::string(s))); }

std::string show(const std::vector<std::string>& secrets) {
  std::string out = "secrets:";
  for (const auto& s : secrets) out += " " + show(s);
  return out;
}

void check_text(const secrets::SecretRegistry& reg, const std::vector<std::string>& secrets, std::string_view text) {
  const std::string masked = reg.mask_text("run", text);
  const std::string expected = fuzz::naive_mask(text, secrets);
  FUZZ_CHECK(masked == expected,
             show(secrets) + "\ntext: " + show(text) + "\ngot:  " + show(masked) + "\nwant: " + show(expected));
  for (const auto& s : secrets)
    if (fuzz::plain_secret(s))
      FUZZ_CHECK(masked.find(s) == std::string::npos, "secret " + show(s) + " survives in " + show(masked));
  const secrets::Matcher* m = reg.matcher("run");
  FUZZ_CHECK(m != nullptr, "a run with secrets has no matcher");
  bool any = false;
  for (const auto& s : secrets)
    if (!s.empty() && text.find(s) != std::string_view::npos) any = true;
  FUZZ_CHECK(m->contains_any(text) == any, "contains_any disagrees for " + show(text) + "\n" + show(secrets));
  FUZZ_CHECK(reg.mask_text("other-run", text) == text, "an unknown run masked something");
}

// Text built from pieces: secrets, prefixes/suffixes of secrets, filler.
std::string build_text(FuzzedDataProvider& in, const std::vector<std::string>& secrets, std::size_t max_pieces) {
  std::string text;
  const std::size_t pieces = in.ConsumeIntegralInRange<std::size_t>(0, max_pieces);
  for (std::size_t i = 0; i < pieces && in.remaining_bytes() > 0; ++i) {
    const int pick = in.ConsumeIntegralInRange<int>(0, 4);
    if (pick <= 2 && !secrets.empty()) {
      const auto& s = secrets[in.ConsumeIntegralInRange<std::size_t>(0, secrets.size() - 1)];
      if (pick == 0)
        text += s;
      else if (pick == 1)
        text.append(s, 0, in.ConsumeIntegralInRange<std::size_t>(0, s.size()));
      else
        text.append(s, in.ConsumeIntegralInRange<std::size_t>(0, s.size()));
    } else if (pick == 3) {
      text.append(in.ConsumeIntegralInRange<std::size_t>(0, 70), static_cast<char>(in.ConsumeIntegral<std::uint8_t>()));
    } else {
      text += in.ConsumeRandomLengthString(40);
    }
  }
  return text;
}

void few_secrets(FuzzedDataProvider& in) {
  std::vector<std::string> secrets;
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 8);
  for (std::size_t i = 0; i < n; ++i) secrets.push_back(in.ConsumeRandomLengthString(24));
  secrets::SecretRegistry reg;
  // Registered in two calls: adding to a run keeps the earlier values.
  const std::size_t half = in.ConsumeIntegralInRange<std::size_t>(0, secrets.size());
  reg.register_values("run", std::vector<std::string>(secrets.begin(), secrets.begin() + half));
  reg.register_values("run", std::vector<std::string>(secrets.begin() + half, secrets.end()));
  std::erase(secrets, std::string());
  if (secrets.empty()) {
    FUZZ_CHECK(reg.matcher("run") == nullptr, "a run with only empty secrets has a matcher");
    return;
  }
  reg.link_step("step", "run");
  for (int round = 0; round < 3 && in.remaining_bytes() > 0; ++round) {
    const std::string text = build_text(in, secrets, 40);
    check_text(reg, secrets, text);
    FUZZ_CHECK(reg.mask_text_for_step("step", text) == reg.mask_text("run", text), "step masks like its run");
  }
  reg.drop("run");
  FUZZ_CHECK(reg.mask_text("run", secrets[0]) == secrets[0], "a dropped run still masks");
  FUZZ_CHECK(reg.mask_text_for_step("step", secrets[0]) == secrets[0], "a dropped run's step still masks");
}

void many_secrets(FuzzedDataProvider& in) {
  std::mt19937_64 rng(in.ConsumeIntegral<std::uint64_t>());
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(20, 300);
  const unsigned alphabet = in.ConsumeIntegralInRange<unsigned>(2, 255);
  const std::size_t max_len = in.ConsumeIntegralInRange<std::size_t>(1, 32);
  std::vector<std::string> secrets;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s(1 + rng() % max_len, '\0');
    for (char& c : s) c = static_cast<char>(1 + rng() % alphabet);
    secrets.push_back(std::move(s));
  }
  secrets::SecretRegistry reg;
  reg.register_values("run", secrets);
  for (int round = 0; round < 2 && in.remaining_bytes() > 0; ++round)
    check_text(reg, secrets, build_text(in, secrets, 120));
}

void values(FuzzedDataProvider& in) {
  // Valid UTF-8 secrets, as JavaScript strings encode.
  std::vector<std::string> secrets;
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 6);
  for (std::size_t i = 0; i < n; ++i) {
    std::string s = fuzz::gen_string(in, {}, 3);
    if (!s.empty()) secrets.push_back(std::move(s));
  }
  if (secrets.empty()) return;
  secrets::SecretRegistry reg;
  reg.register_values("run", secrets);
  json::Value v = fuzz::gen_value(in, secrets);
  const std::string before = json::to_string(v);
  const bool changed = reg.mask_deep("run", v);
  const std::string after = json::to_string(v);
  FUZZ_CHECK(changed == (before != after), "mask_deep's changed flag: " + before + " -> " + after);
  // The same over a document, as a write masks its states.
  json::Doc doc;
  FUZZ_CHECK(doc.parse(before).ok(), "canonical text does not parse: " + before);
  const secrets::Matcher* m = reg.matcher("run");
  FUZZ_CHECK(m != nullptr, "a run with secrets has no matcher");
  std::string masked = "untouched";
  const bool doc_changed = secrets::mask_doc(*m, doc, json::Doc::root(), masked);
  FUZZ_CHECK(doc_changed == changed, "mask_doc and mask_value disagree on a change: " + before);
  if (doc_changed) {
    auto reparsed = json::parse(std::string_view(masked).substr(9));
    FUZZ_CHECK(reparsed.ok(), "mask_doc wrote text that does not parse: " + masked);
    FUZZ_CHECK(json::to_string(*reparsed) == after, "mask_doc vs mask_value: " + masked + " vs " + after);
  } else {
    FUZZ_CHECK(masked == "untouched", "mask_doc wrote without a change: " + masked);
  }
  {
    std::vector<std::string_view> all;
    const json::Value original = json::to_value(doc);
    fuzz::strings_of(original, all);
    bool any = false;
    for (std::string_view str : all)
      for (const auto& secret : secrets)
        if (str.find(secret) != std::string_view::npos) any = true;
    FUZZ_CHECK(secrets::contains_any(*m, doc, json::Doc::root()) == any, "contains_any over a document: " + before);
  }
  std::string where;
  FUZZ_CHECK(fuzz::objects_sorted(v, where), where + " after masking " + before);
  std::vector<std::string_view> strings;
  fuzz::strings_of(v, strings);
  for (std::string_view s : strings) {
    for (const auto& secret : secrets)
      if (fuzz::plain_secret(secret))
        FUZZ_CHECK(s.find(secret) == std::string_view::npos, "secret " + show(secret) + " survives in " + after);
    FUZZ_CHECK(fuzz::naive_mask(s, secrets) == std::string(s) || s.find("****") != std::string_view::npos,
               "an unmasked string remains: " + show(s));
  }
  // Numbers, booleans and nulls stay; a value without strings is untouched.
  json::Value plain = fuzz::gen_value(in, {});
  json::Value copy = plain;
  reg.mask_deep("run", copy);
  std::vector<std::string_view> none;
  fuzz::strings_of(plain, none);
  if (none.empty())
    FUZZ_CHECK(json::to_string(copy) == json::to_string(plain), "masking changed a value without strings");
  FUZZ_CHECK(!reg.mask_deep("unknown", plain), "an unknown run masked a value");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
    case 1:
      few_secrets(in);
      break;
    case 2:
      many_secrets(in);
      break;
    default:
      values(in);
      break;
  }
  return 0;
}
