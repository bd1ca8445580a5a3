// Loading comparisons, labeled rows and prior files, with every value validated.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include "btfit/error.h"
#include "btfit/io.h"
#include "csv.h"
#include "formats.h"
#include "interner.h"
#include "parallel_load.h"
#include "progress.h"

namespace btfit {

// ---------------------------------------------------------------------------------------
// In-memory construction (the item dictionary is in item_dictionary.cpp)

void Comparisons::add(std::uint32_t item_a, std::uint32_t item_b, double y, double w, bool a_at_home) {
  if (item_a >= item_names.size() || item_b >= item_names.size())
    throw UsageError("comparison refers to an item id beyond item_names");
  if (item_a == item_b) throw UsageError("self-comparison of item " + item_names[item_a]);
  if (!(y == 0.0 || y == 0.5 || y == 1.0)) throw UsageError("outcome y must be 0, 0.5 or 1");
  if (!(w >= 0.0) || !std::isfinite(w)) throw UsageError("weight must be finite and >= 0");
  const bool with_weight = !weight.empty() || w != 1.0;
  const bool with_home = !at_home.empty() || a_at_home;
  if (with_weight) weight.resize(a.size(), 1.0);
  if (with_home) at_home.resize(a.size(), 0);
  a.push_back(item_a);
  b.push_back(item_b);
  outcome2.push_back(static_cast<std::uint8_t>(2.0 * y));
  if (with_weight) weight.push_back(w);
  if (with_home) at_home.push_back(a_at_home ? 1 : 0);
}

void Comparisons::add(ItemDictionary& dict, std::string_view item_a, std::string_view item_b,
                      double y, double w, bool a_at_home) {
  const auto ia = dict.intern(item_a);
  const auto ib = dict.intern(item_b);
  while (item_names.size() < dict.size()) item_names.push_back(dict.name(static_cast<std::uint32_t>(item_names.size())));
  add(ia, ib, y, w, a_at_home);
}

namespace {

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string column_list(const std::vector<std::string>& header) {
  std::string out;
  for (std::size_t i = 0; i < header.size(); ++i) out += (i ? ", " : "") + header[i];
  return out;
}

// Index of `column` in the header; throws naming the file and listing the columns.
std::size_t find_column(const CsvReader& reader, const std::vector<std::string>& header,
                        const std::string& column, const char* option) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == column) return i;
  throw InputError(reader.name(), 1, 0,
                   "no column named " + quoted(column) + " (from " + option +
                       "); the header has: " + column_list(header));
}

void check_field_count(const CsvReader& reader, std::size_t expected, std::size_t got) {
  if (got != expected) {
    throw InputError(reader.name(), reader.line(), std::min(got, expected) + 1,
                     "expected " + std::to_string(expected) + " fields, found " + std::to_string(got) +
                         (got < expected ? " (short row)" : " (extra fields)"));
  }
}

std::string column_label(const std::vector<std::string>& header, std::size_t index) {
  return "column " + quoted(header[index]);
}

// Outcome of a/b/outcome rows: y for side a.
bool parse_outcome(std::string_view text, double* y) {
  text = trim(text);
  if (text == "a" || text == "model_a") { *y = 1.0; return true; }
  if (text == "b" || text == "model_b") { *y = 0.0; return true; }
  if (text == "tie" || text == "tie (bothbad)") { *y = 0.5; return true; }
  double v = 0;
  if (parse_double(text, &v) && (v == 0.0 || v == 0.5 || v == 1.0)) { *y = v; return true; }
  return false;
}

double parse_weight(const CsvReader& reader, const std::vector<std::string>& header,
                    std::size_t column, std::string_view text, const char* what) {
  double w = 0;
  if (!parse_double(text, &w))
    throw InputError(reader.name(), reader.line(), column + 1,
                     column_label(header, column) + ": " + what + " " + quoted(text) + " is not a number");
  if (std::isnan(w))
    throw InputError(reader.name(), reader.line(), column + 1, column_label(header, column) + ": " + what + " is NaN");
  if (!std::isfinite(w))
    throw InputError(reader.name(), reader.line(), column + 1,
                     column_label(header, column) + ": " + what + " " + quoted(text) + " is not finite");
  if (w < 0.0)
    throw InputError(reader.name(), reader.line(), column + 1,
                     column_label(header, column) + ": negative " + what + " " + quoted(text));
  return w;
}

