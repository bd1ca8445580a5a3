// ItemDictionary: names interned to dense ids in order of first appearance.
//
// An open-addressing table with linear probing, at most 3/4 full, of 32-byte slots that hold
// the id and the name itself when it has at most 24 bytes (else its first 16 bytes and a
// 64-bit hash, the whole name being compared only on a match of those). Looking a name up
// then reads one cache line: with names in random order the table is the working set, and
// a miss to memory costs far more than the hashing.
#include <cstring>

#include "btfit/data.h"
#include "name_hash.h"

namespace btfit {

namespace {

constexpr std::size_t kInline = 24;

// The key words of `name` as a slot stores them.
void make_key(std::string_view name, std::uint64_t hash, std::uint64_t key[3]) {
  key[0] = key[1] = key[2] = 0;
  if (name.size() <= kInline) {
    std::memcpy(key, name.data(), name.size());
  } else {
    std::memcpy(key, name.data(), 16);
    key[2] = hash;
  }
}

}  // namespace

void ItemDictionary::rehash(std::size_t n_slots) {
  static_assert(sizeof(Slot) == 32, "a slot is half a cache line");
  slots_.assign(n_slots, Slot{0, 0, {0, 0, 0}});
  const std::size_t mask = n_slots - 1;
  for (std::size_t id = 0; id < names_.size(); ++id) {
    const std::uint64_t h = hash_name(names_[id]);
    std::size_t i = h & mask;
    while (slots_[i].id_plus_one != 0) i = (i + 1) & mask;
    Slot& slot = slots_[i];
    slot.id_plus_one = static_cast<std::uint32_t>(id + 1);
    slot.length = static_cast<std::uint32_t>(names_[id].size());
    make_key(names_[id], h, slot.key);
  }
}

void ItemDictionary::reserve(std::size_t n) {
  std::size_t n_slots = 64;
  while (3 * n_slots < 4 * n) n_slots *= 2;
  if (n_slots > slots_.size()) rehash(n_slots);
  names_.reserve(n);
}

std::uint64_t ItemDictionary::hash(std::string_view name) {
  return hash_name(name);
}

void ItemDictionary::prefetch(std::uint64_t hash) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
}

std::uint32_t ItemDictionary::intern(std::string_view name) {
  return intern(name, hash_name(name));
}

std::uint32_t ItemDictionary::intern(std::string_view name, std::uint64_t h) {
  if (4 * (names_.size() + 1) > 3 * slots_.size()) rehash(slots_.empty() ? 64 : 2 * slots_.size());
  std::uint64_t key[3];
  make_key(name, h, key);
  const auto length = static_cast<std::uint32_t>(name.size());
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.id_plus_one == 0) {
      const auto id = static_cast<std::uint32_t>(names_.size());
      names_.emplace_back(name);
      slot.id_plus_one = id + 1;
      slot.length = length;
      std::memcpy(slot.key, key, sizeof key);
      return id;
    }
    if (slot.length == length && slot.key[0] == key[0] && slot.key[1] == key[1] && slot.key[2] == key[2] &&
        (length <= kInline || names_[slot.id_plus_one - 1] == name))
      return slot.id_plus_one - 1;
  }
}

std::int64_t ItemDictionary::find(std::string_view name) const {
  if (slots_.empty()) return -1;
  const std::uint64_t h = hash_name(name);
  std::uint64_t key[3];
  make_key(name, h, key);
  const auto length = static_cast<std::uint32_t>(name.size());
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.id_plus_one == 0) return -1;
    if (slot.length == length && slot.key[0] == key[0] && slot.key[1] == key[1] && slot.key[2] == key[2] &&
        (length <= kInline || names_[slot.id_plus_one - 1] == name))
      return slot.id_plus_one - 1;
  }
}

}  // namespace btfit
