// Run-secret masking (SPEC §7).
//
// The matcher is an Aho-Corasick automaton over bytes, so UTF-8 secrets need
// no special care and the cost per text byte does not depend on how many
// secrets a run has.
//
// Layout. States are numbered in BFS order, so a state's failure link always
// has a smaller id and the children of a state have consecutive ids.
//   * Byte classes: every byte that occurs in some pattern gets its own class,
//     all other bytes share class 0 (which always leads back to the root).
//     Secrets are mostly ASCII letters and digits, so a row has ~60-70
//     entries instead of 256.
//   * The first `dense_states_` states (the shallow ones: the root and
//     usually every state of depth 1 and 2) have a full DFA row per class,
//     failure links folded in: one load per byte.
//   * Deeper states keep only their trie edges (sorted bytes) plus the
//     failure link; a miss follows failure links until an edge or a dense
//     state answers. Failure links only lose depth, so this is amortised
//     O(1) per byte, and ordinary text (which rarely gets deep into a
//     secret) stays in the dense rows.
//   * Every target carries kMatchBit when a pattern ends there, so the scan
//     loop needs no second load to learn whether something matched;
//     longest_[s] (the longest pattern on s's dictionary-suffix chain) is
//     read only on a match.
//
// Why not a full DFA: 1,000 secrets of ~20 bytes make ~19,000 states; a
// 256-wide table of uint32 would be ~19 MB and even a class-compressed one
// (~63 classes) ~4.8 MB, which is a lot of WASM heap for a per-run object.
// Capping the dense part at kDenseBudgetBytes keeps the matcher at about
// 0.6 MB with the same speed on realistic text (measured natively, see the
// report in tests/core/secrets_test.cpp's benchmark notes).
#include "secrets/secret_registry.hpp"

#include <algorithm>
#include <utility>

namespace er::secrets {
namespace {

// Upper bound of the dense rows, in bytes. 1,000 random alphanumeric
// secrets have ~900 states of depth <= 2 with 63 classes, i.e. ~230 KB.
constexpr std::size_t kDenseBudgetBytes = 256u * 1024u;

// Texts this long are scanned as two interleaved halves (see scan).
constexpr std::size_t kSplitMin = 64;
// How far past the middle the first half's scan may run to meet the second.
constexpr std::size_t kSyncWindow = 64;

struct Interval {
  std::size_t begin;
  std::size_t end;
};

// Adds [begin, end) to `spans`, whose ends are increasing; the new end is the
// largest so far. Spans that overlap the new one (nested ones included) are
// merged into it; spans that merely touch it stay separate.
inline void add_span(std::vector<Interval>& spans, std::size_t begin, std::size_t end) {
  while (!spans.empty() && spans.back().end > begin) {
    begin = std::min(begin, spans.back().begin);
    spans.pop_back();
  }
  spans.push_back(Interval{begin, end});
}

}  // namespace

// ---------------------------------------------------------------- Matcher

Matcher::Matcher(const std::vector<std::string>& patterns) {
  std::vector<std::string_view> sorted;
  sorted.reserve(patterns.size());
  for (const std::string& p : patterns) {
    if (!p.empty()) sorted.emplace_back(p);
  }
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted.empty()) return;

  // Byte classes: 0 for bytes in no pattern, 1.. for the others.
  std::array<std::uint32_t, 256> byte_class{};
  for (std::string_view p : sorted) {
    for (char c : p) byte_class[static_cast<unsigned char>(c)] = 1;
  }
  std::uint32_t classes = 1;
  for (std::uint32_t& c : byte_class) c = c != 0 ? classes++ : 0;
  for (std::size_t b = 0; b < 256; ++b) {
    class_offset_[b] = static_cast<std::uint16_t>(byte_class[b] * sizeof(std::uint32_t));
  }
  row_bytes_ = classes * static_cast<std::uint32_t>(sizeof(std::uint32_t));

