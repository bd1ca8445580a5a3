// Predictions from a saved model, with Wald intervals on the log-odds scale mapped through
// the sigmoid (the endpoints transformed directly, so the interval stays inside (0, 1)):
//   Bradley-Terry: eta = s_a - s_b [+ h], Var(eta) = c' Cov c, c = e_a - e_b [+ e_h];
//   logistic:      eta = beta_0 + x . beta, Var(eta) = x1' Cov x1, x1 = [1, x];
//   p = sigmoid(eta), [p_lo, p_hi] = sigmoid(eta -+ z sqrt(Var(eta))).
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "btfit/detail/maths.h"
#include "btfit/error.h"
#include "btfit/io.h"
#include "btfit/model.h"
#include "btfit/uncertainty.h"
#include "csv.h"

namespace btfit {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Prediction from_margin(double eta, double variance, double level) {
  Prediction out;
  out.p = detail::sigmoid(eta);
  if (std::isnan(variance)) {
    out.p_lo = out.p_hi = kNaN;
    return out;
  }
  const double half = wald_z(level) * std::sqrt(std::max(variance, 0.0));
  out.p_lo = detail::sigmoid(eta - half);
  out.p_hi = detail::sigmoid(eta + half);
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r\t") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::size_t find_column(const CsvReader& reader, const std::vector<std::string>& header,
                        const std::string& column, const std::string& what) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == column) return i;
  std::string list;
  for (std::size_t i = 0; i < header.size(); ++i) list += (i ? ", " : "") + header[i];
  throw InputError(reader.name(), 1, 0,
                   "no column named " + quoted(column) + " (" + what + "); the header has: " + list);
}

void check_fields(const CsvReader& reader, std::size_t expected, std::size_t got) {
  if (got != expected)
    throw InputError(reader.name(), reader.line(), std::min(got, expected) + 1,
                     "expected " + std::to_string(expected) + " fields, found " + std::to_string(got));
}

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Prediction predict_pair(const SavedModel& model, std::size_t item_a, std::size_t item_b, bool a_at_home,
                        double level) {
  if (model.kind != ModelKind::bradley_terry)
    throw UsageError(
        "pairs need a Bradley-Terry model; this model is a logistic regression (predict rows instead)");
  const std::size_t n = model.n_items(), p = model.n_params();
  if (item_a >= n || item_b >= n) throw UsageError("item id beyond the model's items");
  if (a_at_home && !model.has_home)
    throw UsageError("the model has no home advantage (fit it with --home-advantage)");
  const std::size_t h = n;
  const double eta = model.estimate[item_a] - model.estimate[item_b] + (a_at_home ? model.estimate[h] : 0.0);
  double variance = kNaN;
  if (!model.covariance.empty()) {
    const double* c = model.covariance.data();
    auto cov = [&](std::size_t i, std::size_t j) { return c[i * p + j]; };
    variance = cov(item_a, item_a) + cov(item_b, item_b) - 2.0 * cov(item_a, item_b);
    if (a_at_home) variance += cov(h, h) + 2.0 * cov(item_a, h) - 2.0 * cov(item_b, h);
  }
  return from_margin(eta, variance, level);
}

Prediction predict_row(const SavedModel& model, const double* x, double level) {
  if (model.kind != ModelKind::logistic)
    throw UsageError(
        "rows need a logistic model; this model is a Bradley-Terry model (predict pairs instead)");
  const std::size_t p = model.n_params(), o = model.intercept ? 1 : 0;
  std::vector<double> x1(p);
  if (o) x1[0] = 1.0;
  for (std::size_t j = o; j < p; ++j) x1[j] = x[j - o];
  double eta = 0.0;
  for (std::size_t j = 0; j < p; ++j) eta += x1[j] * model.estimate[j];
  double variance = kNaN;
  if (!model.covariance.empty()) {
    variance = 0.0;
    for (std::size_t i = 0; i < p; ++i) {
      if (x1[i] == 0.0) continue;
      double row = 0.0;
      for (std::size_t j = 0; j < p; ++j) row += model.covariance[i * p + j] * x1[j];
      variance += x1[i] * row;
    }
  }
  return from_margin(eta, variance, level);
}

