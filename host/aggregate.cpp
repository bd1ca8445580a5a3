// Collapsing repeated comparisons into counts (see btfit/aggregate.h for why it is exact).
//
// A row's canonical key packs (a, b, 2y, home) into 64 bits:
//   key = ((a * n_items + b) * 3 + 2y) * 2 + home,   a < b unless the row is a home game.
// Aggregation is a hash aggregation: the keys are split among the threads by a hash, each
// thread reads every row and adds the weights of the keys it owns into its own open-addressing
// table, so a key's weight is summed in row order whatever the thread count. The distinct-row
// estimate counts, in one pass, how often the keys of a sample of rows occur in all rows.
#include "btfit/aggregate.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "btfit/detail/rng.h"
#include "btfit/error.h"
#include "objective_cpu.h"

namespace btfit {

namespace {

constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
constexpr std::size_t kSample = 4096;
// One thread per kRowsPerThread rows at most (a parallel region costs more below that).
constexpr std::size_t kRowsPerThread = 100000;

int threads_for(std::size_t rows, int threads) {
  const std::size_t cap = std::max<std::size_t>(1, rows / kRowsPerThread);
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(threads)), cap));
}

// Keys exist when n_items^2 * 6 < 2^64 - 1 (n_items up to 1.7e9).
bool keys_fit(std::size_t n_items) {
  return n_items <= 1700000000ULL;
}

struct KeyMaker {
  std::uint64_t n_items;
  const std::uint32_t* a;
  const std::uint32_t* b;
  const std::uint8_t* outcome2;
  const std::uint8_t* at_home;  // null unless home games stay uncanonicalized
  const double* weight;         // null for all 1

  double w(std::size_t k) const { return weight ? weight[k] : 1.0; }
  std::uint64_t key(std::size_t k) const {
    std::uint64_t lo = a[k], hi = b[k], y2 = outcome2[k], home = 0;
    if (at_home != nullptr && at_home[k] != 0) {
      home = 1;
    } else if (lo > hi) {
      std::swap(lo, hi);
      y2 = 2 - y2;
    }
    return ((lo * n_items + hi) * 3 + y2) * 2 + home;
  }
};

KeyMaker key_maker(const Comparisons& data, bool home_advantage) {
  return KeyMaker{data.n_items(),
                  data.a.data(),
                  data.b.data(),
                  data.outcome2.data(),
                  home_advantage && data.has_home_flags() ? data.at_home.data() : nullptr,
                  data.has_weights() ? data.weight.data() : nullptr};
}

std::uint64_t slot_hash(std::uint64_t key) {
  return detail::mix64(key);
}

// Which thread owns a key: the high half of the hash, scaled to [0, threads).
int owner(std::uint64_t hash, int threads) {
  return static_cast<int>(((hash >> 32) * static_cast<std::uint64_t>(threads)) >> 32);
}

std::size_t table_capacity(std::size_t expected) {
  std::size_t capacity = 1024;
  while (capacity < 2 * expected) capacity *= 2;
  return capacity;
}

// Open-addressing table key -> weight (linear probing, load <= 1/2), one slot per cache access.
class WeightTable {
 public:
  struct Slot {
    std::uint64_t key;
    double weight;
  };

  explicit WeightTable(std::size_t expected) { reset(table_capacity(expected)); }

  const Slot* slot_for(std::uint64_t hash) const { return &slots_[hash & mask_]; }

  void add(std::uint64_t key, std::uint64_t hash, double weight) {
    std::size_t slot = hash & mask_;
    while (true) {
      Slot& s = slots_[slot];
      if (s.key == key) {
        s.weight += weight;
        return;
      }
      if (s.key == kEmpty) break;
      slot = (slot + 1) & mask_;
    }
    slots_[slot] = Slot{key, weight};
    if (++size_ * 2 > slots_.size()) grow();
  }

  std::size_t size() const { return size_; }
  const std::vector<Slot>& slots() const { return slots_; }

