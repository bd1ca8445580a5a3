// The hash of item names (ItemDictionary, DeferredInterner): inline, since a loader hashes
// every name it reads.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace btfit {

// A 64-bit hash for short strings: 8 bytes at a time, each folded in by a multiply; the last
// 1 to 8 bytes read with overlapping loads (no byte loop); the finalizer of MurmurHash3.
inline std::uint64_t hash_name(std::string_view name) {
  const auto* p = reinterpret_cast<const unsigned char*>(name.data());
  const std::size_t n = name.size();
  auto load64 = [](const unsigned char* q) {
    std::uint64_t v;
    std::memcpy(&v, q, 8);
    return v;
  };
  auto load32 = [](const unsigned char* q) {
    std::uint32_t v;
    std::memcpy(&v, q, 4);
    return std::uint64_t{v};
  };
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  std::size_t i = 0;
  for (; i + 8 < n; i += 8) {
    h = (h ^ load64(p + i)) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
  }
  std::uint64_t last = 0;
  if (n >= 8)
    last = load64(p + n - 8);
  else if (n >= 4)
    last = (load32(p) << 32) | load32(p + n - 4);
  else if (n > 0)
    last = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[n / 2]} << 8) | p[n - 1];
  h = (h ^ last) * 0x94d049bb133111ebULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace btfit
