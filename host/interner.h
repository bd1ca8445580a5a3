// Interning names a few records late, so that the cache misses of several look-ups overlap.
//
// With names in random order, each look-up in a dictionary larger than the cache waits for
// memory (hundreds of nanoseconds on a busy machine) and the next one waits after it. Here a
// name is hashed and its table slot prefetched when it is pushed, and looked up kDepth pushes
// later, when the slot has arrived. The ids are exactly those that ItemDictionary::intern
// gives in push order; names are copied, so the caller's buffers may change meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "btfit/data.h"
#include "name_hash.h"

namespace btfit {

class DeferredInterner {
 public:
  explicit DeferredInterner(ItemDictionary& dict) : dict_(dict) {}
  DeferredInterner(const DeferredInterner&) = delete;
  DeferredInterner& operator=(const DeferredInterner&) = delete;

  // Appends the id of `name` to `out`: a placeholder until the look-up, at most kDepth pushes
  // later or at flush(). `out` must outlive that and must not shrink meanwhile.
  void push(std::string_view name, std::vector<std::uint32_t>& out) {
    if (count_ == kDepth) resolve_oldest();
    Pending& p = ring_[(head_ + count_) % kDepth];
    p.hash = hash_name(name);
    p.out = &out;
    p.index = out.size();
    p.length = name.size();
    if (name.size() <= sizeof p.short_name)
      std::memcpy(p.short_name, name.data(), name.size());
    else
      p.long_name.assign(name.data(), name.size());
    dict_.prefetch(p.hash);
    out.push_back(0);
    ++count_;
  }

  // Looks up every name still pending.
  void flush() {
    while (count_ > 0) resolve_oldest();
  }

 private:
  static constexpr std::size_t kDepth = 16;
  struct Pending {
    std::uint64_t hash = 0;
    std::vector<std::uint32_t>* out = nullptr;
    std::size_t index = 0;
    std::size_t length = 0;
    char short_name[48];
    std::string long_name;
  };

  void resolve_oldest() {
    Pending& p = ring_[head_];
    const std::string_view name = p.length <= sizeof p.short_name ? std::string_view(p.short_name, p.length)
                                                                  : std::string_view(p.long_name);
    (*p.out)[p.index] = dict_.intern(name, p.hash);
    head_ = (head_ + 1) % kDepth;
    --count_;
  }

  ItemDictionary& dict_;
  Pending ring_[kDepth];
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace btfit
