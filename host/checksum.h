// XXH64 (Yann Collet's xxHash, 64-bit variant, as specified in the xxHash repository's
// doc/xxhash_spec.md): the checksum of the binary cache. One-shot and streaming forms give
// the same value for the same bytes, however they are split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace btfit {

class Xxh64 {
 public:
  explicit Xxh64(std::uint64_t seed = 0) : seed_(seed), v_{seed + kP1 + kP2, seed + kP2, seed, seed - kP1} {}

  void update(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    total_ += n;
    if (buffered_ + n < 32) {
      std::memcpy(buffer_ + buffered_, p, n);
      buffered_ += n;
      return;
    }
    if (buffered_ > 0) {
      const std::size_t fill = 32 - buffered_;
      std::memcpy(buffer_ + buffered_, p, fill);
      stripe(buffer_);
      p += fill;
      n -= fill;
      buffered_ = 0;
    }
    while (n >= 32) {
      stripe(p);
      p += 32;
      n -= 32;
    }
    std::memcpy(buffer_, p, n);
    buffered_ = n;
  }

  std::uint64_t digest() const {
    std::uint64_t h;
    if (total_ >= 32) {
      h = rotl(v_[0], 1) + rotl(v_[1], 7) + rotl(v_[2], 12) + rotl(v_[3], 18);
      for (std::uint64_t v : v_) h = (h ^ round(0, v)) * kP1 + kP4;
    } else {
      h = seed_ + kP5;
    }
    h += total_;
    const unsigned char* p = buffer_;
    std::size_t n = buffered_;
    while (n >= 8) {
      h ^= round(0, load64(p));
      h = rotl(h, 27) * kP1 + kP4;
      p += 8;
      n -= 8;
    }
    if (n >= 4) {
      h ^= static_cast<std::uint64_t>(load32(p)) * kP1;
      h = rotl(h, 23) * kP2 + kP3;
      p += 4;
      n -= 4;
    }
    while (n > 0) {
      h ^= static_cast<std::uint64_t>(*p) * kP5;
      h = rotl(h, 11) * kP1;
      ++p;
      --n;
    }
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    h ^= h >> 32;
    return h;
  }

 private:
  static constexpr std::uint64_t kP1 = 11400714785074694791ULL;
  static constexpr std::uint64_t kP2 = 14029467366897019727ULL;
  static constexpr std::uint64_t kP3 = 1609587929392839161ULL;
  static constexpr std::uint64_t kP4 = 9650029242287828579ULL;
  static constexpr std::uint64_t kP5 = 2870177450012600261ULL;

  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static std::uint64_t round(std::uint64_t acc, std::uint64_t input) {
    return rotl(acc + input * kP2, 31) * kP1;
  }
  static std::uint64_t load64(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;  // little-endian hosts only (the cache checks)
  }
  static std::uint32_t load32(const unsigned char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  void stripe(const unsigned char* p) {
    for (int k = 0; k < 4; ++k) v_[k] = round(v_[k], load64(p + 8 * k));
  }

  std::uint64_t seed_;
  std::uint64_t v_[4];
  std::uint64_t total_ = 0;
  unsigned char buffer_[32] = {};
  std::size_t buffered_ = 0;
};

inline std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed = 0) {
  Xxh64 h(seed);
  h.update(data, n);
  return h.digest();
}

}  // namespace btfit