  // Trie from the sorted patterns: nodes come out in preorder and every
  // node's children in increasing byte order.
  std::vector<std::uint32_t> parent{0};
  std::vector<std::uint8_t> label{0};
  std::vector<std::uint32_t> terminal{0};  // pattern length ending exactly here
  std::vector<std::uint32_t> path{0};      // path[k]: node of the previous pattern's k-byte prefix
  std::string_view prev;
  for (std::string_view p : sorted) {
    std::size_t common = 0;
    const std::size_t limit = std::min(prev.size(), p.size());
    while (common < limit && prev[common] == p[common]) ++common;
    path.resize(common + 1);
    for (std::size_t k = common; k < p.size(); ++k) {
      const auto id = static_cast<std::uint32_t>(parent.size());
      parent.push_back(path.back());
      label.push_back(static_cast<std::uint8_t>(p[k]));
      terminal.push_back(0);
      path.push_back(id);
    }
    terminal[path.back()] = static_cast<std::uint32_t>(p.size());
    prev = p;
  }
  const auto n = static_cast<std::uint32_t>(parent.size());
  state_count_ = n;

  // Children lists (trie ids), in creation order, hence sorted by byte.
  std::vector<std::uint32_t> child_begin(n + 1, 0);
  for (std::uint32_t v = 1; v < n; ++v) ++child_begin[parent[v] + 1];
  for (std::uint32_t v = 0; v < n; ++v) child_begin[v + 1] += child_begin[v];
  std::vector<std::uint32_t> children(n - 1);
  {
    std::vector<std::uint32_t> fill(child_begin.begin(), child_begin.end() - 1);
    for (std::uint32_t v = 1; v < n; ++v) children[fill[parent[v]]++] = v;
  }

  // BFS order: order[s] is the trie node of state s. The children of a
  // state get consecutive ids.
  std::vector<std::uint32_t> order;
  order.reserve(n);
  order.push_back(0);
  for (std::size_t head = 0; head < order.size(); ++head) {
    const std::uint32_t v = order[head];
    for (std::uint32_t i = child_begin[v]; i < child_begin[v + 1]; ++i) order.push_back(children[i]);
  }

  dense_states_ = static_cast<std::uint32_t>(std::clamp<std::size_t>(kDenseBudgetBytes / row_bytes_, 1, n));
  escape_ = dense_states_ * row_bytes_;
  dense_.assign(static_cast<std::size_t>(dense_states_) * classes, 0);
  edge_begin_.reserve(n - dense_states_ + 1);
  edge_byte_.reserve(n - dense_states_);
  edge_target_.reserve(n - dense_states_);
  fail_.assign(n, 0);
  longest_.assign(n, 0);

  // While building, dense_ and edge_target_ hold plain state ids.
  auto step = [&](std::uint32_t s, std::uint8_t byte) {
    while (s >= dense_states_) {
      const std::uint32_t k = s - dense_states_;
      for (std::uint32_t e = edge_begin_[k]; e < edge_begin_[k + 1]; ++e) {
        if (edge_byte_[e] == byte) return edge_target_[e];
      }
      s = fail_[s];
    }
    return dense_[static_cast<std::size_t>(s) * classes + byte_class[byte]];
  };

  // Process states in BFS order. When state s is processed, every state of
  // smaller depth is complete (row or edges), and fail_/longest_ of every
  // state of depth <= depth(s) are known (set when their parents ran).
  std::uint32_t first_child = 1;
  for (std::uint32_t s = 0; s < n; ++s) {
    const std::uint32_t v = order[s];
    const std::uint32_t* kids = children.data() + child_begin[v];
    const std::uint32_t count = child_begin[v + 1] - child_begin[v];
    // A sparse state's edge range must be closed before the failure links
    // below may search it (fail_[s] can be s - 1).
    if (s >= dense_states_) edge_begin_.push_back(static_cast<std::uint32_t>(edge_byte_.size()));
    for (std::uint32_t j = 0; j < count; ++j) {
      const std::uint32_t t = first_child + j;
      const std::uint32_t f = s == 0 ? 0 : step(fail_[s], label[kids[j]]);
      fail_[t] = f;
      longest_[t] = std::max(terminal[kids[j]], longest_[f]);
    }
    if (s < dense_states_) {
      std::uint32_t* row = dense_.data() + static_cast<std::size_t>(s) * classes;
      if (s != 0) {
        const std::uint32_t* fallback = dense_.data() + static_cast<std::size_t>(fail_[s]) * classes;
        std::copy(fallback, fallback + classes, row);
      }
      for (std::uint32_t j = 0; j < count; ++j) row[byte_class[label[kids[j]]]] = first_child + j;
    } else {
      for (std::uint32_t j = 0; j < count; ++j) {
        edge_byte_.push_back(label[kids[j]]);
        edge_target_.push_back(first_child + j);
      }
    }
    first_child += count;
  }
  edge_begin_.push_back(static_cast<std::uint32_t>(edge_byte_.size()));

