// Result tables (CSV or JSON), the stderr summary, and atomic file output.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <sstream>

#include "btfit/error.h"
#include "btfit/io.h"

namespace btfit {

std::string format_double(double value) {
  if (std::isnan(value)) return "";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r\t") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
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
  std::ostringstream out;
  if (format == OutputFormat::csv) {
    out << "item,strength,se,elo,elo_se,wins,losses,ties,games,rank\n";
    for (std::size_t r = 0; r < n; ++r) {
      const std::size_t i = order[r];
      out << csv_field(fit.item_names[i]) << ',' << format_double(fit.strength[i]) << ','
          << format_double(fit.se[i]) << ',' << format_double(offset + kEloScale * fit.strength[i]) << ','
          << format_double(kEloScale * fit.se[i]) << ',' << format_double(fit.wins[i]) << ','
          << format_double(fit.losses[i]) << ',' << format_double(fit.ties[i]) << ','
          << format_double(fit.games[i]) << ',' << r + 1 << '\n';
    }
    if (fit.has_home) {
      out << "(home)," << format_double(fit.home) << ',' << format_double(fit.home_se) << ",,,,,,,\n";
    }
    return out.str();
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
  out << "  \"seconds\": {\"load\": " << json_number(info.seconds_load) << ", \"fit\": " << json_number(fit.seconds)
      << ", \"output\": " << json_number(info.seconds_output) << "},\n";
  out << "  \"notes\": " << json_notes(fit.notes) << ",\n";
  out << "  \"results\": [\n";
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t i = order[r];
    out << "    {\"item\": " << json_string(fit.item_names[i]) << ", \"strength\": " << json_number(fit.strength[i])
        << ", \"se\": " << json_number(fit.se[i]) << ", \"elo\": " << json_number(offset + kEloScale * fit.strength[i])
        << ", \"elo_se\": " << json_number(kEloScale * fit.se[i]) << ", \"wins\": " << json_number(fit.wins[i])
        << ", \"losses\": " << json_number(fit.losses[i]) << ", \"ties\": " << json_number(fit.ties[i])
        << ", \"games\": " << json_number(fit.games[i]) << ", \"rank\": " << r + 1 << "}"
        << (r + 1 < n || fit.has_home ? ",\n" : "\n");
  }
  if (fit.has_home) {
    out << "    {\"item\": \"(home)\", \"strength\": " << json_number(fit.home) << ", \"se\": "
        << json_number(fit.home_se)
        << ", \"elo\": null, \"elo_se\": null, \"wins\": null, \"losses\": null, \"ties\": null, \"games\": null, "
           "\"rank\": null}\n";
  }
  out << "  ]\n}\n";
  return out.str();
}

std::string format_logistic(const LogisticFit& fit, OutputFormat format, const RunInfo& info) {
  std::ostringstream out;
  const std::size_t p = fit.terms.size();
  if (fit.status == FitStatus::not_estimable || fit.estimate.size() != p)
    throw UsageError("no estimates to format: " + std::string(to_string(fit.status)));
  if (format == OutputFormat::csv) {
    out << "term,estimate,se,z,p_value\n";
    for (std::size_t j = 0; j < p; ++j)
      out << csv_field(fit.terms[j]) << ',' << format_double(fit.estimate[j]) << ',' << format_double(fit.se[j])
          << ',' << format_double(fit.z[j]) << ',' << format_double(fit.p_value[j]) << '\n';
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
  out << "  \"seconds\": {\"load\": " << json_number(info.seconds_load) << ", \"fit\": " << json_number(fit.seconds)
      << ", \"output\": " << json_number(info.seconds_output) << "},\n";
  out << "  \"notes\": " << json_notes(fit.notes) << ",\n";
  out << "  \"results\": [\n";
  for (std::size_t j = 0; j < p; ++j)
    out << "    {\"term\": " << json_string(fit.terms[j]) << ", \"estimate\": " << json_number(fit.estimate[j])
        << ", \"se\": " << json_number(fit.se[j]) << ", \"z\": " << json_number(fit.z[j])
        << ", \"p_value\": " << json_number(fit.p_value[j]) << "}" << (j + 1 < p ? ",\n" : "\n");
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
        << " passes over the data\n";
    out << "  standard errors: " << fit.se_method << "\n";
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
