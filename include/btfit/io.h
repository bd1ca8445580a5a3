// Reading comparisons, rows and priors from files, and writing results.
//
// Input files are CSV or TSV with a header (the delimiter is detected from the header),
// quoted per RFC 4180; "-" reads standard input. Comparisons may also come as JSON lines
// or from a binary cache written by write_comparison_cache; gzip and zstd input (recognized
// by its first bytes) is decompressed as it is read. Errors throw InputError naming the
// file, the physical line (header = line 1) and the column.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/fit.h"
#include "btfit/options.h"

namespace btfit {

// How a file is read (every loader). A regular, uncompressed file is cut into chunks parsed
// on several threads, with the same result (item ids, order, messages) as one thread;
// standard input, pipes and compressed files are read as a stream.
struct LoadOptions {
  int threads = 0;              // parsing threads: 0 = all available, 1 = one (the streaming
                                // reader); >= 0
  std::size_t chunk_bytes = 0;  // bytes per chunk; 0 = automatic (one chunk per thread, at
                                // least 16 MiB each: smaller files are read by one thread);
                                // at most 65536 chunks
  bool progress = false;        // progress on stderr (bytes, records) for loads over a second,
                                // only when stderr is a terminal
};

// The format of a comparison file. automatic: a btfit cache when the file starts with its
// magic bytes, JSON lines for .jsonl and .ndjson (also with .gz or .zst after it), else CSV.
enum class ComparisonFormat { automatic, csv, jsonl };

// Which columns hold a comparison. Either the winner/loser layout (y = 1 for the winner) or
// the a/b/outcome layout (outcome 1, 0, 0.5 or the words a, b, tie, model_a, model_b,
// "tie (bothbad)").
struct ComparisonColumns {
  std::string winner = "winner";
  std::string loser = "loser";
  std::string a;        // set together with b and outcome to use the a/b/outcome layout
  std::string b;
  std::string outcome;
  std::string count;    // optional frequency weight column (>= 0)
  std::string neutral;  // optional: 1 = neutral ground (no home advantage), 0 = a at home
  bool home_flags = false;  // record at_home flags (a at home unless neutral)
  std::string cluster;  // optional cluster column (any text; interned to Comparisons::cluster)
  ComparisonFormat format = ComparisonFormat::automatic;
  LoadOptions load;
};
// JSON lines: the columns are keys; with none of winner/loser/a/b/outcome changed from the
// defaults, a = "model_a", b = "model_b", outcome = "winner" (LMArena's battle records).

Comparisons load_comparisons(const std::string& path, const ComparisonColumns& columns);

// The binary comparison cache (README.md, "Binary cache"): the loaded comparisons, item
// names, the source file's size and modification time and the column options, with
// checksums. load_comparisons reads a cache in place of its source, and rejects one that is
// stale (its source still exists and changed), truncated, corrupt or of another version.
// `source` is the file the comparisons came from ("" or "-": none to check against).
void write_comparison_cache(const Comparisons& data, const std::string& source, const ComparisonColumns& columns,
                            const std::string& path);
// Whether `path` is a regular file that starts with the cache's magic bytes.
bool is_comparison_cache(const std::string& path);

enum class RowFormat { automatic, csv, libsvm };

struct RowColumns {
  std::string label;                  // label column (CSV; required there)
  std::vector<std::string> features;  // feature columns (CSV); empty = all but label and weight
  std::string weight;                 // optional frequency weight column (CSV)
  std::string cluster;                // optional cluster column (CSV; any text; not a feature)
  RowFormat format = RowFormat::automatic;  // automatic: libsvm for .svm/.libsvm/.svmlight
                                            // (also with .gz or .zst after it)
  LoadOptions load;
};

Rows load_rows(const std::string& path, const RowColumns& columns);

// A prior file: CSV with columns name,mean,sd.
std::vector<PriorTerm> load_prior(const std::string& path);

// A list of item names: a CSV with a column `item` (--se-items).
std::vector<std::string> load_item_list(const std::string& path);

enum class OutputFormat { csv, json };

// Timings and sizes that go into the summary.
struct RunInfo {
  double seconds_load = 0.0;
  double seconds_output = 0.0;  // filled in by the caller after writing, for stderr
  std::string input;            // the input file name
};

// Result tables. elo_anchor_item/rating shift the Elo column (empty item: no shift).
// scale: the scale of the strength, se, robust_se and ci columns (btfit/uncertainty.h).
enum class StrengthScale { strength, elo, worth };
struct ScaleOptions {
  std::string elo_anchor_item;
  double elo_anchor_rating = kEloBase;
  StrengthScale scale = StrengthScale::strength;
};

std::string format_bradley_terry(const BradleyTerryFit& fit, OutputFormat format,
                                 const RunInfo& info, const ScaleOptions& scale = {});
std::string format_logistic(const LogisticFit& fit, OutputFormat format, const RunInfo& info);

// The human summary for stderr.
std::string summary_bradley_terry(const BradleyTerryFit& fit, const RunInfo& info);
std::string summary_logistic(const LogisticFit& fit, const RunInfo& info);

// Writes `content` to `path` through a temporary file in the same folder and a rename, so
// that a failed run never leaves a half-written file; empty path or "-" writes stdout.
void write_output(const std::string& path, const std::string& content);

// Shortest decimal form that reads back to the same double (std::to_chars); "" for NaN.
std::string format_double(double value);

}  // namespace btfit
