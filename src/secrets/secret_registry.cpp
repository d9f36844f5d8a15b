// Run-secret masking (SPEC §7).
//
// The matcher is an Aho-Corasick automaton over bytes, so UTF-8 secrets need
// no special care and the work per text byte does not depend on how many
// secrets a run has.
//
// Layout. States are numbered in BFS order, so a state's failure link always
// has a smaller id and the children of a state have consecutive ids.
//   * Byte classes: every byte that occurs in some pattern gets its own class,
//     all other bytes share class 0 (which always leads back to the root).
//     Secrets are mostly ASCII letters, digits and a few symbols, so a row
//     has ~60-70 entries instead of 256.
//   * The first dense_states_ states (at least every state of depth <= 2)
//     have a full DFA row, failure links folded in.
//   * Deeper states keep only their trie edges (sorted bytes) and the
//     failure link; a miss follows failure links until an edge or a dense
//     row answers. Failure links only lose depth, so this is amortised O(1)
//     per byte, and text that holds no secret rarely gets past depth 2.
//   * A target is encoded so that the common case costs one compare: a
//     dense state that ends no pattern is the byte offset of its row
//     (< escape_); every other state s (a match, or sparse) is escape_ + s.
//     Offsets are pre-scaled so the dependency chain per byte is one add and
//     one load. longest_[s], the longest pattern on s's dictionary-suffix
//     chain, is read only after an escape.
//   * Scanning cuts texts of 64+ bytes into 2 or 4 segments scanned by
//     interleaved streams, then stitches them (see scan()): one stream is
//     bound by load latency, four overlap.
//
// Why not a full DFA: 1,000 secrets of ~20 bytes make ~19,000 states; a
// 256-wide uint32 table would be ~19 MB and even the class-compressed one
// ~5.2 MB, a lot of WASM heap per run. Measured natively with 1,000 random
// base64 secrets of 12-28 bytes on ~370-byte JSON texts (4 streams): dense
// rows for depth <= 2 only (256 KiB; 574 KB in all) scan at ~1.1 ns/byte,
// the full 5.2 MB table at about the same speed, a 64 KiB budget ~2.5x
// slower. So: depth <= 2 dense, the rest sparse.
#include "secrets/secret_registry.hpp"

#include <algorithm>
#include <bit>
#include <type_traits>
#include <utility>

