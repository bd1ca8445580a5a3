// Shared helpers for the tests: reading reference CSVs and building small data sets.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "btfit/data.h"

namespace btfit::testing {

inline std::string data_path(const std::string& name) { return std::string(BTFIT_TEST_DATA) + "/" + name; }

struct ReferenceRow {
  double estimate = 0.0;
  double se = 0.0;
};

// Reads "name,estimate,se" rows (any header) from a reference file in tests/data.
inline std::map<std::string, ReferenceRow> read_reference(const std::string& file) {
  std::ifstream in(data_path(file));
  std::map<std::string, ReferenceRow> out;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string name, est, se;
    std::getline(ss, name, ',');
    std::getline(ss, est, ',');
    std::getline(ss, se, ',');
    out[name] = {std::stod(est), std::stod(se)};
  }
  return out;
}

// Reads the (nll, objective) pair for `name` from ref_nll.csv.
inline std::pair<double, double> read_reference_nll(const std::string& name) {
  std::ifstream in(data_path("ref_nll.csv"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string n, nll, obj;
    std::getline(ss, n, ',');
    std::getline(ss, nll, ',');
    std::getline(ss, obj, ',');
    if (n == name) return {std::stod(nll), std::stod(obj)};
  }
  return {0.0, 0.0};
}

inline double relative_error(double x, double y) {
  const double scale = std::max({std::abs(x), std::abs(y), 1e-300});
  return std::abs(x - y) / scale;
}

}  // namespace btfit::testing
