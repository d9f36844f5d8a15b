// Time and identity for changes: ISO-8601 timestamps and UUID v4 change ids.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace er {

// "2026-11-27T15:52:00.123Z" for epoch milliseconds (UTC, years 0..9999).
inline constexpr std::size_t kIsoChars = 24;
void iso8601(std::int64_t epoch_ms, char* out);  // kIsoChars bytes
std::string iso8601(std::int64_t epoch_ms);

// UUID v4 from xoshiro256**, seeded once with 256 bits of entropy the host
// supplies (crypto.getRandomValues in WASM). Change ids need uniqueness, not
// secrecy, so a seeded generator avoids a host call per change.
class UuidGenerator {
 public:
  explicit UuidGenerator(const std::array<std::uint64_t, 4>& seed);
  static constexpr std::size_t kChars = 36;
  void next(char* out);  // kChars bytes
  std::string next();

 private:
  std::uint64_t next_u64();
  std::array<std::uint64_t, 4> s_;
};

}  // namespace er
