// In-memory data: pairwise comparisons and labeled rows.
//
// Items are interned once to 32-bit ids; after loading nothing refers to an item by name.
// Memory per comparison: a and b (4 + 4 bytes), the outcome (1 byte), plus 8 bytes when
// weights are present and 1 byte when home flags are present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace btfit {

// Name <-> id dictionary. Ids are dense, in order of first appearance. Names are stored
// once; look-ups by string_view allocate nothing (an open-addressing hash table whose slots
// hold short names themselves, so that a look-up touches one cache line:
// host/item_dictionary.cpp).
class ItemDictionary {
 public:
  // The id of `name`, adding it when new.
  std::uint32_t intern(std::string_view name);
  // The id of `name`, or -1 when absent.
  std::int64_t find(std::string_view name) const;
  std::size_t size() const { return names_.size(); }
  const std::string& name(std::uint32_t id) const { return names_[id]; }
  std::vector<std::string> names() const { return names_; }
  void reserve(std::size_t n);

  // For batched look-ups (the loaders overlap the cache misses of several): the hash of a
  // name, a prefetch of the table slot where its look-up starts, and intern with that hash.
  static std::uint64_t hash(std::string_view name);
  void prefetch(std::uint64_t hash) const;
  std::uint32_t intern(std::string_view name, std::uint64_t hash);

 private:
  struct Slot {
    std::uint32_t id_plus_one;  // 0: empty
    std::uint32_t length;
    std::uint64_t key[3];  // length <= 24: the name, zero-padded; else 16 bytes of it and a hash
  };
  void rehash(std::size_t n_slots);
  std::vector<std::string> names_;  // id -> name
  std::vector<Slot> slots_;         // a power of two, at most 3/4 full
};

// Comparisons (a, b, y, w): y = 1 when a beats b, 0 when b beats a, 0.5 for a tie; w >= 0 a
// frequency weight. Rows with w = 0 are ignored everywhere.
struct Comparisons {
  std::vector<std::string> item_names;  // id -> name
  std::vector<std::uint32_t> a;         // n_comparisons
  std::vector<std::uint32_t> b;         // n_comparisons
  std::vector<std::uint8_t> outcome2;   // n_comparisons; 2*y: 0, 1 or 2
  std::vector<double> weight;           // n_comparisons, or empty for all 1
  std::vector<std::uint8_t> at_home;    // n_comparisons (1 = a at home), or empty: no home field
  std::vector<std::uint32_t> cluster;   // n_comparisons cluster ids (dense from 0, for cluster-
                                        // robust SEs), or empty: none; add() leaves it alone

  std::size_t n_items() const { return item_names.size(); }
  std::size_t size() const { return a.size(); }
  bool has_weights() const { return !weight.empty(); }
  bool has_home_flags() const { return !at_home.empty(); }
  double y(std::size_t k) const { return 0.5 * outcome2[k]; }
  double w(std::size_t k) const { return weight.empty() ? 1.0 : weight[k]; }

  // Appends one comparison by item ids (y in {0, 0.5, 1}, w >= 0). Throws UsageError on a bad
  // value. Weights and home flags are materialised on first use.
  void add(std::uint32_t item_a, std::uint32_t item_b, double y, double w = 1.0, bool a_at_home = false);
  // Appends one comparison by item names, interning them in item_names through `dict`.
  void add(ItemDictionary& dict, std::string_view item_a, std::string_view item_b, double y,
           double w = 1.0, bool a_at_home = false);
};

// Labeled rows (x, y, w). x is dense (row-major n_rows x n_features) or sparse (CSR).
struct Rows {
  std::vector<std::string> feature_names;  // n_features
  std::size_t n_rows = 0;
  std::size_t n_features = 0;
  bool sparse = false;
  std::vector<double> dense;          // n_rows x n_features, row-major (dense only)
  std::vector<std::uint64_t> row_ptr;  // n_rows + 1 (sparse only)
  std::vector<std::uint32_t> col;     // nnz, 0-based feature index (sparse only)
  std::vector<double> val;            // nnz (sparse only)
  std::vector<double> label;          // n_rows, 0 or 1
  std::vector<double> weight;         // n_rows, or empty for all 1
  std::vector<std::uint32_t> cluster;  // n_rows cluster ids (dense from 0), or empty: none

  double w(std::size_t i) const { return weight.empty() ? 1.0 : weight[i]; }
  std::size_t nnz() const { return sparse ? val.size() : n_rows * n_features; }
};

}  // namespace btfit