namespace er::secrets {
namespace {

// Size of the dense rows: they always hold the states of depth <= 2 (for
// 1,000 random base64 secrets ~960 states x 68 classes x 4 B = 256 KiB),
// more up to kDenseBudgetBytes when there is room, and never more than
// kDenseMaxBytes (which only many secrets over a wide byte alphabet reach).
constexpr std::size_t kDenseBudgetBytes = 256u * 1024u;
constexpr std::size_t kDenseMaxBytes = 2u * 1024u * 1024u;

// Texts of at least 2 (4) segments this long are scanned as 2 (4)
// interleaved streams (see Matcher::scan).
constexpr std::size_t kMinSegment = 32;
// How far into a segment the true state may run to meet the segment's stream.
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

// A scratch buffer reused from call to call on this thread, so that masking
// allocates nothing per write once its buffers have grown (a masked write
// made about ten allocations for match lists and masked strings). Scans do
// not nest, so one buffer per use site is enough; a buffer a huge text grew
// is released when it is handed out again.
template <typename T>
T& reused(T& buffer) {
  constexpr std::size_t kKeepBytes = 64 * 1024;
  if (buffer.capacity() * sizeof(typename T::value_type) > kKeepBytes) T().swap(buffer);
  buffer.clear();
  return buffer;
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

  // Dense rows: the first states in BFS order, at least every state of
  // depth <= 2 (where text that holds no secret spends nearly all its
  // bytes, so speed does not drop as secrets are added), at least what fits
  // kDenseBudgetBytes, at most what fits kDenseMaxBytes.
  std::size_t shallow = 1 + child_begin[1];  // the root and depth 1
  for (std::uint32_t i = 0; i < child_begin[1]; ++i) {
    const std::uint32_t v = children[i];
    shallow += child_begin[v + 1] - child_begin[v];
  }
  const std::size_t rows = std::min(std::max(shallow, kDenseBudgetBytes / row_bytes_), kDenseMaxBytes / row_bytes_);
  dense_states_ = static_cast<std::uint32_t>(std::clamp<std::size_t>(rows, 1, n));
  // A power of two, so that "all streams below escape_" is (a | b | ...) < escape_.
  escape_ = std::bit_ceil(dense_states_ * row_bytes_);
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

// The scanning loops' view of the tables: pointers hoisted out of the
// members so the hot loops reload nothing. States are encoded like dense_
// entries; below `escape` (a dense state that ends no pattern) a step is one
// dependent load.
struct Matcher::Walk {
  explicit Walk(const Matcher& matcher)
      : m(matcher),
        dense(matcher.dense_.data()),
        class_offset(matcher.class_offset_.data()),
        longest(matcher.longest_.data()),
        escape(matcher.escape_) {}
  std::uint32_t step(std::uint32_t state, unsigned char byte) const {
    if (state < escape) return entry_at(dense, state + class_offset[byte]);
    return m.next_by_id(state - escape, byte);
  }
  // The longest pattern ending in `state`, 0 when none.
  std::uint32_t match_length(std::uint32_t state) const { return state < escape ? 0 : longest[state - escape]; }

  const Matcher& m;
  const std::uint32_t* dense;
  const std::uint16_t* class_offset;
  const std::uint32_t* longest;
  std::uint32_t escape;
};

template <typename OnMatch>
void Matcher::scan(std::string_view text, OnMatch&& on_match) const {
  if (state_count_ == 0) return;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  const Walk walk(*this);

  // The text is cut into S segments, each scanned from the root by its own
  // stream; the streams advance together so that their dependent load
  // chains overlap (one chain is bound by load latency). Then, segment by
  // segment, the true state (carried from the start of the text) runs into
  // the next segment until it equals that segment's stream state after the
  // same byte: from there on the stream's states and matches are the true
  // ones. Before that point the true state reports the matches itself (a
  // stream cannot see matches that start before its segment). Streams keep
  // their states for their first kSyncWindow bytes; if the true state has
  // not met the stream by then (a long partial match across the cut), it
  // scans that whole segment itself and the stream's results are dropped.
  auto run_streams = [&]<std::size_t S>() {
    const std::size_t seg = n / S;
    const std::size_t window = std::min(kSyncWindow, seg);
    std::array<std::uint32_t, S> st{};
    std::array<std::array<std::uint32_t, kSyncWindow>, S> seen;  // seen[k][j]: after byte k*seg+j
    // Streams 1..'s matches (they allocate only on a match, once per thread).
    thread_local std::array<std::vector<Interval>, S> found_buffers;
    std::array<std::vector<Interval>*, S> found_at{};
    for (std::size_t k = 0; k < S; ++k) found_at[k] = &reused(found_buffers[k]);
    auto found = [&](std::size_t k) -> std::vector<Interval>& { return *found_at[k]; };
    std::size_t i = 0;
    // Calls f(k) for every stream k as a compile-time constant, so that
    // st[] lives in registers (a loop over k keeps it in memory).
    auto each = [&](auto&& f) {
      [&]<std::size_t... K>(std::index_sequence<K...>) { (f(std::integral_constant<std::size_t, K>{}), ...); }
      (std::make_index_sequence<S>{});
    };
    auto all_fast = [&]() {
      std::uint32_t any = 0;
      each([&](auto k) { any |= st[k]; });
      return any < walk.escape;  // escape is a power of two
    };
    // Advances every stream to byte `stop` of its segment; false: stop.
    auto run = [&](std::size_t stop, auto record) -> bool {
      while (i < stop) {
        if (all_fast()) {
          do {
            each([&](auto k) {
              st[k] = entry_at(walk.dense, st[k] + walk.class_offset[p[k * seg + i]]);
              if constexpr (decltype(record)::value) seen[k][i] = st[k];
            });
            ++i;
          } while (all_fast() && i < stop);
        } else {
          each([&](auto k) {
            st[k] = walk.step(st[k], p[k * seg + i]);
            if constexpr (decltype(record)::value) seen[k][i] = st[k];
          });
          ++i;
        }
        if (const std::uint32_t len = walk.match_length(st[0]); len != 0 && !on_match(i - len, i)) return false;
        each([&](auto k) {
          if constexpr (k != 0) {
            if (const std::uint32_t len = walk.match_length(st[k]); len != 0) {
              found(k).push_back(Interval{k * seg + i - len, k * seg + i});
            }
          }
        });
      }
      return true;
    };
    if (!run(window, std::true_type{}) || !run(seg, std::false_type{})) return;
    for (std::size_t q = S * seg; q < n; ++q) {  // the last segment's extra bytes
      st[S - 1] = walk.step(st[S - 1], p[q]);
      if (const std::uint32_t len = walk.match_length(st[S - 1]); len != 0) {
        found(S - 1).push_back(Interval{q + 1 - len, q + 1});
      }
    }

    std::uint32_t state = st[0];  // the true state at the start of segment k
    for (std::size_t k = 1; k < S; ++k) {
      const std::size_t begin = k * seg;
      const std::size_t end = k + 1 < S ? begin + seg : n;
      std::size_t q = begin;
      bool met = false;
      while (q < begin + window && !met) {
        state = walk.step(state, p[q]);
        ++q;
        if (const std::uint32_t len = walk.match_length(state); len != 0 && !on_match(q - len, q)) return;
        met = state == seen[k][q - 1 - begin];
      }
      if (met) {
        for (const Interval& m : found(k)) {
          if (m.end > q && !on_match(m.begin, m.end)) return;
        }
        state = st[k];
        continue;
      }
      for (; q < end; ++q) {
        state = walk.step(state, p[q]);
        if (const std::uint32_t len = walk.match_length(state); len != 0 && !on_match(q + 1 - len, q + 1)) return;
      }
    }
  };

  if (n >= 4 * kMinSegment) {
    run_streams.template operator()<4>();
  } else if (n >= 2 * kMinSegment) {
    run_streams.template operator()<2>();
  } else {
    run_streams.template operator()<1>();
  }
}

bool Matcher::contains_any_of(const std::string_view* texts, std::size_t count) const {
  if (state_count_ == 0) return false;
  const Walk walk(*this);

  // Up to four lanes, each scanning one text from the root; a lane that
  // finishes its text takes the next one. Like scan()'s streams, the point
  // is to overlap the lanes' dependent load chains.
  constexpr std::size_t kLanes = 4;
  std::array<const unsigned char*, kLanes> at{};
  std::array<std::size_t, kLanes> left{};
  std::array<std::uint32_t, kLanes> st{};
  std::size_t next = 0;
  auto take_text = [&](std::size_t k) {
    while (next < count) {
      const std::string_view t = texts[next++];
      if (!t.empty()) {
        at[k] = reinterpret_cast<const unsigned char*>(t.data());
        left[k] = t.size();
        st[k] = 0;
        return true;
      }
    }
    left[k] = 0;
    return false;
  };
  // Runs lanes [0, L) while all of them have text; 1: found a match,
  // 0: some lane ran dry and no text is left for it.
  auto run_lanes = [&]<std::size_t L>() -> bool {
    auto each = [](auto&& f) {
      [&]<std::size_t... K>(std::index_sequence<K...>) { (f(std::integral_constant<std::size_t, K>{}), ...); }
      (std::make_index_sequence<L>{});
    };
    auto all_fast = [&]() {
      std::uint32_t any = 0;
      each([&](auto k) { any |= st[k]; });
      return any < walk.escape;  // escape is a power of two
    };
    for (;;) {
      std::size_t run = left[0];
      each([&](auto k) { run = std::min(run, left[k]); });
      std::size_t j = 0;
      while (j < run) {
        if (all_fast()) {
          do {
            each([&](auto k) { st[k] = entry_at(walk.dense, st[k] + walk.class_offset[at[k][j]]); });
            ++j;
          } while (all_fast() && j < run);
        } else {
          each([&](auto k) { st[k] = walk.step(st[k], at[k][j]); });
          ++j;
        }
        bool found = false;
        each([&](auto k) { found = found || walk.match_length(st[k]) != 0; });
        if (found) return true;
      }
      bool dry = false;
      each([&](auto k) {
        at[k] += run;
        left[k] -= run;
        if (left[k] == 0 && !take_text(k)) dry = true;
      });
      if (dry) return false;
    }
  };

  std::size_t busy = 0;
  while (busy < kLanes && take_text(busy)) ++busy;
  while (busy > 0) {
    bool found = false;
    switch (busy) {
      case 4:
        found = run_lanes.template operator()<4>();
        break;
      case 3:
        found = run_lanes.template operator()<3>();
        break;
      case 2:
        found = run_lanes.template operator()<2>();
        break;
      default:
        found = run_lanes.template operator()<1>();
        break;
    }
    if (found) return true;
    // Texts are exhausted: move the lanes still busy to the front.
    std::size_t kept = 0;
    for (std::size_t k = 0; k < busy; ++k) {
      if (left[k] == 0) continue;
      at[kept] = at[k];
      left[kept] = left[k];
      st[kept] = st[k];
      ++kept;
    }
    busy = kept;
  }
  return false;
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
  // "b", "c", "abcd" on "abcd"), hence the stack.
  thread_local std::vector<Interval> spans_buffer;
  std::vector<Interval>& spans = reused(spans_buffer);
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

// ------------------------------------------------------------ documents

namespace {

class Masker final : public json::StringMap {
 public:
  Masker(const Matcher& matcher, std::string& scratch) : matcher_(matcher), scratch_(scratch) {}
  bool changed = false;
  std::string_view operator()(std::string_view in) override {
    if (!matcher_.contains_any(in)) return in;
    reused(scratch_);
    matcher_.mask(in, scratch_);
    // A secret such as "**" inside "****" masks to the same text: no change.
    if (scratch_ == in) return in;
    changed = true;
    return scratch_;
  }

 private:
  const Matcher& matcher_;
  std::string& scratch_;
};

}  // namespace

bool contains_any(const Matcher& matcher, const json::Doc& doc, std::uint32_t node) {
  if (matcher.empty()) return false;
  // Values rarely hold a secret: many short strings (keys too) scanned side
  // by side, a batch at a time.
  std::array<std::string_view, 32> batch;
  std::size_t size = 0;
  const std::uint32_t end = doc.end(node);
  for (std::uint32_t i = node; i < end; ++i) {
    if (doc.type(i) != json::Type::String) continue;
    batch[size++] = doc.str(i);
    if (size == batch.size()) {
      if (matcher.contains_any_of(batch.data(), size)) return true;
      size = 0;
    }
  }
  return size != 0 && matcher.contains_any_of(batch.data(), size);
}

bool mask_doc(const Matcher& matcher, const json::Doc& doc, std::uint32_t node, std::string& out) {
  if (!contains_any(matcher, doc, node)) return false;
  const std::size_t before = out.size();
  thread_local std::string scratch;
  Masker masker(matcher, scratch);
  json::write_mapped(doc, node, out, masker);
  if (!masker.changed) out.resize(before);
  return masker.changed;
}

namespace {
// Masks one string in place; an untouched string keeps its buffer. True
// when the text changed ("****" holding the secret "**" masks to itself).
bool mask_string(const Matcher& matcher, std::string& s) {
  if (!matcher.contains_any(s)) return false;
  std::string out;
  matcher.mask(s, out);
  if (out == s) return false;
  s = std::move(out);
  return true;
}

bool mask_tree(const Matcher& matcher, json::Value& value) {
  switch (value.type()) {
    case json::Type::String:
      return mask_string(matcher, value.as_string());
    case json::Type::Array: {
      bool any = false;
      for (json::Value& item : value.as_array()) any |= mask_tree(matcher, item);
      return any;
    }
    case json::Type::Object: {
      bool any = false, keys = false;
      for (json::Member& m : value.as_object()) {
        any |= mask_tree(matcher, m.value);
        keys |= mask_string(matcher, m.key);
      }
      // Masked keys re-sort, and of two keys that mask alike the later one
      // stays (as JSON.parse of the masked text keeps it).
      if (keys) value = json::Value(std::move(value.as_object()));
      return any || keys;
    }
    default:
      return false;
  }
}
}  // namespace

bool mask_value(const Matcher& matcher, json::Value& value) { return !matcher.empty() && mask_tree(matcher, value); }

// -------------------------------------------------------- SecretRegistry

struct SecretRegistry::Run {
  std::vector<std::string> values;   // sorted, unique, non-empty
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

const Matcher* SecretRegistry::step_matcher(std::string_view step_id) const {
  const Run* run = find_step_run(step_id);
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
