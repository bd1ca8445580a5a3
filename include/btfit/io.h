// Reading comparisons, rows and priors from files, and writing results.
//
// Input files are CSV or TSV with a header (the delimiter is detected from the header),
// quoted per RFC 4180; "-" reads standard input. Errors throw InputError naming the file,
// the physical line (header = line 1) and the column.
#pragma once

#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/fit.h"
#include "btfit/options.h"

namespace btfit {

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
};

Comparisons load_comparisons(const std::string& path, const ComparisonColumns& columns);

enum class RowFormat { automatic, csv, libsvm };

struct RowColumns {
  std::string label;                  // label column (CSV; required there)
  std::vector<std::string> features;  // feature columns (CSV); empty = all but label and weight
  std::string weight;                 // optional frequency weight column (CSV)
  RowFormat format = RowFormat::automatic;  // automatic: libsvm for .svm/.libsvm/.svmlight
};

Rows load_rows(const std::string& path, const RowColumns& columns);

// A prior file: CSV with columns name,mean,sd.
std::vector<PriorTerm> load_prior(const std::string& path);

enum class OutputFormat { csv, json };

// Timings and sizes that go into the summary.
struct RunInfo {
  double seconds_load = 0.0;
  double seconds_output = 0.0;  // filled in by the caller after writing, for stderr
  std::string input;            // the input file name
};

// Result tables. elo_anchor_item/rating shift the Elo column (empty item: no shift).
struct ScaleOptions {
  std::string elo_anchor_item;
  double elo_anchor_rating = kEloBase;
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
