// Saved models: the versioned text format of btfit/model.h, written and read back strictly.
//
// Reading checks, in order: the magic word and version on line 1 (a file of another version
// is refused with the versions named), the checksum line at the end (FNV-1a 64 over every
// byte before it: a truncated or altered file is refused), then every line's key, count and
// number, naming the line of the first problem.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "btfit/error.h"
#include "btfit/io.h"
#include "btfit/model.h"
#include "csv.h"

namespace btfit {

namespace {

constexpr const char* kMagic = "btfit-model";

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string quote_name(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

// Number in the shortest round-trip form; the file never holds NaN.
std::string number(double v) {
  return format_double(v);
}

std::string kind_text(ModelKind kind) {
  return kind == ModelKind::bradley_terry ? "bradley-terry" : "logistic";
}

void check_model(const SavedModel& m) {
  const std::size_t p = m.estimate.size();
  if (p == 0 || m.names.size() != p) throw UsageError("a saved model needs one name per estimate");
  if (!m.covariance.empty() && m.covariance.size() != p * p)
    throw UsageError("a saved model's covariance must be P x P");
  for (double v : m.estimate)
    if (!std::isfinite(v)) throw UsageError("a saved model's estimates must be finite");
  for (double v : m.covariance)
    if (!std::isfinite(v)) throw UsageError("a saved model's covariance must be finite");
}

// Line-by-line reader with the line numbers of the file.
class Lines {
 public:
  Lines(std::string_view text, std::string name) : text_(text), name_(std::move(name)) {}
  bool next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    const auto end = text_.find('\n', pos_);
    const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
    *line = text_.substr(pos_, stop - pos_);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    pos_ = end == std::string_view::npos ? text_.size() : end + 1;
    ++line_;
    return true;
  }
  std::size_t line() const { return line_; }
  [[noreturn]] void fail(const std::string& message) const { throw InputError(name_, line_, 0, message); }
  // The next line, which must start with `key` and a space; returns the rest.
  std::string_view expect(const char* key) {
    std::string_view line;
    if (!next(&line)) fail(std::string("truncated: expected a line \"") + key + " ...\"");
    const std::size_t k = std::strlen(key);
    if (line.size() <= k || line.compare(0, k, key) != 0 || line[k] != ' ')
      fail(std::string("expected a line \"") + key + " ...\"");
    return line.substr(k + 1);
  }

 private:
  std::string_view text_;
  std::string name_;
  std::size_t pos_ = 0;
  std::size_t line_ = 0;
};

std::size_t parse_count(Lines& lines, std::string_view text, const char* what) {
  std::size_t value = 0;
  double d = 0;
  if (!parse_double(text, &d) || !(d >= 0) || d != std::floor(d) || d > 1e12)
    lines.fail(std::string(what) + " \"" + std::string(text) + "\" is not a count");
  value = static_cast<std::size_t>(d);
  return value;
}

bool parse_flag(Lines& lines, std::string_view text, const char* what) {
  if (text == "1") return true;
  if (text == "0") return false;
  lines.fail(std::string(what) + " must be 0 or 1");
}

double parse_number(Lines& lines, std::string_view text) {
  double v = 0;
  if (!parse_double(text, &v) || !std::isfinite(v))
    lines.fail("\"" + std::string(text) + "\" is not a finite number");
  return v;
}

// "NAME" with escapes, then the rest of the line after one space.
std::string parse_quoted(Lines& lines, std::string_view text, std::string_view* rest) {
  if (text.empty() || text[0] != '"') lines.fail("expected a double-quoted name");
  std::string name;
  std::size_t i = 1;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') break;
    if (c == '\\') {
      if (++i >= text.size()) lines.fail("unterminated escape in a name");
      switch (text[i]) {
        case '"':
          name += '"';
          break;
        case '\\':
          name += '\\';
          break;
        case 'n':
          name += '\n';
          break;
        case 'r':
          name += '\r';
          break;
        case 't':
          name += '\t';
          break;
        default:
          lines.fail("unknown escape in a name");
      }
    } else {
      name += c;
    }
  }
  if (i >= text.size()) lines.fail("unterminated name");
  if (i + 1 >= text.size() || text[i + 1] != ' ') lines.fail("expected a value after the name");
  *rest = text.substr(i + 2);
  return name;
}

}  // namespace