  // Encode the targets for the scan loop.
  auto encode = [this](std::uint32_t id) {
    return id < dense_states_ && longest_[id] == 0 ? id * row_bytes_ : escape_ + id;
  };
  for (std::uint32_t& e : dense_) e = encode(e);
  for (std::uint32_t& e : edge_target_) e = encode(e);
}

namespace {

// The dense_ entry `offset` bytes in (offsets are pre-scaled so that the
// scan loop does no multiply or shift on its dependency chain).
inline std::uint32_t entry_at(const std::uint32_t* dense, std::uint32_t offset) {
  return *reinterpret_cast<const std::uint32_t*>(reinterpret_cast<const char*>(dense) + offset);
}

}  // namespace

std::uint32_t Matcher::next_by_id(std::uint32_t state, unsigned char byte) const {
  while (state >= dense_states_) {
    const std::uint32_t k = state - dense_states_;
    const std::uint8_t* first = edge_byte_.data() + edge_begin_[k];
    const std::uint8_t* last = edge_byte_.data() + edge_begin_[k + 1];
    // Deep states have few edges (mostly one): a linear scan beats a
    // binary search until about a dozen.
    if (last - first <= 12) {
      for (const std::uint8_t* e = first; e != last; ++e) {
        if (*e == byte) return edge_target_[static_cast<std::size_t>(e - edge_byte_.data())];
      }
    } else {
      const std::uint8_t* e = std::lower_bound(first, last, byte);
      if (e != last && *e == byte) return edge_target_[static_cast<std::size_t>(e - edge_byte_.data())];
    }
    state = fail_[state];
  }
  return entry_at(dense_.data(), state * row_bytes_ + class_offset_[byte]);
}