 private:
  void reset(std::size_t capacity) {
    slots_.assign(capacity, Slot{kEmpty, 0.0});
    mask_ = capacity - 1;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    reset(old.size() * 2);
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      std::size_t slot = slot_hash(s.key) & mask_;
      while (slots_[slot].key != kEmpty) slot = (slot + 1) & mask_;
      slots_[slot] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

// The sampled keys: key -> sample id (linear probing, fixed size, load <= 1/4).
class SampleTable {
 public:
  explicit SampleTable(const std::vector<std::uint64_t>& keys)
      : keys_(table_capacity(2 * keys.size()), kEmpty) {
    ids_.resize(keys_.size());
    mask_ = keys_.size() - 1;
    for (const std::uint64_t key : keys) {
      std::size_t slot = slot_hash(key) & mask_;
      while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
      if (keys_[slot] == kEmpty) {
        keys_[slot] = key;
        ids_[slot] = size_++;
      }
    }
  }
  std::uint32_t size() const { return size_; }
  // The id of `key`, or -1.
  std::int64_t find(std::uint64_t key, std::uint64_t hash) const {
    std::size_t slot = hash & mask_;
    while (true) {
      if (keys_[slot] == key) return ids_[slot];
      if (keys_[slot] == kEmpty) return -1;
      slot = (slot + 1) & mask_;
    }
  }

 private:
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> ids_;
  std::size_t mask_ = 0;
  std::uint32_t size_ = 0;
};

}  // namespace

double estimate_distinct_fraction(const Comparisons& data, bool home_advantage, int threads_in,
                                  double above) {
  const std::size_t n = data.size();
  if (n == 0 || !keys_fit(data.n_items())) return 1.0;
  const int threads = threads_for(n, threads_in);
  const KeyMaker maker = key_maker(data, home_advantage);

  // The sample: one row at a seeded random position in each of sample_size equal strata (so
  // no row is drawn twice; rows of weight 0 are passed over). With `above`, large enough that
  // rows left <= above * n would show in it as >= 16 repeated keys.
  std::size_t sample_size = kSample;
  if (above > 0.0)
    sample_size =
        std::max(sample_size, static_cast<std::size_t>(std::sqrt(32.0 * above * static_cast<double>(n))));
  sample_size = std::min(sample_size, n);
  std::vector<std::uint64_t> sample_keys;
  sample_keys.reserve(sample_size);
  const double stratum = static_cast<double>(n) / static_cast<double>(sample_size);
  for (std::size_t j = 0; j < sample_size; ++j) {
    const double u = detail::counter_uniform(0x5eed, 0, j);
    const auto k = std::min(n - 1, static_cast<std::size_t>((static_cast<double>(j) + u) * stratum));
    if (maker.w(k) > 0.0) sample_keys.push_back(maker.key(k));
  }
  if (sample_keys.empty()) return 1.0;
  const SampleTable table(sample_keys);
  const std::uint32_t n_distinct = table.size();
  // Rows left = D <= above * n forces a collision probability sum_key p^2 >= 1 / (above * n),
  // so a sample of m rows would repeat a key about m^2 / (2 above n) >= 16 times; fewer than
  // 4 repeats rule that out (a Poisson count of mean 16 falls below 4 with probability 1e-4),
  // and the counting pass is not needed.
  if (above > 0.0 && n > sample_size && sample_keys.size() - n_distinct < 4) return 1.0;

  // How often each sampled key occurs among all rows of positive weight.
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(threads) * n_distinct, 0);
#pragma omp parallel num_threads(threads)
  {
    std::uint64_t* mine = counts.data() + static_cast<std::size_t>(omp_get_thread_num()) * n_distinct;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
      const auto k = static_cast<std::size_t>(kk);
      const std::uint64_t key = maker.key(k);
      const std::int64_t id = table.find(key, slot_hash(key));
      if (id >= 0 && maker.w(k) > 0.0) ++mine[id];
    }
  }
  for (int t = 1; t < threads; ++t)
    for (std::uint32_t i = 0; i < n_distinct; ++i)
      counts[i] += counts[static_cast<std::size_t>(t) * n_distinct + i];
  double sum = 0.0;
  for (const std::uint64_t key : sample_keys) {
    const auto id = static_cast<std::size_t>(table.find(key, slot_hash(key)));
    sum += 1.0 / static_cast<double>(std::max<std::uint64_t>(1, counts[id]));
  }
  return sum / static_cast<double>(sample_keys.size());
}