SavedModel saved_model(const BradleyTerryFit& fit) {
  const std::size_t n = fit.item_names.size();
  if (fit.status == FitStatus::not_estimable || fit.strength.size() != n)
    throw UsageError("no estimates to save: " + std::string(to_string(fit.status)));
  SavedModel m;
  m.kind = ModelKind::bradley_terry;
  m.names = fit.item_names;
  m.estimate = fit.strength;
  m.has_home = fit.has_home;
  if (fit.has_home) {
    m.names.push_back("(home)");
    m.estimate.push_back(fit.home);
  }
  m.converged = fit.status == FitStatus::converged;
  if (!fit.covariance.empty() && fit.covariance.size() == m.estimate.size() * m.estimate.size()) {
    m.covariance = fit.covariance;
    m.covariance_kind = fit.covariance_kind.empty() ? "model" : fit.covariance_kind;
  }
  return m;
}

SavedModel saved_model(const LogisticFit& fit) {
  if (fit.status == FitStatus::not_estimable || fit.estimate.size() != fit.terms.size() || fit.terms.empty())
    throw UsageError("no estimates to save: " + std::string(to_string(fit.status)));
  SavedModel m;
  m.kind = ModelKind::logistic;
  m.names = fit.terms;
  m.estimate = fit.estimate;
  m.intercept = fit.terms.front() == "(intercept)";
  m.converged = fit.status == FitStatus::converged;
  if (!fit.covariance.empty() && fit.covariance.size() == m.estimate.size() * m.estimate.size()) {
    m.covariance = fit.covariance;
    m.covariance_kind = fit.covariance_kind.empty() ? "model" : fit.covariance_kind;
  }
  return m;
}

std::string model_to_string(const SavedModel& m) {
  check_model(m);
  const std::size_t p = m.estimate.size();
  std::string out;
  out.reserve(64 * p + (m.covariance.empty() ? 0 : 12 * p * (p + 1)));
  out += std::string(kMagic) + " " + std::to_string(kModelFileVersion) + "\n";
  out += "model " + kind_text(m.kind) + "\n";
  out += "parameters " + std::to_string(p) + "\n";
  if (m.kind == ModelKind::bradley_terry)
    out += std::string("home ") + (m.has_home ? "1" : "0") + "\n";
  else
    out += std::string("intercept ") + (m.intercept ? "1" : "0") + "\n";
  out += std::string("status ") + (m.converged ? "converged" : "not_converged") + "\n";
  out += "covariance " + (m.covariance.empty() ? std::string("none") : m.covariance_kind) + "\n";
  for (std::size_t j = 0; j < p; ++j)
    out += "param " + quote_name(m.names[j]) + " " + number(m.estimate[j]) + "\n";
  if (!m.covariance.empty()) {
    for (std::size_t i = 0; i < p; ++i) {
      out += "cov";
      for (std::size_t j = 0; j <= i; ++j) {
        out += ' ';
        out += number(m.covariance[i * p + j]);
      }
      out += '\n';
    }
  }
  char checksum[64];
  std::snprintf(checksum, sizeof checksum, "checksum fnv1a64 %016" PRIx64 "\n", fnv1a64(out));
  return out + checksum;
}

