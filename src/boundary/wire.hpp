// The boundary codec, C++ side: decodes a write from the input buffer and
// encodes its result as fixed-size records of u32 words, laid out by
// wire.def (which js/src/wire.js reads through its generated copy). Nothing
// else in C++ knows the byte layout.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "engine/engine.hpp"

namespace er::wire {

#define WIRE_HEADER(name, slot) inline constexpr std::uint32_t H_##name = slot;
#define WIRE_HEADER_WORDS(n) inline constexpr std::uint32_t kHeaderWords = n;
#define WIRE_STATUS(name, value) inline constexpr std::uint32_t STATUS_##name = value;
#define WIRE_PREV(name, value) inline constexpr std::uint32_t PREV_##name = value;
#define WIRE_CONSTANT(name, value) inline constexpr std::uint32_t name = value;
#define WIRE_RECORD(name, slot) inline constexpr std::uint32_t R_##name = slot;
#define WIRE_RECORD_WORDS(n) inline constexpr std::uint32_t kRecordWords = n;
#define WIRE_FLAG(name, bit) inline constexpr std::uint32_t F_##name = bit;
#include "boundary/wire.def"
#undef WIRE_HEADER
#undef WIRE_HEADER_WORDS
#undef WIRE_STATUS
#undef WIRE_PREV
#undef WIRE_CONSTANT
#undef WIRE_RECORD
#undef WIRE_RECORD_WORDS
#undef WIRE_FLAG

// A decoded write: views into the input bytes.
struct WriteInput {
  std::string_view run_id;
  std::string_view actor;
  std::vector<WriteEntry> entries;
};

// Reads `count` entries from `input` (the layout in wire.def). Errors:
// ER_BAD_ARGUMENT when the lengths run past the input.
Result<void> decode_write(std::string_view input, std::uint32_t count, WriteInput& out);

// The records of a write result (RECORDS), kRecordWords words per entry.
void encode_records(const WriteResult& result, std::vector<std::uint32_t>& records);

// Native tests and benches build inputs the way js/src/wire.js does.
void encode_write(std::string_view run_id, std::string_view actor, std::span<const WriteEntry> entries,
                  std::string& input);

}  // namespace er::wire