Comparisons aggregate_comparisons(const Comparisons& data, bool home_advantage, int threads_in,
                                  double distinct_fraction) {
  if (!keys_fit(data.n_items()))
    throw UsageError("aggregation: more than 1.7e9 items do not fit its 64-bit keys");
  const std::size_t n = data.size();
  const int threads = threads_for(n, threads_in);
  const KeyMaker maker = key_maker(data, home_advantage);
  const bool keep_home = maker.at_home != nullptr;
  if (!(distinct_fraction > 0.0 && distinct_fraction <= 1.0))
    distinct_fraction = estimate_distinct_fraction(data, home_advantage, threads);
  // Room for the expected distinct rows (and 20% more) from the start: no rehashing.
  const auto expected = static_cast<std::size_t>(1.2 * distinct_fraction * static_cast<double>(n) /
                                                 static_cast<double>(threads)) +
                        16;

  // Each thread sums the weights of the keys it owns, in row order, in its own table. Keys and
  // hashes are computed a block ahead so that the table's cache lines can be fetched early.
  std::vector<WeightTable> tables;
  tables.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) tables.emplace_back(expected);
  constexpr std::size_t kBlock = 32;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    WeightTable& table = tables[static_cast<std::size_t>(t)];
    std::uint64_t keys[kBlock], hashes[kBlock];
    for (std::size_t begin = 0; begin < n; begin += kBlock) {
      const std::size_t count = std::min(kBlock, n - begin);
      for (std::size_t i = 0; i < count; ++i) {
        keys[i] = maker.key(begin + i);
        hashes[i] = slot_hash(keys[i]);
        if (threads == 1 || owner(hashes[i], threads) == t) __builtin_prefetch(table.slot_for(hashes[i]), 1);
      }
      for (std::size_t i = 0; i < count; ++i) {
        const double w = maker.w(begin + i);
        if (!(w > 0.0) || (threads > 1 && owner(hashes[i], threads) != t)) continue;
        table.add(keys[i], hashes[i], w);
      }
    }
  }

  Comparisons out;
  out.item_names = data.item_names;
  std::vector<std::size_t> offset(static_cast<std::size_t>(threads) + 1, 0);
  for (int t = 0; t < threads; ++t) offset[t + 1] = offset[t] + tables[static_cast<std::size_t>(t)].size();
  const std::size_t rows = offset.back();
  out.a.resize(rows);
  out.b.resize(rows);
  out.outcome2.resize(rows);
  out.weight.resize(rows);
  if (keep_home) out.at_home.resize(rows);
  const std::uint64_t n_items = data.n_items();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    std::size_t r = offset[t];
    for (const auto& slot : tables[static_cast<std::size_t>(t)].slots()) {
      if (slot.key == kEmpty) continue;
      std::uint64_t key = slot.key;
      const auto home = static_cast<std::uint8_t>(key % 2);
      key /= 2;
      out.outcome2[r] = static_cast<std::uint8_t>(key % 3);
      key /= 3;
      out.b[r] = static_cast<std::uint32_t>(key % n_items);
      out.a[r] = static_cast<std::uint32_t>(key / n_items);
      out.weight[r] = slot.weight;
      if (keep_home) out.at_home[r] = home;
      ++r;
    }
  }
  return out;
}

}  // namespace btfit
