// Result tables (CSV or JSON), the stderr summary, and atomic file output.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

#include "btfit/error.h"
#include "btfit/io.h"
#include "btfit/uncertainty.h"

namespace btfit {

std::string format_double(double value) {
  if (std::isnan(value)) return "";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

namespace {

// format_double appended in place (no temporary string): the tables of a million items.
void append_double(std::string& out, double value) {
  if (std::isnan(value)) return;
  if (std::isinf(value)) {
    out += value > 0 ? "inf" : "-inf";
    return;
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// csv_field appended in place.
void append_csv_field(std::string& out, const std::string& s);

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r\t") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void append_csv_field(std::string& out, const std::string& s) {
  if (s.find_first_of(",\"\n\r\t") == std::string::npos)
    out += s;
  else
    out += csv_field(s);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return format_double(v);
}

std::string json_notes(const std::vector<std::string>& notes) {
  std::string out = "[";
  for (std::size_t i = 0; i < notes.size(); ++i) out += (i ? ", " : "") + json_string(notes[i]);
  return out + "]";
}

double elo_offset(const BradleyTerryFit& fit, const ScaleOptions& scale) {
  if (scale.elo_anchor_item.empty()) return kEloBase;
  for (std::size_t i = 0; i < fit.item_names.size(); ++i)
    if (fit.item_names[i] == scale.elo_anchor_item) return scale.elo_anchor_rating - kEloScale * fit.strength[i];
  throw UsageError("--elo-anchor " + scale.elo_anchor_item + ": no such item");
}

// The optional uncertainty columns, after the fixed ones: robust_se (with --robust/--cluster),
// quasi_var and quasi_se (--quasi-variances), then ci_lo and ci_hi.
struct UncertaintyColumns {
  bool robust = false, quasi = false, ci = false;
};
UncertaintyColumns uncertainty_columns(const BradleyTerryFit& fit) {
  return {!fit.robust_se.empty(), !fit.quasi_var.empty(), !fit.ci_lo.empty()};
}
UncertaintyColumns uncertainty_columns(const LogisticFit& fit) { return {!fit.robust_se.empty(), false, !fit.ci_lo.empty()}; }
std::string uncertainty_header(UncertaintyColumns c) {
  return std::string(c.robust ? ",robust_se" : "") + (c.quasi ? ",quasi_var,quasi_se" : "") + (c.ci ? ",ci_lo,ci_hi" : "");
}
std::string uncertainty_csv(UncertaintyColumns c, const ScaledEstimate& v) {
  std::string out;
  if (c.robust) out += "," + format_double(v.robust_se);
  if (c.quasi) out += "," + format_double(v.quasi_var) + "," + format_double(v.quasi_se);
  if (c.ci) out += "," + format_double(v.ci_lo) + "," + format_double(v.ci_hi);
  return out;
}
std::string uncertainty_json(UncertaintyColumns c, const ScaledEstimate& v) {
  std::string out;
  if (c.robust) out += ", \"robust_se\": " + json_number(v.robust_se);
  if (c.quasi) out += ", \"quasi_var\": " + json_number(v.quasi_var) + ", \"quasi_se\": " + json_number(v.quasi_se);
  if (c.ci) out += ", \"ci_lo\": " + json_number(v.ci_lo) + ", \"ci_hi\": " + json_number(v.ci_hi);
  return out;
}
ScaledEstimate logistic_row(const LogisticFit& fit, std::size_t j) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto at = [&](const std::vector<double>& v) { return j < v.size() ? v[j] : nan; };
  ScaledEstimate v;
  v.strength = fit.estimate[j];
  v.se = at(fit.se);
  v.robust_se = at(fit.robust_se);
  v.ci_lo = at(fit.ci_lo);
  v.ci_hi = at(fit.ci_hi);
  v.quasi_var = v.quasi_se = nan;
  return v;
}

// Bootstrap columns (host/bootstrap.cpp), after the uncertainty columns: boot_lo, boot_hi
// (percentile interval of the strength or coefficient, endpoints on the output scale) and, for
// Bradley-Terry, rank_lo, rank_hi (percentile interval of the rank, 1 = strongest).
struct Field {
  const char* name;
  double value;
};
std::string fields_csv(std::initializer_list<Field> fields) {
  std::string out;
  for (const auto& f : fields) out += "," + format_double(f.value);
  return out;
}
std::string fields_json(std::initializer_list<Field> fields) {
  std::string out;
  for (const auto& f : fields) out += std::string(", \"") + f.name + "\": " + json_number(f.value);
  return out;
}
// A strength endpoint on `scale` (an item: with the Elo offset; h: a difference, without it).
double endpoint_on_scale(double s, StrengthScale scale, double offset) {
  if (std::isnan(s)) return s;
  if (scale == StrengthScale::elo) return offset + kEloScale * s;
  if (scale == StrengthScale::worth) return std::exp(s);
  return s;
}
std::string bootstrap_header(const BradleyTerryFit& fit) {
  return fit.boot_lo.empty() ? "" : ",boot_lo,boot_hi,rank_lo,rank_hi";
}
template <typename Format>
std::string bootstrap_item(const BradleyTerryFit& fit, std::size_t i, StrengthScale scale, double offset, Format format) {
  if (fit.boot_lo.empty()) return "";
  return format({{"boot_lo", endpoint_on_scale(fit.boot_lo[i], scale, offset)},
                 {"boot_hi", endpoint_on_scale(fit.boot_hi[i], scale, offset)},
                 {"rank_lo", fit.rank_lo[i]},
                 {"rank_hi", fit.rank_hi[i]}});
}
template <typename Format>
std::string bootstrap_home(const BradleyTerryFit& fit, StrengthScale scale, Format format) {
  if (fit.boot_lo.empty()) return "";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return format({{"boot_lo", endpoint_on_scale(fit.home_boot_lo, scale, 0.0)},
                 {"boot_hi", endpoint_on_scale(fit.home_boot_hi, scale, 0.0)},
                 {"rank_lo", nan},
                 {"rank_hi", nan}});
}
std::string bootstrap_summary_line(const BootstrapSummary& b) {
  if (b.requested == 0) return "";
  std::ostringstream out;
  out << "  bootstrap: " << b.requested << " Poisson-weighted replicates (seed " << b.seed << "), " << b.used
      << " used, " << b.dropped_not_estimable << " dropped without a finite estimate, " << b.dropped_not_converged
      << " dropped unconverged; " << 100.0 * b.level << "% percentile intervals; " << b.method << " on " << b.device;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", b.seconds);
  out << ", " << buf << "\n";
  return out.str();
}
std::string bootstrap_json(const BootstrapSummary& b) {
  if (b.requested == 0) return "  \"bootstrap\": null,\n";
  std::ostringstream out;
  out << "  \"bootstrap\": {\"replicates\": " << b.requested << ", \"used\": " << b.used
      << ", \"dropped_not_estimable\": " << b.dropped_not_estimable
      << ", \"dropped_not_converged\": " << b.dropped_not_converged << ", \"seed\": " << b.seed
      << ", \"level\": " << json_number(b.level) << ", \"batch\": " << b.batch
      << ", \"method\": " << json_string(b.method) << ", \"device\": " << json_string(b.device)
      << ", \"seconds\": " << json_number(b.seconds) << "},\n";
  return out.str();
}

}  // namespace

std::string format_bradley_terry(const BradleyTerryFit& fit, OutputFormat format, const RunInfo& info,
                                 const ScaleOptions& scale) {
  const std::size_t n = fit.item_names.size();
  if (fit.status == FitStatus::not_estimable || fit.strength.size() != n)
    throw UsageError("no estimates to format: " + std::string(to_string(fit.status)));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return fit.strength[x] > fit.strength[y]; });
  const double offset = elo_offset(fit, scale);
  const UncertaintyColumns extra = uncertainty_columns(fit);  // strength, se, robust_se, ci on scale.scale
  std::ostringstream out;
  if (format == OutputFormat::csv) {
    std::string text = "item,strength,se,elo,elo_se,wins,losses,ties,games,rank" + uncertainty_header(extra) +
                       bootstrap_header(fit) + "\n";
    text.reserve(text.size() + 128 * n);
    for (std::size_t r = 0; r < n; ++r) {
      const std::size_t i = order[r];
      const ScaledEstimate v = scaled_item(fit, i, scale.scale, offset);
      append_csv_field(text, fit.item_names[i]);
      const double numbers[] = {v.strength,   v.se,          offset + kEloScale * fit.strength[i],
                                kEloScale * fit.se[i], fit.wins[i], fit.losses[i],
                                fit.ties[i],  fit.games[i]};
      for (const double number : numbers) {
        text += ',';
        append_double(text, number);
      }
      text += ',';
      text += std::to_string(r + 1);
      text += uncertainty_csv(extra, v);
      text += bootstrap_item(fit, i, scale.scale, offset, fields_csv);
      text += '\n';
    }
    if (fit.has_home) {
      const ScaledEstimate v = scaled_home(fit, scale.scale);
      text += "(home)," + format_double(v.strength) + ',' + format_double(v.se) + ",,,,,,," +
              uncertainty_csv(extra, v) + bootstrap_home(fit, scale.scale, fields_csv) + "\n";
    }
    return text;
  }
  // JSON
  out << "{\n  \"model\": \"bradley-terry\",\n";
  out << "  \"status\": " << json_string(to_string(fit.status)) << ",\n";
  out << "  \"converged\": " << (fit.status == FitStatus::converged ? "true" : "false") << ",\n";
  out << "  \"optimizer_status\": " << json_string(fit.optimizer_status) << ",\n";
  out << "  \"input\": " << json_string(info.input) << ",\n";
  out << "  \"items\": " << n << ",\n  \"comparisons\": " << fit.n_comparisons << ",\n";
  out << "  \"nll\": " << json_number(fit.nll) << ",\n  \"objective\": " << json_number(fit.objective) << ",\n";
  out << "  \"iterations\": " << fit.iterations << ",\n  \"passes\": " << fit.passes << ",\n";
  out << "  \"gradient_norm\": " << json_number(fit.gradient_norm) << ",\n";
  out << "  \"solver\": " << json_string(fit.solver) << ",\n  \"device\": " << json_string(fit.device) << ",\n";
  out << "  \"se_method\": " << json_string(fit.se_method) << ",\n";
  out << "  \"reference\": "
      << (fit.reference >= 0 ? json_string(fit.item_names[static_cast<std::size_t>(fit.reference)]) : "null")
      << ",\n";
  out << "  \"scale\": " << json_string(to_string(scale.scale)) << ",\n  \"ci_level\": " << json_number(fit.ci_level)
      << ",\n  \"robust_method\": " << (extra.robust ? json_string(fit.robust_method) : "null")
      << ",\n  \"quasi_var_max_error\": " << (extra.quasi ? json_number(fit.quasi_var_max_error) : "null") << ",\n";
  out << "  \"firth\": " << (fit.firth ? "true" : "false") << ",\n" << bootstrap_json(fit.bootstrap);
  out << "  \"seconds\": {\"load\": " << json_number(info.seconds_load) << ", \"fit\": " << json_number(fit.seconds)
      << ", \"output\": " << json_number(info.seconds_output) << "},\n";
  out << "  \"notes\": " << json_notes(fit.notes) << ",\n";
  out << "  \"results\": [\n";
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t i = order[r];
    const ScaledEstimate v = scaled_item(fit, i, scale.scale, offset);
    out << "    {\"item\": " << json_string(fit.item_names[i]) << ", \"strength\": " << json_number(v.strength)
        << ", \"se\": " << json_number(v.se) << ", \"elo\": " << json_number(offset + kEloScale * fit.strength[i])
        << ", \"elo_se\": " << json_number(kEloScale * fit.se[i]) << ", \"wins\": " << json_number(fit.wins[i])
        << ", \"losses\": " << json_number(fit.losses[i]) << ", \"ties\": " << json_number(fit.ties[i])
        << ", \"games\": " << json_number(fit.games[i]) << ", \"rank\": " << r + 1 << uncertainty_json(extra, v)
        << bootstrap_item(fit, i, scale.scale, offset, fields_json) << "}"
        << (r + 1 < n || fit.has_home ? ",\n" : "\n");
  }
  if (fit.has_home) {
    const ScaledEstimate v = scaled_home(fit, scale.scale);
    out << "    {\"item\": \"(home)\", \"strength\": " << json_number(v.strength) << ", \"se\": "
        << json_number(v.se)
        << ", \"elo\": null, \"elo_se\": null, \"wins\": null, \"losses\": null, \"ties\": null, \"games\": null, "
           "\"rank\": null"
        << uncertainty_json(extra, v) << bootstrap_home(fit, scale.scale, fields_json) << "}\n";
  }
  out << "  ]\n}\n";
  return out.str();
}