// MemAvailable from /proc/meminfo in bytes, or 0 when unknown.
std::size_t available_memory_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return 0;
  char line[256];
  std::size_t kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb * 1024;
}

// Refuses input whose in-memory form would not fit, before reading it all.
void check_fits_in_memory(const CsvReader& reader, std::size_t expected_rows, std::size_t bytes_per_row) {
  const std::size_t available = available_memory_bytes();
  const double needed = static_cast<double>(expected_rows) * static_cast<double>(bytes_per_row);
  if (available > 0 && needed > 0.9 * static_cast<double>(available)) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "about %zu rows need about %.1f GiB in memory, and %.1f GiB are available; "
                  "aggregate the rows (--count) or use a machine with more memory",
                  expected_rows, needed / 1073741824.0, static_cast<double>(available) / 1073741824.0);
    throw InputError(reader.name(), 0, 0, msg);
  }
}

// Reserves for the records of this reader (its chunk of the file, or the whole file).
template <typename T>
void reserve_estimate(std::vector<T>& v, const CsvReader& reader, std::size_t bytes_per_line) {
  if (reader.size_hint() > 0 && bytes_per_line > 0) v.reserve(reader.size_hint() / bytes_per_line + 16);
}

// The columns of a comparison file, found in its header.
struct ComparisonLayout {
  std::vector<std::string> header;
  bool ab_layout = false;
  std::size_t col_a = 0, col_b = 0, col_outcome = 0;
  bool has_count = false;
  std::size_t col_count = 0;
  bool has_neutral = false;
  std::size_t col_neutral = 0;
  bool has_cluster = false;
  std::size_t col_cluster = 0;
  bool home_flags = false;
};

ComparisonLayout comparison_layout(const CsvReader& reader, std::vector<std::string> header_fields,
                                   const ComparisonColumns& columns) {
  ComparisonLayout layout;
  layout.header = std::move(header_fields);
  const auto& header = layout.header;
  layout.ab_layout = !columns.a.empty() || !columns.b.empty() || !columns.outcome.empty();
  if (layout.ab_layout && (columns.a.empty() || columns.b.empty() || columns.outcome.empty()))
    throw UsageError("--a, --b and --outcome go together");
  if (layout.ab_layout) {
    layout.col_a = find_column(reader, header, columns.a, "--a");
    layout.col_b = find_column(reader, header, columns.b, "--b");
    layout.col_outcome = find_column(reader, header, columns.outcome, "--outcome");
  } else {
    layout.col_a = find_column(reader, header, columns.winner, "--winner");
    layout.col_b = find_column(reader, header, columns.loser, "--loser");
  }
  layout.has_count = !columns.count.empty();
  layout.col_count = layout.has_count ? find_column(reader, header, columns.count, "--count") : 0;
  layout.has_neutral = !columns.neutral.empty();
  layout.col_neutral = layout.has_neutral ? find_column(reader, header, columns.neutral, "--neutral") : 0;
  layout.has_cluster = !columns.cluster.empty();
  layout.col_cluster = layout.has_cluster ? find_column(reader, header, columns.cluster, "--cluster") : 0;
  layout.home_flags = columns.home_flags;
  return layout;
}

