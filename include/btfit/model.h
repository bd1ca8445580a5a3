// Saved models and predictions from them.
//
// A model file keeps what predictions need: the estimates and, up to the dense limit, their
// covariance (the one behind the fit's Wald intervals: model-based, or the sandwich when the fit
// asked for robust errors). Bradley-Terry: P(a beats b) = sigmoid(s_a - s_b [+ h]) with a Wald
// interval from Var(s_a - s_b [+ h]) = c' Cov c, c = e_a - e_b [+ e_h]; logistic:
// P(y = 1 | x) = sigmoid(eta), eta = beta_0 + x . beta, with the interval of eta from x1' Cov x1
// (x1 = [1, x]), both mapped through the sigmoid (endpoints transformed directly).
//
// The file format (text, version 1; README.md describes it):
//   btfit-model 1
//   model bradley-terry | logistic
//   parameters P
//   home 0|1                                   (bradley-terry)
//   intercept 0|1                              (logistic)
//   status converged | not_converged
//   covariance none | model | hc0 | cluster
//   param "NAME" VALUE                         P lines: items then "(home)", or the terms
//   cov V_i0 V_i1 ... V_ii                     P lines (lower triangle), unless covariance none
//   checksum fnv1a64 HEX16                     FNV-1a 64 of every byte before this line
// Names are double-quoted with \" \\ \n \r \t escapes; numbers are the shortest decimal that
// reads back to the same double.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "btfit/fit.h"

namespace btfit {

constexpr int kModelFileVersion = 1;

enum class ModelKind { bradley_terry, logistic };

struct SavedModel {
  ModelKind kind = ModelKind::bradley_terry;
  std::vector<std::string> names;  // P: item names then "(home)" (BT), or the terms (logistic)
  std::vector<double> estimate;    // P: strengths as reported (then h), or the coefficients
  bool has_home = false;           // Bradley-Terry: the last parameter is the home advantage
  bool intercept = false;          // logistic: the first term is "(intercept)"
  bool converged = true;
  std::string covariance_kind = "none";  // none, model, hc0 or cluster
  std::vector<double> covariance;        // P x P row-major, or empty (covariance_kind "none")

  std::size_t n_params() const { return estimate.size(); }
  std::size_t n_items() const { return estimate.size() - (has_home ? 1 : 0); }      // Bradley-Terry
  std::size_t n_features() const { return estimate.size() - (intercept ? 1 : 0); }  // logistic
};

// The model of a fit. The covariance is there when the fit kept it (options.keep_covariance).
// Throws UsageError when the fit has no estimates.
SavedModel saved_model(const BradleyTerryFit& fit);
SavedModel saved_model(const LogisticFit& fit);

// The model file's text, and the model back from it (InputError naming `name` and the line
// for a file that is not a btfit model, of another version, truncated or corrupt).
std::string model_to_string(const SavedModel& model);
SavedModel model_from_string(const std::string& text, const std::string& name);

// Writes through a temporary file and a rename (write_output); reads and checks the file.
void save_model(const std::string& path, const SavedModel& model);
SavedModel load_model(const std::string& path);

// A probability with its Wald interval (p_lo, p_hi NaN when the model has no covariance).
struct Prediction {
  double p = 0.0;
  double p_lo = 0.0;
  double p_hi = 0.0;
};

// P(item_a beats item_b) [with a at home] from a Bradley-Terry model; level in (0, 1).
Prediction predict_pair(const SavedModel& model, std::size_t item_a, std::size_t item_b, bool a_at_home,
                        double level);
// P(y = 1 | x) from a logistic model; x holds the model's n_features() values in its order.
Prediction predict_row(const SavedModel& model, const double* x, double level);

// Pairs to predict: CSV/TSV with a header, item names in columns a and b.
struct PairColumns {
  std::string a = "a";
  std::string b = "b";
  bool home = false;    // a plays at home (the model must have a home advantage)
  std::string neutral;  // optional with home: 1 = neutral ground for that row
};

struct PairPredictions {
  std::vector<std::string> a, b;
  std::vector<Prediction> predictions;
};

// Reads the pairs (InputError naming file, line and column for an unknown item or bad row).
PairPredictions predict_pairs_file(const SavedModel& model, const std::string& path,
                                   const PairColumns& columns, double level);
// Reads rows with the model's feature columns by name (other columns are ignored), or LIBSVM
// (.svm, .libsvm, .svmlight: the label is read and ignored).
std::vector<Prediction> predict_rows_file(const SavedModel& model, const std::string& path, double level);

// CSV tables: a,b,p,p_lo,p_hi and p,p_lo,p_hi.
std::string format_pair_predictions(const PairPredictions& predictions);
std::string format_row_predictions(const std::vector<Prediction>& predictions);

}  // namespace btfit