std::string format_logistic(const LogisticFit& fit, OutputFormat format, const RunInfo& info) {
  std::ostringstream out;
  const std::size_t p = fit.terms.size();
  if (fit.status == FitStatus::not_estimable || fit.estimate.size() != p)
    throw UsageError("no estimates to format: " + std::string(to_string(fit.status)));
  const UncertaintyColumns extra = uncertainty_columns(fit);
  if (format == OutputFormat::csv) {
    out << "term,estimate,se,z,p_value" << uncertainty_header(extra) << (fit.boot_lo.empty() ? "" : ",boot_lo,boot_hi")
        << "\n";
    for (std::size_t j = 0; j < p; ++j)
      out << csv_field(fit.terms[j]) << ',' << format_double(fit.estimate[j]) << ',' << format_double(fit.se[j])
          << ',' << format_double(fit.z[j]) << ',' << format_double(fit.p_value[j])
          << uncertainty_csv(extra, logistic_row(fit, j))
          << (fit.boot_lo.empty() ? "" : fields_csv({{"boot_lo", fit.boot_lo[j]}, {"boot_hi", fit.boot_hi[j]}}))
          << '\n';
    return out.str();
  }
  out << "{\n  \"model\": \"logistic\",\n";
  out << "  \"status\": " << json_string(to_string(fit.status)) << ",\n";
  out << "  \"converged\": " << (fit.status == FitStatus::converged ? "true" : "false") << ",\n";
  out << "  \"optimizer_status\": " << json_string(fit.optimizer_status) << ",\n";
  out << "  \"input\": " << json_string(info.input) << ",\n";
  out << "  \"rows\": " << fit.n_rows << ",\n  \"terms\": " << p << ",\n";
  out << "  \"nll\": " << json_number(fit.nll) << ",\n  \"objective\": " << json_number(fit.objective) << ",\n";
  out << "  \"iterations\": " << fit.iterations << ",\n  \"passes\": " << fit.passes << ",\n";
  out << "  \"gradient_norm\": " << json_number(fit.gradient_norm) << ",\n";
  out << "  \"solver\": " << json_string(fit.solver) << ",\n  \"device\": " << json_string(fit.device) << ",\n";
  out << "  \"se_method\": " << json_string(fit.se_method) << ",\n";
  out << "  \"ci_level\": " << json_number(fit.ci_level) << ",\n  \"robust_method\": "
      << (extra.robust ? json_string(fit.robust_method) : "null") << ",\n";
  out << "  \"firth\": " << (fit.firth ? "true" : "false") << ",\n" << bootstrap_json(fit.bootstrap);
  out << "  \"seconds\": {\"load\": " << json_number(info.seconds_load) << ", \"fit\": " << json_number(fit.seconds)
      << ", \"output\": " << json_number(info.seconds_output) << "},\n";
  out << "  \"notes\": " << json_notes(fit.notes) << ",\n";
  out << "  \"results\": [\n";
  for (std::size_t j = 0; j < p; ++j)
    out << "    {\"term\": " << json_string(fit.terms[j]) << ", \"estimate\": " << json_number(fit.estimate[j])
        << ", \"se\": " << json_number(fit.se[j]) << ", \"z\": " << json_number(fit.z[j])
        << ", \"p_value\": " << json_number(fit.p_value[j]) << uncertainty_json(extra, logistic_row(fit, j))
        << (fit.boot_lo.empty() ? "" : fields_json({{"boot_lo", fit.boot_lo[j]}, {"boot_hi", fit.boot_hi[j]}})) << "}"
        << (j + 1 < p ? ",\n" : "\n");
  out << "  ]\n}\n";
  return out.str();
}