template <typename OnMatch>
void Matcher::scan(std::string_view text, OnMatch&& on_match) const {
  if (state_count_ == 0) return;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  const std::uint32_t* dense = dense_.data();
  const std::uint16_t* class_offset = class_offset_.data();
  const std::uint32_t* longest = longest_.data();
  const std::uint32_t escape = escape_;
  // States are encoded like dense_ entries. Below `escape` (a dense state
  // that ends no pattern) a step is one dependent load.
  auto step = [&](std::uint32_t state, unsigned char byte) -> std::uint32_t {
    if (state < escape) return entry_at(dense, state + class_offset[byte]);
    return next_by_id(state - escape, byte);
  };
  // The longest pattern ending in `state`, 0 when none.
  auto match_length = [&](std::uint32_t state) -> std::uint32_t {
    return state < escape ? 0 : longest[state - escape];
  };

  std::uint32_t a = 0;
  std::size_t i = 0;
  if (n < kSplitMin) {
    while (i < n) {
      if (a < escape) {
        do {
          a = entry_at(dense, a + class_offset[p[i++]]);
        } while (a < escape && i < n);
      } else {
        a = step(a, p[i++]);
      }
      const std::uint32_t len = match_length(a);
      if (len != 0 && !on_match(i - len, i)) return;
    }
    return;
  }

  // Two streams: A scans [0, mid) from the root and B scans [mid, n) from
  // the root, interleaved so that their dependent load chains overlap (about
  // 1.7x faster natively). Then A goes on into B's half until its state
  // equals B's state after the same byte; from there on B's states and
  // matches are the true ones. A reports the matches ending before that
  // point (B cannot see matches that start before mid). B's states are kept
  // for its first kSyncWindow bytes; if A has not met B by then (a long
  // partial match across mid), A scans the rest alone.
  const std::size_t mid = n / 2;
  std::array<std::uint32_t, kSyncWindow + 1> b_states;  // [kSyncWindow]: overflow slot
  std::vector<Interval> b_matches;                       // allocates only when B matches
  std::uint32_t b = 0;
  while (i < mid) {
    if (a < escape && b < escape) {
      do {
        const std::uint32_t ta = entry_at(dense, a + class_offset[p[i]]);
        const std::uint32_t tb = entry_at(dense, b + class_offset[p[mid + i]]);
        b_states[std::min(i, kSyncWindow)] = tb;
        a = ta;
        b = tb;
        ++i;
      } while (std::max(a, b) < escape && i < mid);
    } else {
      a = step(a, p[i]);
      b = step(b, p[mid + i]);
      b_states[std::min(i, kSyncWindow)] = b;
      ++i;
    }
    if (const std::uint32_t len = match_length(a); len != 0 && !on_match(i - len, i)) return;
    if (const std::uint32_t len = match_length(b); len != 0) {
      b_matches.push_back(Interval{mid + i - len, mid + i});
    }
  }
  if (2 * mid < n) {  // odd n: B has one byte more
    b = step(b, p[n - 1]);
    if (const std::uint32_t len = match_length(b); len != 0) b_matches.push_back(Interval{n - len, n});
  }

  const std::size_t window = std::min(kSyncWindow, mid);
  for (std::size_t k = 0; k < window; ++k) {
    a = step(a, p[mid + k]);
    const std::size_t end = mid + k + 1;
    if (const std::uint32_t len = match_length(a); len != 0 && !on_match(end - len, end)) return;
    if (a == b_states[k]) {
      for (const Interval& m : b_matches) {
        if (m.end > end && !on_match(m.begin, m.end)) return;
      }
      return;
    }
  }
  for (i = mid + window; i < n; ++i) {
    a = step(a, p[i]);
    if (const std::uint32_t len = match_length(a); len != 0 && !on_match(i + 1 - len, i + 1)) return;
  }
}

bool Matcher::empty() const { return state_count_ == 0; }

bool Matcher::contains_any(std::string_view text) const {
  bool found = false;
  scan(text, [&found](std::size_t, std::size_t) {
    found = true;
    return false;
  });
  return found;
}

bool Matcher::mask(std::string_view text, std::string& out) const {
  // Collect the longest match ending at each position, merging overlapping
  // ones. A later, longer match can swallow several earlier spans (secrets
  // "b", "c", "abcd" on "abcd"), hence the stack. `spans` allocates only
  // on a first match.
  std::vector<Interval> spans;
  scan(text, [&spans](std::size_t begin, std::size_t end) {
    add_span(spans, begin, end);
    return true;
  });
  if (spans.empty()) {
    out.append(text);
    return false;
  }
  const std::size_t n = text.size();
  std::size_t kept = n;
  for (const Interval& span : spans) kept -= span.end - span.begin;
  out.reserve(out.size() + kept + spans.size() * kMask.size());
  std::size_t pos = 0;
  for (const Interval& span : spans) {
    out.append(text.data() + pos, span.begin - pos);
    out.append(kMask);
    pos = span.end;
  }
  out.append(text.data() + pos, n - pos);
  return true;
}

// ------------------------------------------------------------ mask_value

namespace {

bool mask_string(const Matcher& matcher, std::string& s) {
  // Strings rarely hold a secret: check first so an unchanged string costs
  // no allocation; a changed one is scanned twice, which is cheap.
  if (!matcher.contains_any(s)) return false;
  std::string masked;
  matcher.mask(s, masked);
  s = std::move(masked);
  return true;
}

}  // namespace