PairPredictions predict_pairs_file(const SavedModel& model, const std::string& path,
                                   const PairColumns& columns, double level) {
  if (model.kind != ModelKind::bradley_terry)
    throw UsageError("--pairs needs a Bradley-Terry model; this model is a logistic regression (use --rows)");
  if (columns.home && !model.has_home)
    throw UsageError("--home: the model has no home advantage (fit it with --home-advantage)");
  if (!columns.neutral.empty() && !columns.home) throw UsageError("--neutral needs --home");
  wald_z(level);  // validates the level before reading
  std::unordered_map<std::string_view, std::size_t> id;
  for (std::size_t i = 0; i < model.n_items(); ++i) id.emplace(model.names[i], i);

  CsvReader reader(path);
  const auto header = reader.read_header();
  const std::size_t col_a = find_column(reader, header, columns.a, "--a");
  const std::size_t col_b = find_column(reader, header, columns.b, "--b");
  const bool has_neutral = !columns.neutral.empty();
  const std::size_t col_neutral = has_neutral ? find_column(reader, header, columns.neutral, "--neutral") : 0;
  PairPredictions out;
  std::vector<std::string_view> fields;
  auto item = [&](std::size_t column) {
    const std::string_view name = trim(fields[column]);
    const auto it = id.find(name);
    if (it == id.end())
      throw InputError(
          reader.name(), reader.line(), column + 1,
          "column " + quoted(header[column]) + ": item " + quoted(name) + " is not in the model");
    return it->second;
  };
  while (reader.next(fields)) {
    check_fields(reader, header.size(), fields.size());
    const std::size_t a = item(col_a), b = item(col_b);
    bool at_home = columns.home;
    if (has_neutral) {
      const auto text = trim(fields[col_neutral]);
      if (text == "1" || text == "true" || text == "TRUE")
        at_home = false;
      else if (!(text == "0" || text == "false" || text == "FALSE"))
        throw InputError(
            reader.name(), reader.line(), col_neutral + 1,
            "column " + quoted(header[col_neutral]) + ": neutral flag " + quoted(text) + " is not 1 or 0");
    }
    out.a.push_back(model.names[a]);
    out.b.push_back(model.names[b]);
    out.predictions.push_back(predict_pair(model, a, b, at_home, level));
  }
  return out;
}

std::vector<Prediction> predict_rows_file(const SavedModel& model, const std::string& path, double level) {
  if (model.kind != ModelKind::logistic)
    throw UsageError("--rows needs a logistic model; this model is a Bradley-Terry model (use --pairs)");
  wald_z(level);
  const std::size_t nf = model.n_features(), o = model.intercept ? 1 : 0;
  std::vector<Prediction> out;
  std::vector<double> x(nf);
  if (has_suffix(path, ".svm") || has_suffix(path, ".libsvm") || has_suffix(path, ".svmlight")) {
    RowColumns columns;
    columns.format = RowFormat::libsvm;
    const Rows rows = load_rows(path, columns);
    if (rows.n_features > nf)
      throw InputError(path, 0, 0,
                       "feature index " + std::to_string(rows.n_features) + " is beyond the model's " +
                           std::to_string(nf) + " features");
    for (std::size_t i = 0; i < rows.n_rows; ++i) {
      std::fill(x.begin(), x.end(), 0.0);
      for (auto e = rows.row_ptr[i]; e < rows.row_ptr[i + 1]; ++e) x[rows.col[e]] = rows.val[e];
      out.push_back(predict_row(model, x.data(), level));
    }
    return out;
  }
  CsvReader reader(path);
  const auto header = reader.read_header();
  std::vector<std::size_t> feature_cols(nf);
  for (std::size_t j = 0; j < nf; ++j)
    feature_cols[j] = find_column(reader, header, model.names[o + j], "a feature of the model");
  std::vector<std::string_view> fields;
  while (reader.next(fields)) {
    check_fields(reader, header.size(), fields.size());
    for (std::size_t j = 0; j < nf; ++j) {
      const std::size_t c = feature_cols[j];
      if (!parse_double(fields[c], &x[j]) || !std::isfinite(x[j]))
        throw InputError(
            reader.name(), reader.line(), c + 1,
            "column " + quoted(header[c]) + ": value " + quoted(fields[c]) + " is not a finite number");
    }
    out.push_back(predict_row(model, x.data(), level));
  }
  return out;
}

std::string format_pair_predictions(const PairPredictions& predictions) {
  std::string out = "a,b,p,p_lo,p_hi\n";
  for (std::size_t k = 0; k < predictions.predictions.size(); ++k) {
    const Prediction& p = predictions.predictions[k];
    out += csv_field(predictions.a[k]) + ',' + csv_field(predictions.b[k]) + ',' + format_double(p.p) + ',' +
           format_double(p.p_lo) + ',' + format_double(p.p_hi) + '\n';
  }
  return out;
}

std::string format_row_predictions(const std::vector<Prediction>& predictions) {
  std::string out = "p,p_lo,p_hi\n";
  for (const Prediction& p : predictions)
    out += format_double(p.p) + ',' + format_double(p.p_lo) + ',' + format_double(p.p_hi) + '\n';
  return out;
}

}  // namespace btfit