namespace {
std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", s);
  return buf;
}
std::string general(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
}  // namespace

std::string summary_bradley_terry(const BradleyTerryFit& fit, const RunInfo& info) {
  std::ostringstream out;
  out << "btfit: Bradley-Terry, " << fit.item_names.size() << " items, " << fit.n_comparisons << " comparisons"
      << (fit.has_home ? ", home advantage on" : "") << "\n";
  out << "  status: " << to_string(fit.status);
  if (!fit.optimizer_status.empty() && fit.status != FitStatus::converged) out << " (" << fit.optimizer_status << ")";
  out << "\n";
  if (fit.status != FitStatus::not_estimable) {
    out << "  NLL " << general(fit.nll) << ", objective " << general(fit.objective) << ", |gradient| "
        << general(fit.gradient_norm) << "\n";
    out << "  " << fit.iterations << " iterations of " << fit.solver << " on " << fit.device << ", " << fit.passes
        << " passes over the data";
    if (fit.n_rows_fitted != fit.n_comparisons)
      out << " (" << fit.n_rows_fitted << " rows after aggregating repeated comparisons)";
    out << "\n";
    out << "  standard errors: " << fit.se_method << "\n";
    if (!fit.robust_se.empty()) out << "  robust standard errors: " << fit.robust_method << "\n";
    if (!fit.quasi_var.empty() && !std::isnan(fit.quasi_var_max_error))
      out << "  quasi-variances (Firth and de Menezes 2004): every pair's SE from them within "
          << general(100.0 * fit.quasi_var_max_error) << "% of the exact one\n";
    if (!fit.ci_lo.empty())
      out << "  intervals: " << general(100.0 * fit.ci_level) << "% Wald, from the "
          << (fit.robust_se.empty() ? "model-based" : "robust") << " standard errors\n";
    out << bootstrap_summary_line(fit.bootstrap);
  }
  for (const auto& note : fit.notes) out << "  note: " << note << "\n";
  out << "  time: load " << seconds(info.seconds_load) << ", fit " << seconds(fit.seconds) << ", output "
      << seconds(info.seconds_output) << "\n";
  return out.str();
}