SavedModel model_from_string(const std::string& text, const std::string& name) {
  // Line 1: magic and version.
  {
    const std::string_view first = std::string_view(text).substr(0, text.find('\n'));
    const std::string magic = std::string(kMagic) + " ";
    if (first.compare(0, magic.size(), magic) != 0)
      throw InputError(name, 1, 0, "not a btfit model file (it does not start with \"btfit-model\")");
    double version = 0;
    if (!parse_double(first.substr(magic.size()), &version) || version != std::floor(version))
      throw InputError(name, 1, 0, "not a btfit model file (no version number after \"btfit-model\")");
    if (version != kModelFileVersion)
      throw InputError(name, 1, 0,
                       "model file version " + std::string(first.substr(magic.size())) +
                           " is not supported: this btfit reads version " +
                           std::to_string(kModelFileVersion) + " (save the model again with this btfit)");
  }
  // The checksum line at the end covers every byte before it.
  std::size_t body_end = text.size();
  if (body_end > 0 && text[body_end - 1] == '\n') --body_end;
  const std::size_t last_start = text.rfind('\n', body_end == 0 ? 0 : body_end - 1);
  const std::size_t checksum_start = last_start == std::string::npos ? 0 : last_start + 1;
  const std::string_view last = std::string_view(text).substr(checksum_start, body_end - checksum_start);
  const std::string prefix = "checksum fnv1a64 ";
  const std::size_t n_lines =
      static_cast<std::size_t>(
          std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(checksum_start), '\n')) +
      1;
  if (last.compare(0, prefix.size(), prefix) != 0)
    throw InputError(name, n_lines, 0, "truncated or damaged model file: the last line is not its checksum");
  char expected[32];
  std::snprintf(expected, sizeof expected, "%016" PRIx64,
                fnv1a64(std::string_view(text).substr(0, checksum_start)));
  if (last.substr(prefix.size()) != expected)
    throw InputError(name, n_lines, 0, "corrupt model file: the checksum does not match the content");

  Lines lines(std::string_view(text).substr(0, checksum_start), name);
  std::string_view line;
  lines.next(&line);  // the magic line, checked above
  SavedModel m;
  const std::string_view kind = lines.expect("model");
  if (kind == "bradley-terry")
    m.kind = ModelKind::bradley_terry;
  else if (kind == "logistic")
    m.kind = ModelKind::logistic;
  else
    lines.fail("unknown model \"" + std::string(kind) + "\" (bradley-terry or logistic)");
  const std::size_t p = parse_count(lines, lines.expect("parameters"), "parameters");
  if (p == 0) lines.fail("a model needs at least one parameter");
  if (m.kind == ModelKind::bradley_terry)
    m.has_home = parse_flag(lines, lines.expect("home"), "home");
  else
    m.intercept = parse_flag(lines, lines.expect("intercept"), "intercept");
  const std::string_view status = lines.expect("status");
  if (status != "converged" && status != "not_converged")
    lines.fail("status must be converged or not_converged");
  m.converged = status == "converged";
  const std::string_view covariance = lines.expect("covariance");
  if (covariance != "none" && covariance != "model" && covariance != "hc0" && covariance != "cluster")
    lines.fail("covariance must be none, model, hc0 or cluster");
  m.covariance_kind = std::string(covariance);
  for (std::size_t j = 0; j < p; ++j) {
    std::string_view rest;
    m.names.push_back(parse_quoted(lines, lines.expect("param"), &rest));
    m.estimate.push_back(parse_number(lines, rest));
  }
  if (m.has_home && m.names.back() != "(home)")
    lines.fail("the last parameter of a model with home advantage must be (home)");
  if (m.intercept && m.names.front() != "(intercept)")
    lines.fail("the first term of a model with intercept must be (intercept)");
  if (covariance != "none") {
    m.covariance.assign(p * p, 0.0);
    for (std::size_t i = 0; i < p; ++i) {
      std::string_view rest = lines.expect("cov");
      for (std::size_t j = 0; j <= i; ++j) {
        const auto space = rest.find(' ');
        const std::string_view field = rest.substr(0, space);
        const double v = parse_number(lines, field);
        m.covariance[i * p + j] = v;
        m.covariance[j * p + i] = v;
        if (space == std::string_view::npos) {
          if (j != i)
            lines.fail("covariance row " + std::to_string(i + 1) + " has " + std::to_string(j + 1) +
                       " values, expected " + std::to_string(i + 1));
          rest = {};
        } else {
          if (j == i)
            lines.fail("covariance row " + std::to_string(i + 1) + " has more than " + std::to_string(i + 1) +
                       " values");
          rest = rest.substr(space + 1);
        }
      }
    }
  }
  if (lines.next(&line)) lines.fail("unexpected line after the model");
  return m;
}

void save_model(const std::string& path, const SavedModel& model) {
  write_output(path, model_to_string(model));
}

SavedModel load_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, 0, std::string("cannot open the model file: ") + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw InputError(path, 0, 0, "cannot read the model file");
  const std::string text = content.str();
  if (text.empty()) throw InputError(path, 0, 0, "not a btfit model file (the file is empty)");
  return model_from_string(text, path);
}

}  // namespace btfit