// Reads the records of `reader` into `data` (item_names left to the caller), interning item
// names in `dict` and cluster labels in `clusters`: the whole file, or one chunk of it.
void read_comparison_records(CsvReader& reader, const ComparisonLayout& layout, ItemDictionary& dict,
                             ItemDictionary& clusters, Comparisons& data) {
  const auto& header = layout.header;
  const bool ab_layout = layout.ab_layout, has_count = layout.has_count, has_neutral = layout.has_neutral,
             has_cluster = layout.has_cluster;
  const std::size_t col_a = layout.col_a, col_b = layout.col_b, col_outcome = layout.col_outcome,
                    col_count = layout.col_count, col_neutral = layout.col_neutral, col_cluster = layout.col_cluster;
  std::vector<std::string_view> fields;
  const std::size_t n_fields = header.size();
  bool reserved = false;
  DeferredInterner items(dict);
  // The fast path of a two-column file (winner, loser): a line without quotes is cut at its
  // one delimiter, no field list; anything else (more delimiters, empty or equal names) goes
  // the general way below, which gives the same result or the error.
  const bool two_names = n_fields == 2 && !ab_layout && !has_count && !has_neutral && !has_cluster;
  const char delimiter = reader.delimiter();
  std::string_view raw;
  while (reader.next_raw(&raw, fields)) {
    if (two_names && reserved && !raw.empty()) {
      const auto* cut = static_cast<const char*>(std::memchr(raw.data(), delimiter, raw.size()));
      if (cut != nullptr) {
        const auto at = static_cast<std::size_t>(cut - raw.data());
        const std::string_view first = trim(raw.substr(0, at)), second = trim(raw.substr(at + 1));
        if (!first.empty() && !second.empty() && first != second &&
            second.find(delimiter) == std::string_view::npos) {
          const std::string_view winner = col_a == 0 ? first : second, loser = col_a == 0 ? second : first;
          items.push(winner, data.a);
          items.push(loser, data.b);
          data.outcome2.push_back(2);
          if (layout.home_flags) data.at_home.push_back(1);  // side a at home, no neutral column
          continue;
        }
      }
    }
    if (!raw.empty()) reader.split(raw, fields);
    check_field_count(reader, n_fields, fields.size());
    const std::string_view name_a = trim(fields[col_a]);
    const std::string_view name_b = trim(fields[col_b]);
    if (name_a.empty())
      throw InputError(reader.name(), reader.line(), col_a + 1, column_label(header, col_a) + ": empty item name");
    if (name_b.empty())
      throw InputError(reader.name(), reader.line(), col_b + 1, column_label(header, col_b) + ": empty item name");
    if (name_a == name_b)
      throw InputError(reader.name(), reader.line(), col_b + 1,
                       "self-comparison: " + quoted(name_a) + " against itself");
    double y = 1.0;
    if (ab_layout && !parse_outcome(fields[col_outcome], &y))
      throw InputError(reader.name(), reader.line(), col_outcome + 1,
                       column_label(header, col_outcome) + ": outcome " + quoted(fields[col_outcome]) +
                           " is not one of 1, 0, 0.5, a, b, model_a, model_b, tie, \"tie (bothbad)\"");
    double w = 1.0;
    if (has_count) w = parse_weight(reader, header, col_count, fields[col_count], "count");
    bool at_home = layout.home_flags;
    if (has_neutral) {
      const auto text = trim(fields[col_neutral]);
      if (text == "1" || text == "true" || text == "TRUE")
        at_home = false;
      else if (!(text == "0" || text == "false" || text == "FALSE"))
        throw InputError(reader.name(), reader.line(), col_neutral + 1,
                         column_label(header, col_neutral) + ": neutral flag " + quoted(text) + " is not 1 or 0");
    }
    if (w == 0.0) continue;  // zero-weight rows are kept out of everything
    if (!reserved) {
      // Reserve from the first record's length to avoid regrowing large vectors.
      const std::size_t line_bytes = std::max<std::size_t>(8, reader.bytes_consumed() / std::max<std::size_t>(1, reader.line()));
      if (reader.file_size() > 0)
        check_fits_in_memory(reader, reader.file_size() / line_bytes,
                             9 + (has_count ? 8 : 0) + (layout.home_flags ? 1 : 0));
      reserve_estimate(data.a, reader, line_bytes);
      reserve_estimate(data.b, reader, line_bytes);
      reserve_estimate(data.outcome2, reader, line_bytes);
      if (has_count) reserve_estimate(data.weight, reader, line_bytes);
      if (layout.home_flags) reserve_estimate(data.at_home, reader, line_bytes);
      reserved = true;
    }
    items.push(name_a, data.a);
    items.push(name_b, data.b);
    data.outcome2.push_back(static_cast<std::uint8_t>(2.0 * y));
    if (has_count) data.weight.push_back(w);
    if (layout.home_flags) data.at_home.push_back(at_home ? 1 : 0);
    if (has_cluster) data.cluster.push_back(clusters.intern(trim(fields[col_cluster])));
  }
  items.flush();
}

std::string display_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

}  // namespace