std::string summary_logistic(const LogisticFit& fit, const RunInfo& info) {
  std::ostringstream out;
  out << "btfit: logistic regression, " << fit.n_rows << " rows, " << fit.terms.size() << " terms\n";
  out << "  status: " << to_string(fit.status);
  if (!fit.optimizer_status.empty() && fit.status != FitStatus::converged) out << " (" << fit.optimizer_status << ")";
  out << "\n";
  if (fit.status != FitStatus::not_estimable) {
    out << "  NLL " << general(fit.nll) << ", objective " << general(fit.objective) << ", |gradient| "
        << general(fit.gradient_norm) << "\n";
    out << "  " << fit.iterations << " iterations of " << fit.solver << " on " << fit.device << ", " << fit.passes
        << " passes over the data\n";
    out << "  standard errors: " << fit.se_method << "\n";
    if (!fit.robust_se.empty()) out << "  robust standard errors: " << fit.robust_method << "\n";
    if (!fit.ci_lo.empty())
      out << "  intervals: " << general(100.0 * fit.ci_level) << "% Wald, from the "
          << (fit.robust_se.empty() ? "model-based" : "robust") << " standard errors\n";
    out << bootstrap_summary_line(fit.bootstrap);
  }
  for (const auto& note : fit.notes) out << "  note: " << note << "\n";
  out << "  time: load " << seconds(info.seconds_load) << ", fit " << seconds(fit.seconds) << ", output "
      << seconds(info.seconds_output) << "\n";
  return out.str();
}

void write_output(const std::string& path, const std::string& content) {
  if (path.empty() || path == "-") {
    if (std::fwrite(content.data(), 1, content.size(), stdout) != content.size() || std::fflush(stdout) != 0)
      throw InputError("<stdout>", 0, 0, "write failed");
    return;
  }
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) throw InputError(path, 0, 0, std::string("cannot write: ") + std::strerror(errno));
  const bool ok = std::fwrite(content.data(), 1, content.size(), file) == content.size();
  const bool closed = std::fclose(file) == 0;
  if (!ok || !closed) {
    std::remove(temporary.c_str());
    throw InputError(path, 0, 0, "write failed (disk full?)");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    throw InputError(path, 0, 0, "cannot replace the file: " + why);
  }
}

}  // namespace btfit
