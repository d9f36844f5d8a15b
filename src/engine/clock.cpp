#include "engine/clock.hpp"

#include <cstring>

namespace er {

namespace {
// Howard Hinnant's civil_from_days.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

char* put(char* out, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return out + width;
}
}  // namespace

void iso8601(std::int64_t ms, char* out) {
  std::int64_t days = ms / 86400000;
  std::int64_t rem = ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    --days;
  }
  int y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  if (y < 0) y = 0;
  if (y > 9999) y = 9999;
  const auto r = static_cast<unsigned>(rem);
  char* o = put(out, static_cast<unsigned>(y), 4);
  *o++ = '-';
  o = put(o, mo, 2);
  *o++ = '-';
  o = put(o, d, 2);
  *o++ = 'T';
  o = put(o, r / 3600000, 2);
  *o++ = ':';
  o = put(o, r / 60000 % 60, 2);
  *o++ = ':';
  o = put(o, r / 1000 % 60, 2);
  *o++ = '.';
  o = put(o, r % 1000, 3);
  *o = 'Z';
}

std::string iso8601(std::int64_t ms) {
  std::string out(kIsoChars, ' ');
  iso8601(ms, out.data());
  return out;
}

UuidGenerator::UuidGenerator(const std::array<std::uint64_t, 4>& seed) : s_(seed) {
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 0x9E3779B97F4A7C15ull;  // all-zero state is a fixed point
}

std::uint64_t UuidGenerator::next_u64() {
  auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void UuidGenerator::next(char* out) {
  std::uint64_t hi = next_u64(), lo = next_u64();
  hi = (hi & ~0xF000ull) | 0x4000ull;                            // version 4
  lo = (lo & ~(0xC000000000000000ull)) | 0x8000000000000000ull;  // RFC 4122 variant
  // Two hex digits per byte from a table, dashes at 8, 13, 18, 23.
  static const char* const kHex = "0123456789abcdef";
  char digits[32];
  for (int i = 0; i < 8; ++i) {
    const auto b = static_cast<unsigned>(hi >> (56 - 8 * i)) & 0xFF;
    digits[2 * i] = kHex[b >> 4];
    digits[2 * i + 1] = kHex[b & 0xF];
    const auto c = static_cast<unsigned>(lo >> (56 - 8 * i)) & 0xFF;
    digits[16 + 2 * i] = kHex[c >> 4];
    digits[16 + 2 * i + 1] = kHex[c & 0xF];
  }
  std::memcpy(out, digits, 8);
  out[8] = '-';
  std::memcpy(out + 9, digits + 8, 4);
  out[13] = '-';
  std::memcpy(out + 14, digits + 12, 4);
  out[18] = '-';
  std::memcpy(out + 19, digits + 16, 4);
  out[23] = '-';
  std::memcpy(out + 24, digits + 20, 12);
}

std::string UuidGenerator::next() {
  std::string out(kChars, '-');
  next(out.data());
  return out;
}

}  // namespace er