bool mask_value(const Matcher& matcher, json::Value& value) {
  switch (value.type()) {
    case json::Type::String:
      return mask_string(matcher, value.as_string());
    case json::Type::Array: {
      bool changed = false;
      for (json::Value& item : value.as_array()) changed = mask_value(matcher, item) || changed;
      return changed;
    }
    case json::Type::Object: {
      json::Object& members = value.as_object();
      bool changed = false;
      bool key_changed = false;
      for (json::Member& m : members) {
        if (mask_string(matcher, m.key)) key_changed = true;
        changed = mask_value(matcher, m.value) || changed;
      }
      // A masked key may now sort elsewhere or collide with another key
      // ("a-SECRET" and "a-OTHER" both become "a-****"): restore the object
      // invariant. On a collision normalize_members keeps one member (the
      // last, as JSON.parse would); losing a value there is acceptable, the
      // alternative being a secret in an event.
      if (key_changed) json::normalize_members(members);
      return changed || key_changed;
    }
    case json::Type::Null:
    case json::Type::Bool:
    case json::Type::Number:
      return false;
  }
  return false;
}

// -------------------------------------------------------- SecretRegistry

struct SecretRegistry::Run {
  std::vector<std::string> values;  // sorted, unique, non-empty
  std::unique_ptr<Matcher> matcher;  // null while `values` is empty
};

void SecretRegistry::register_values(std::string_view run_id, const std::vector<std::string>& values) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) {
    it = runs_.emplace(std::string(run_id), std::make_shared<Run>()).first;
  }
  Run& run = *it->second;
  const std::size_t before = run.values.size();
  for (const std::string& v : values) {
    if (!v.empty()) run.values.push_back(v);
  }
  if (run.values.size() == before) return;
  std::sort(run.values.begin(), run.values.end());
  run.values.erase(std::unique(run.values.begin(), run.values.end()), run.values.end());
  if (run.values.size() == before) return;  // only repeats: the matcher stands
  // Rebuilt eagerly so the const masking methods never mutate.
  run.matcher = std::make_unique<Matcher>(run.values);
}

void SecretRegistry::link_step(std::string_view step_id, std::string_view run_id) {
  auto it = step_to_run_.find(step_id);
  if (it == step_to_run_.end()) {
    step_to_run_.emplace(std::string(step_id), std::string(run_id));
  } else {
    it->second.assign(run_id);
  }
}

void SecretRegistry::drop(std::string_view run_id) {
  auto it = runs_.find(run_id);
  if (it != runs_.end()) runs_.erase(it);
  std::erase_if(step_to_run_, [run_id](const auto& link) { return link.second == run_id; });
}

bool SecretRegistry::has_run(std::string_view run_id) const { return runs_.find(run_id) != runs_.end(); }

const SecretRegistry::Run* SecretRegistry::find_run(std::string_view run_id) const {
  auto it = runs_.find(run_id);
  return it == runs_.end() ? nullptr : it->second.get();
}

const SecretRegistry::Run* SecretRegistry::find_step_run(std::string_view step_id) const {
  auto it = step_to_run_.find(step_id);
  return it == step_to_run_.end() ? nullptr : find_run(it->second);
}

const Matcher* SecretRegistry::matcher(std::string_view run_id) const {
  const Run* run = find_run(run_id);
  return run == nullptr ? nullptr : run->matcher.get();
}

namespace {

std::string mask_with(const Matcher* matcher, std::string_view text) {
  if (matcher == nullptr) return std::string(text);
  std::string out;
  matcher->mask(text, out);
  return out;
}

}  // namespace

std::string SecretRegistry::mask_text(std::string_view run_id, std::string_view text) const {
  return mask_with(matcher(run_id), text);
}

std::string SecretRegistry::mask_text_for_step(std::string_view step_id, std::string_view text) const {
  const Run* run = find_step_run(step_id);
  return mask_with(run == nullptr ? nullptr : run->matcher.get(), text);
}

bool SecretRegistry::mask_deep(std::string_view run_id, json::Value& value) const {
  const Matcher* m = matcher(run_id);
  return m != nullptr && mask_value(*m, value);
}

bool SecretRegistry::mask_deep_for_step(std::string_view step_id, json::Value& value) const {
  const Run* run = find_step_run(step_id);
  return run != nullptr && run->matcher != nullptr && mask_value(*run->matcher, value);
}

}  // namespace er::secrets