Comparisons load_comparisons(const std::string& path, const ComparisonColumns& columns) {
  if (columns.format == ComparisonFormat::automatic && is_comparison_cache(path))
    return load_comparison_cache(path, columns);
  if (is_jsonl_input(path, columns.format)) return load_comparisons_jsonl(path, columns);
  LoadProgress progress(columns.load.progress, display_name(path), "comparisons", 0);
  CsvReader reader(path, &progress);
  progress.set_total_bytes(reader.input().file_size);
  const ComparisonLayout layout = comparison_layout(reader, reader.read_header(), columns);
  const std::size_t n_chunks = plan_chunks(reader, columns.load);
  if (n_chunks > 1) {
    std::vector<ComparisonChunk> chunks(n_chunks);
    parse_chunks(reader, path, n_chunks, columns.load, true, &progress, [&](CsvReader& chunk_reader, std::size_t c) {
      chunks[c] = ComparisonChunk();
      read_comparison_records(chunk_reader, layout, chunks[c].items, chunks[c].clusters, chunks[c].data);
    });
    Comparisons data = merge_comparison_chunks(chunks, load_threads(columns.load));
    if (data.a.empty())
      throw InputError(reader.name(), 0, 0, "no comparisons with positive weight after the header");
    return data;
  }

  Comparisons data;
  ItemDictionary dict;
  ItemDictionary clusters;
  read_comparison_records(reader, layout, dict, clusters, data);
  if (data.a.empty())
    throw InputError(reader.name(), 0, 0, "no comparisons with positive weight after the header");
  data.item_names = dict.names();
  data.a.shrink_to_fit();
  data.b.shrink_to_fit();
  data.outcome2.shrink_to_fit();
  data.weight.shrink_to_fit();
  data.at_home.shrink_to_fit();
  return data;
}

// ---------------------------------------------------------------------------------------
// Rows

namespace {

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads the LIBSVM lines of `reader` (used as a raw line reader) into `rows` (sparse, with
// row_ptr starting at 0), raising *max_index to the largest feature index seen.
void read_libsvm_records(CsvReader& reader, Rows& rows, std::uint32_t* max_index_out) {
  rows.sparse = true;
  rows.row_ptr.push_back(0);
  std::uint32_t max_index = 0;
  std::string_view line;
  while (reader.next_line(line)) {
    const auto hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    std::size_t pos = 0;
    std::size_t token_index = 0;
    std::uint32_t previous = 0;
    bool have_label = false;
    while (pos < line.size()) {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      if (pos >= line.size()) break;
      std::size_t end = pos;
      while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
      const std::string_view token = line.substr(pos, end - pos);
      const std::size_t column = pos + 1;  // character position in the line
      ++token_index;
      if (!have_label) {
        double label = 0;
        if (!parse_double(token, &label) || !(label == 1.0 || label == 0.0 || label == -1.0))
          throw InputError(reader.name(), reader.line(), column,
                           "label " + quoted(token) + " is not 1, 0, +1 or -1");
        rows.label.push_back(label == 1.0 ? 1.0 : 0.0);
        have_label = true;
      } else {
        const auto colon = token.find(':');
        if (colon == std::string_view::npos)
          throw InputError(reader.name(), reader.line(), column,
                           "malformed feature " + quoted(token) + " (expected index:value)");
        const auto index_text = token.substr(0, colon);
        std::uint64_t index = 0;
        const auto parsed = std::from_chars(index_text.data(), index_text.data() + index_text.size(), index);
        if (parsed.ec != std::errc() || parsed.ptr != index_text.data() + index_text.size() || index_text.empty())
          throw InputError(reader.name(), reader.line(), column,
                           "malformed feature index " + quoted(index_text) + " (expected a positive integer)");
        if (index == 0)
          throw InputError(reader.name(), reader.line(), column, "feature index 0: LIBSVM indices start at 1");
        if (index > 0xFFFFFFF0ULL)
          throw InputError(reader.name(), reader.line(), column, "feature index " + quoted(index_text) + " is too large");
        if (index <= previous)
          throw InputError(reader.name(), reader.line(), column,
                           "feature index " + quoted(index_text) + " is not larger than the previous one (indices must increase)");
        double value = 0;
        if (!parse_double(token.substr(colon + 1), &value))
          throw InputError(reader.name(), reader.line(), column,
                           "feature value " + quoted(token.substr(colon + 1)) + " is not a number");
        if (!std::isfinite(value))
          throw InputError(reader.name(), reader.line(), column, "feature value " + quoted(token.substr(colon + 1)) + " is not finite");
        previous = static_cast<std::uint32_t>(index);
        max_index = std::max(max_index, previous);
        if (value != 0.0) {
          rows.col.push_back(previous - 1);
          rows.val.push_back(value);
        }
      }
      pos = end;
    }
    if (!have_label) continue;  // a comment-only line
    rows.row_ptr.push_back(rows.col.size());
  }
  *max_index_out = std::max(*max_index_out, max_index);
}

Rows load_rows_libsvm(const std::string& path, const LoadOptions& options) {
  LoadProgress progress(options.progress, display_name(path), "rows", 0);
  CsvReader reader(path, &progress);
  progress.set_total_bytes(reader.input().file_size);
  Rows rows;
  std::uint32_t max_index = 0;
  const std::size_t n_chunks = plan_chunks(reader, options);
  if (n_chunks > 1) {
    std::vector<RowChunk> chunks(n_chunks);
    std::vector<std::uint32_t> chunk_max_index(n_chunks, 0);
    parse_chunks(reader, path, n_chunks, options, false, &progress, [&](CsvReader& chunk_reader, std::size_t c) {
      chunks[c] = RowChunk();
      chunk_max_index[c] = 0;
      read_libsvm_records(chunk_reader, chunks[c].rows, &chunk_max_index[c]);
    });
    rows = merge_row_chunks(chunks, load_threads(options));
    max_index = *std::max_element(chunk_max_index.begin(), chunk_max_index.end());
  } else {
    read_libsvm_records(reader, rows, &max_index);
  }
  rows.n_rows = rows.label.size();
  if (rows.n_rows == 0) throw InputError(reader.name(), 0, 0, "no rows (the file is empty)");
  rows.n_features = max_index;
  rows.feature_names.reserve(max_index);
  for (std::uint32_t j = 1; j <= max_index; ++j) rows.feature_names.push_back(std::to_string(j));
  return rows;
}

// The columns of a labeled-row CSV file, found in its header.
struct RowLayout {
  std::vector<std::string> header;
  std::size_t col_label = 0;
  bool has_weight = false;
  std::size_t col_weight = 0;
  bool has_cluster = false;
  std::size_t col_cluster = 0;
  std::vector<std::size_t> feature_cols;
};

// The fast path for one line of numbers without quotes: every field parsed where it stands
// (parse_short_decimal, else parse_double on the field), no field list. Returns false on
// anything it does not take (a field count or value the slow path would reject, a cluster
// column): the caller then reads the line the slow way, which gives the same values or the
// error with its line and column. role[c]: the feature index of column c, or one of the
// constants below.
constexpr std::int64_t kIgnored = -1, kLabel = -2, kWeight = -3;

bool parse_dense_line(std::string_view line, char delimiter, const std::vector<std::int64_t>& role, double* features,
                      double* label, double* weight) {
  const char* p = line.data();
  const char* const end = p + line.size();
  const std::size_t n_fields = role.size();
  auto delimiter_after = [&](const char* from) {  // the end of the field starting at `from`
    const void* d = std::memchr(from, delimiter, static_cast<std::size_t>(end - from));
    return d ? static_cast<const char*>(d) : end;
  };
  for (std::size_t c = 0; c < n_fields; ++c) {
    const char* field_end;
    double v = 0.0;
    if (role[c] == kIgnored) {
      field_end = delimiter_after(p);
    } else {
      field_end = parse_short_decimal(p, end, &v);
      if (field_end == nullptr || (field_end < end && *field_end != delimiter)) {
        field_end = delimiter_after(p);
        if (!parse_double(std::string_view(p, static_cast<std::size_t>(field_end - p)), &v) || !std::isfinite(v))
          return false;
      }
      if (role[c] >= 0) {
        features[role[c]] = v;
      } else if (role[c] == kLabel) {
        if (!(v == 0.0 || v == 1.0)) return false;
        *label = v;
      } else {
        if (!(v >= 0.0)) return false;
        *weight = v;
      }
    }
    if (c + 1 < n_fields) {
      if (field_end == end) return false;  // too few fields
      p = field_end + 1;
    } else if (field_end != end) {
      return false;  // too many fields
    }
  }
  return true;
}

// Reads the records of `reader` into `rows` (dense; feature names left to the caller),
// interning cluster labels in `clusters`: the whole file, or one chunk of it.
void read_row_records(CsvReader& reader, const RowLayout& layout, ItemDictionary& clusters, Rows& rows) {
  const auto& header = layout.header;
  const auto& feature_cols = layout.feature_cols;
  const std::size_t col_label = layout.col_label, col_weight = layout.col_weight, col_cluster = layout.col_cluster;
  const bool has_weight = layout.has_weight, has_cluster = layout.has_cluster;
  std::vector<std::string_view> fields;
  const std::size_t n_fields = header.size();
  bool reserved = false;
  std::vector<std::int64_t> role(n_fields, kIgnored);
  for (std::size_t j = 0; j < feature_cols.size(); ++j) role[feature_cols[j]] = static_cast<std::int64_t>(j);
  role[col_label] = kLabel;
  if (has_weight) role[col_weight] = kWeight;
  std::vector<double> line_features(feature_cols.size());
  std::string_view raw;
  while (reader.next_raw(&raw, fields)) {
    if (reserved && !raw.empty() && !has_cluster) {
      double label = 0.0, w = 1.0;
      if (parse_dense_line(raw, reader.delimiter(), role, line_features.data(), &label, &w)) {
        if (w == 0.0) continue;
        rows.dense.insert(rows.dense.end(), line_features.begin(), line_features.end());
        rows.label.push_back(label);
        if (has_weight) rows.weight.push_back(w);
        continue;
      }
    }
    if (!raw.empty()) reader.split(raw, fields);
    check_field_count(reader, n_fields, fields.size());
    if (!reserved && reader.file_size() > 0) {
      // Reserve from the first row's length so that the matrix is not regrown and copied.
      const std::size_t line_bytes =
          std::max<std::size_t>(2 * n_fields, reader.bytes_consumed() / std::max<std::size_t>(1, reader.line()));
      const std::size_t expected_rows = reader.file_size() / line_bytes + 16;
      check_fits_in_memory(reader, expected_rows, 8 * (feature_cols.size() + 1) + (has_weight ? 8 : 0));
      const std::size_t reader_rows = reader.size_hint() / line_bytes + 16;
      rows.dense.reserve(reader_rows * feature_cols.size());
      rows.label.reserve(reader_rows);
      reserved = true;
    }
    double label = 0;
    if (!parse_double(fields[col_label], &label) || !(label == 0.0 || label == 1.0))
      throw InputError(reader.name(), reader.line(), col_label + 1,
                       column_label(header, col_label) + ": label " + quoted(fields[col_label]) + " is not 0 or 1");
    double w = 1.0;
    if (has_weight) w = parse_weight(reader, header, col_weight, fields[col_weight], "weight");
    const std::size_t start = rows.dense.size();
    for (auto c : feature_cols) {
      double v = 0;
      if (!parse_double(fields[c], &v)) {
        throw InputError(reader.name(), reader.line(), c + 1,
                         column_label(header, c) + ": value " + quoted(fields[c]) +
                             " is not a number (features must be numeric)");
      }
      if (!std::isfinite(v))
        throw InputError(reader.name(), reader.line(), c + 1,
                         column_label(header, c) + ": value " + quoted(fields[c]) + " is " +
                             (std::isnan(v) ? "NaN" : "not finite"));
      rows.dense.push_back(v);
    }
    if (w == 0.0) {  // zero-weight rows are kept out of everything
      rows.dense.resize(start);
      continue;
    }
    rows.label.push_back(label);
    if (has_weight) rows.weight.push_back(w);
    if (has_cluster) rows.cluster.push_back(clusters.intern(trim(fields[col_cluster])));
  }
}

}  // namespace

Rows load_rows(const std::string& path, const RowColumns& columns) {
  RowFormat format = columns.format;
  const std::string format_name = without_compression_suffix(path);
  if (format == RowFormat::automatic)
    format = (has_suffix(format_name, ".svm") || has_suffix(format_name, ".libsvm") ||
              has_suffix(format_name, ".svmlight"))
                 ? RowFormat::libsvm
                 : RowFormat::csv;
  if (format == RowFormat::libsvm) {
    if (!columns.label.empty() || !columns.weight.empty() || !columns.features.empty() || !columns.cluster.empty())
      throw UsageError("--label, --weight, --features and --cluster apply to CSV input, not LIBSVM");
    return load_rows_libsvm(path, columns.load);
  }
  if (columns.label.empty()) throw UsageError("--label is required for CSV input");
  LoadProgress progress(columns.load.progress, display_name(path), "rows", 0);
  CsvReader reader(path, &progress);
  progress.set_total_bytes(reader.input().file_size);
  const auto header = reader.read_header();
  const std::size_t col_label = find_column(reader, header, columns.label, "--label");
  const bool has_weight = !columns.weight.empty();
  const std::size_t col_weight = has_weight ? find_column(reader, header, columns.weight, "--weight") : 0;
  if (has_weight && col_weight == col_label) throw UsageError("the label column cannot also be the weight column");
  const bool has_cluster = !columns.cluster.empty();
  const std::size_t col_cluster = has_cluster ? find_column(reader, header, columns.cluster, "--cluster") : 0;
  if (has_cluster && col_cluster == col_label) throw UsageError("the label column cannot also be the cluster column");
  ItemDictionary clusters;
  std::vector<std::size_t> feature_cols;
  if (!columns.features.empty()) {
    for (const auto& f : columns.features) {
      const std::size_t c = find_column(reader, header, f, "--features");
      if (c == col_label) throw UsageError("the label column " + quoted(f) + " cannot be a feature");
      if (has_weight && c == col_weight) throw UsageError("the weight column " + quoted(f) + " cannot be a feature");
      if (has_cluster && c == col_cluster) throw UsageError("the cluster column " + quoted(f) + " cannot be a feature");
      if (std::find(feature_cols.begin(), feature_cols.end(), c) != feature_cols.end())
        throw UsageError("feature " + quoted(f) + " is listed twice");
      feature_cols.push_back(c);
    }
  } else {
    for (std::size_t c = 0; c < header.size(); ++c)
      if (c != col_label && !(has_weight && c == col_weight) && !(has_cluster && c == col_cluster))
        feature_cols.push_back(c);
  }
  RowLayout layout;
  layout.header = header;
  layout.col_label = col_label;
  layout.has_weight = has_weight;
  layout.col_weight = col_weight;
  layout.has_cluster = has_cluster;
  layout.col_cluster = col_cluster;
  layout.feature_cols = feature_cols;
  Rows rows;
  const std::size_t n_chunks = plan_chunks(reader, columns.load);
  if (n_chunks > 1) {
    std::vector<RowChunk> chunks(n_chunks);
    parse_chunks(reader, path, n_chunks, columns.load, true, &progress, [&](CsvReader& chunk_reader, std::size_t c) {
      chunks[c] = RowChunk();
      read_row_records(chunk_reader, layout, chunks[c].clusters, chunks[c].rows);
    });
    rows = merge_row_chunks(chunks, load_threads(columns.load));
  } else {
    read_row_records(reader, layout, clusters, rows);
    rows.dense.shrink_to_fit();
  }
  rows.n_features = feature_cols.size();
  for (auto c : feature_cols) rows.feature_names.push_back(header[c]);
  rows.n_rows = rows.label.size();
  if (rows.n_rows == 0) throw InputError(reader.name(), 0, 0, "no rows with positive weight after the header");
  return rows;
}

std::vector<PriorTerm> load_prior(const std::string& path) {
  CsvReader reader(path);
  const auto header = reader.read_header();
  const std::size_t col_name = find_column(reader, header, "name", "--prior");
  const std::size_t col_mean = find_column(reader, header, "mean", "--prior");
  const std::size_t col_sd = find_column(reader, header, "sd", "--prior");
  std::vector<PriorTerm> terms;
  std::unordered_map<std::string, std::size_t> seen;
  std::vector<std::string_view> fields;
  while (reader.next(fields)) {
    check_field_count(reader, header.size(), fields.size());
    PriorTerm term;
    term.name = std::string(trim(fields[col_name]));
    if (term.name.empty()) throw InputError(reader.name(), reader.line(), col_name + 1, "empty name");
    if (!parse_double(fields[col_mean], &term.mean) || !std::isfinite(term.mean))
      throw InputError(reader.name(), reader.line(), col_mean + 1, "mean " + quoted(fields[col_mean]) + " is not a finite number");
    if (!parse_double(fields[col_sd], &term.sd) || !std::isfinite(term.sd) || !(term.sd > 0.0))
      throw InputError(reader.name(), reader.line(), col_sd + 1, "sd " + quoted(fields[col_sd]) + " is not a positive finite number");
    if (seen.count(term.name))
      throw InputError(reader.name(), reader.line(), col_name + 1, "duplicate prior for " + quoted(term.name));
    seen[term.name] = terms.size();
    terms.push_back(term);
  }
  return terms;
}

}  // namespace btfit
