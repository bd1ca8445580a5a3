// End-to-end tests of the btfit command line: exit codes, stderr messages and output files.
//
// Each test runs the real btfit binary (BTFIT_BINARY) through the shell, in a fresh temporary
// directory under the system temp dir (removed afterwards), with its input files written there.
// Inputs are referred to by relative names, so messages read "in.csv:LINE:COLUMN: ...".
// Numbers are compared loosely here; exact agreement with the references is tested elsewhere.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef BTFIT_BINARY
#error "BTFIT_BINARY must be defined (path of the btfit executable)"
#endif
#ifndef BTFIT_TEST_DATA
#error "BTFIT_TEST_DATA must be defined (path of tests/data)"
#endif

namespace {

namespace fs = std::filesystem;

const std::string kData = BTFIT_TEST_DATA;

// Single-quotes a string for /bin/sh.
std::string sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string data_file(const std::string& name) { return sh(kData + "/" + name); }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whether `word` occurs as a whole word (a column name, an index) in the diagnosis part of
// stderr: the summary lines ("btfit: ..." headers and "  time: ...") are left out.
bool names(const std::string& err, const std::string& word) {
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("btfit:", 0) == 0 || line.rfind("  time:", 0) == 0 || line.rfind("  status:", 0) == 0) continue;
    std::string token;
    for (std::size_t i = 0; i <= line.size(); ++i) {
      const char c = i < line.size() ? line[i] : ' ';
      if (std::string(" \t,;:.()[]\"'`").find(c) != std::string::npos) {
        if (token == word) return true;
        token.clear();
      } else {
        token += c;
      }
    }
  }
  return false;
}

// A minimal RFC 4180 reader for btfit's CSV output.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  int column(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  }
  // The row whose first field is `key`, or nullptr.
  const std::vector<std::string>* row(const std::string& key) const {
    for (const auto& r : rows)
      if (!r.empty() && r[0] == key) return &r;
    return nullptr;
  }
  std::string get(const std::string& key, const std::string& col) const {
    const auto* r = row(key);
    const int c = column(col);
    if (r == nullptr || c < 0 || static_cast<std::size_t>(c) >= r->size()) return "<missing>";
    return (*r)[static_cast<std::size_t>(c)];
  }
  double number(const std::string& key, const std::string& col) const {
    const std::string text = get(key, col);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size()) return std::nan("");
    return v;
  }
};

Table parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      in_quotes = true;
      any = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n') {
      record.push_back(field);
      records.push_back(record);
      record.clear();
      field.clear();
      any = false;
    } else if (c != '\r') {
      field += c;
      any = true;
    }
  }
  if (any) {
    record.push_back(field);
    records.push_back(record);
  }
  Table t;
  if (!records.empty()) {
    t.header = records[0];
    t.rows.assign(records.begin() + 1, records.end());
  }
  return t;
}

std::map<std::string, double> read_reference(const std::string& name) {
  const Table t = parse_csv(read_file(kData + "/" + name));
  std::map<std::string, double> out;
  for (const auto& r : t.rows)
    if (r.size() >= 2) out[r[0]] = std::strtod(r[1].c_str(), nullptr);
  return out;
}

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.exit_code << "\n--- stdout:\n" << r.out << "--- stderr:\n" << r.err;
}

// Fixture: a fresh temporary directory, btfit run inside it.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "btfit_cli_XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    ASSERT_NE(::mkdtemp(buf.data()), nullptr) << "mkdtemp failed";
    dir_ = fs::path(buf.data());
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  fs::path path(const std::string& name) const { return dir_ / name; }
  void write(const std::string& name, const std::string& content) { write_file(path(name), content); }
  std::string read(const std::string& name) const { return read_file(path(name)); }
  bool exists(const std::string& name) const { return fs::exists(path(name)); }

  // Runs `btfit ARGS` in the temporary directory; stdin from stdin_text.
  Result run(const std::string& args, const std::string& stdin_text = "") {
    ++runs_;
    const std::string tag = "run" + std::to_string(runs_);
    const fs::path in = dir_ / (".stdin." + tag), out = dir_ / (".stdout." + tag), err = dir_ / (".stderr." + tag);
    write_file(in, stdin_text);
    const std::string command = "cd " + sh(dir_.string()) + " && " + sh(BTFIT_BINARY) + " " + args + " < " +
                                sh(in.string()) + " > " + sh(out.string()) + " 2> " + sh(err.string());
    const int status = std::system(command.c_str());
    Result r;
    if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.out = read_file(out);
    r.err = read_file(err);
    std::error_code ec;
    fs::remove(in, ec);
    fs::remove(out, ec);
    fs::remove(err, ec);
    return r;
  }

  // Files in the directory other than our own stdin/stdout/stderr captures.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".std", 0) == 0) continue;
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Runs `btfit ARGS --out out.csv` over an existing sentinel out.csv and expects exit 1, a
  // message on stderr containing each of `needles`, nothing on stdout, the sentinel unchanged
  // byte for byte and no stray temporary file left behind.
  Result expect_input_error(const std::string& args, const std::vector<std::string>& needles,
                            const std::string& stdin_text = "") {
    const std::string sentinel = "sentinel: must survive a failed run\r\nline 2,\"x\"\n";
    write("out.csv", sentinel);
    const auto before = listing();
    const Result r = run(args + " --out out.csv", stdin_text);
    EXPECT_EQ(r.exit_code, 1) << "btfit " << args << "\n" << r;
    for (const auto& n : needles) EXPECT_TRUE(contains(r.err, n)) << "stderr lacks \"" << n << "\"\n" << r;
    EXPECT_EQ(r.out, "") << "nothing may go to stdout on an error\n" << r;
    EXPECT_EQ(read("out.csv"), sentinel) << "--out file was modified by a failed run";
    EXPECT_EQ(listing(), before) << "a failed run left files behind";
    return r;
  }

  fs::path dir_;
  int runs_ = 0;
};

// Suites share the fixture.
using CliBadInput = CliTest;
using CliExistence = CliTest;
using CliFit = CliTest;
using CliLogistic = CliTest;
using CliSimulate = CliTest;
using CliUsage = CliTest;

// Deterministic labeled rows: x1, x2 and y ~ Bernoulli(sigmoid(0.3 + x1 - 0.7 x2)), not separable.
struct LabeledRow {
  double x1, x2;
  int y;
};
std::vector<LabeledRow> labeled_rows(int n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&] { return (static_cast<double>(rng()) + 0.5) / 4294967296.0; };
  std::vector<LabeledRow> rows;
  for (int i = 0; i < n; ++i) {
    LabeledRow r;
    r.x1 = 4.0 * uniform() - 2.0;
    r.x2 = 4.0 * uniform() - 2.0;
    const double p = 1.0 / (1.0 + std::exp(-(0.3 + r.x1 - 0.7 * r.x2)));
    r.y = uniform() < p ? 1 : 0;
    rows.push_back(r);
  }
  return rows;
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

// The strengths in a fit table, in output order.
std::vector<double> column_values(const Table& t, const std::string& col) {
  std::vector<double> out;
  const int c = t.column(col);
  for (const auto& r : t.rows)
    if (c >= 0 && static_cast<std::size_t>(c) < r.size()) out.push_back(std::strtod(r[c].c_str(), nullptr));
  return out;
}

const std::string kGoodComparisons = "winner,loser,count\nA,B,2\nB,A,1\nB,C,2\nC,B,1\nC,A,1\nA,C,1\n";

// =========================================================================================
// Bad input: exit 1, file:line:column named, --out untouched.

TEST_F(CliBadInput, MissingFile) {
  expect_input_error("fit nosuch.csv", {"nosuch.csv"});
}

TEST_F(CliBadInput, EmptyFile) {
  write("in.csv", "");
  const Result r = expect_input_error("fit in.csv", {"in.csv"});
  EXPECT_TRUE(contains(r.err, "empty")) << r;
}

TEST_F(CliBadInput, HeaderWithNoRows) {
  write("in.csv", "winner,loser\n");
  expect_input_error("fit in.csv", {"in.csv"});
  write("rows.csv", "x1,x2,y\n");
  expect_input_error("logistic rows.csv --label y", {"rows.csv"});
}

TEST_F(CliBadInput, ShortRow) {
  write("in.csv", "winner,loser,count\nA,B,1\nB,A,2\nA,B\nB,A,1\n");
  const Result r = expect_input_error("fit in.csv --count count", {"in.csv:4:3:"});
  EXPECT_TRUE(contains(r.err, "3")) << r;  // the expected field count
}

TEST_F(CliBadInput, RowWithExtraFields) {
  write("in.csv", "winner,loser,count\nA,B,1\nB,A,2\nA,B,1,9\n");
  expect_input_error("fit in.csv --count count", {"in.csv:4:4:"});
}

TEST_F(CliBadInput, NonNumericCount) {
  write("in.csv", "winner,loser,count\nA,B,1\nB,A,2\nA,B,three\n");
  expect_input_error("fit in.csv --count count", {"in.csv:4:3:", "three", "count"});
}

TEST_F(CliBadInput, NegativeCount) {
  write("in.csv", "winner,loser,count\nA,B,1\nB,A,2\nA,B,-1\n");
  expect_input_error("fit in.csv --count count", {"in.csv:4:3:", "-1"});
}

TEST_F(CliBadInput, NanCount) {
  write("in.csv", "winner,loser,count\nA,B,1\nB,A,2\nA,B,NaN\n");
  expect_input_error("fit in.csv --count count", {"in.csv:4:3:", "NaN"});
  write("lower.csv", "winner,loser,count\nA,B,1\nB,A,nan\n");
  expect_input_error("fit lower.csv --count count", {"lower.csv:3:3:"});
}

TEST_F(CliBadInput, InfiniteCount) {
  write("in.csv", "winner,loser,count\nA,B,1\nB,A,2\nA,B,inf\n");
  expect_input_error("fit in.csv --count count", {"in.csv:4:3:"});
}

TEST_F(CliBadInput, SelfComparison) {
  write("in.csv", "winner,loser\nA,B\nB,A\nBob,Bob\n");
  const Result r = expect_input_error("fit in.csv", {"Bob"});
  // The column of the offending name (the loser's, where the repetition shows; the winner's
  // would do too).
  EXPECT_TRUE(contains(r.err, "in.csv:4:2:") || contains(r.err, "in.csv:4:1:")) << r;
}

TEST_F(CliBadInput, OutcomeOutsideAllowedValues) {
  // The outcome column is the second one, to check that the column number is the file's.
  write("in.csv", "model_a,winner,model_b\nx,model_a,y\ny,tie,x\nx,model_c,y\n");
  expect_input_error("fit in.csv --a model_a --b model_b --outcome winner", {"in.csv:4:2:", "model_c"});
  write("num.csv", "a,b,outcome\nx,y,1\ny,x,0.25\n");
  expect_input_error("fit num.csv --a a --b b --outcome outcome", {"num.csv:3:3:", "0.25"});
}

TEST_F(CliBadInput, UnknownColumnName) {
  write("in.csv", kGoodComparisons);
  const Result r = expect_input_error("fit in.csv --winner nosuch", {"in.csv", "nosuch"});
  EXPECT_TRUE(contains(r.err, "loser")) << "the message should list the columns there are\n" << r;
  expect_input_error("fit in.csv --count nosuch_count", {"in.csv", "nosuch_count"});
  expect_input_error("logistic " + data_file("pima_tr.csv") + " --label nosuch_label", {"pima_tr.csv", "nosuch_label"});
}

TEST_F(CliBadInput, LogisticLabelOutsideZeroOne) {
  write("in.csv", "x1,y,x2\n1,0,2\n2,1,1\n3,2,0\n");
  expect_input_error("logistic in.csv --label y", {"in.csv:4:2:", "2"});
  write("neg.csv", "x1,y,x2\n1,0,2\n2,-1,1\n");
  expect_input_error("logistic neg.csv --label y", {"neg.csv:3:2:"});
}

TEST_F(CliBadInput, LogisticNanFeature) {
  write("in.csv", "x1,y,x2\n1,0,2\n2,1,1\n3,0,0\n4,1,nan\n");
  expect_input_error("logistic in.csv --label y", {"in.csv:5:3:", "x2"});
}

TEST_F(CliBadInput, LogisticNonNumericFeature) {
  write("in.csv", "x1,y,x2\n1,0,2\nabc,1,1\n");
  expect_input_error("logistic in.csv --label y", {"in.csv:3:1:", "x1", "abc"});
}

TEST_F(CliBadInput, LogisticNegativeWeight) {
  write("in.csv", "x1,w,y\n1,1,0\n2,2,1\n3,-1,0\n");
  expect_input_error("logistic in.csv --label y --weight w", {"in.csv:4:2:", "-1"});
  write("nan.csv", "x1,w,y\n1,1,0\n2,NaN,1\n");
  expect_input_error("logistic nan.csv --label y --weight w", {"nan.csv:3:2:"});
}

TEST_F(CliBadInput, LibsvmMalformedIndex) {
  write("in.svm", "1 1:0.5 2:1\n0 1:1.5\n0 1:0.5 x:1\n");
  // Column = character position of the bad token in the line (1-based).
  expect_input_error("logistic in.svm", {"in.svm:3:9:", "x"});
}

TEST_F(CliBadInput, LibsvmZeroIndex) {
  write("in.svm", "1 1:0.5 2:1\n1 0:1\n");
  expect_input_error("logistic in.svm", {"in.svm:2:3:"});
}

TEST_F(CliBadInput, LibsvmLabelOutsideAllowed) {
  write("in.svm", "1 1:0.5\n-1 1:1\n+1 1:2\n0 1:3\n2 1:1\n");
  expect_input_error("logistic in.svm", {"in.svm:5:1:", "2"});
}

TEST_F(CliBadInput, UnterminatedQuote) {
  write("in.csv", "winner,loser\nA,B\nB,A\nA,\"B\nC,D\nE,F\n");
  expect_input_error("fit in.csv", {"in.csv:4:2:", "quote"});
}

TEST_F(CliBadInput, TextAfterClosingQuote) {
  write("in.csv", "winner,loser\nA,B\nB,\"A\"x\n");
  expect_input_error("fit in.csv", {"in.csv:3:2:"});
}

TEST_F(CliBadInput, PriorWithNonPositiveSd) {
  write("zero.csv", "name,mean,sd\nBoston,0.3,0.5\nDetroit,0,0\n");
  expect_input_error("fit " + data_file("baseball.csv") + " --count count --prior zero.csv", {"zero.csv:3:3:"});
  write("neg.csv", "name,mean,sd\nBoston,0.3,-1\n");
  expect_input_error("fit " + data_file("baseball.csv") + " --count count --prior neg.csv", {"neg.csv:2:3:"});
  write("lprior.csv", "name,mean,sd\nglu,0,-2\n");
  expect_input_error("logistic " + data_file("pima_tr.csv") + " --label y --prior lprior.csv", {"lprior.csv:2:3:"});
}

TEST_F(CliBadInput, PhysicalLinesAfterQuotedNewline) {
  // Records 2 and 3 each span two physical lines; the bad count is on physical line 6.
  write("in.csv", "winner,loser,count\n\"A\nx\",B,1\nB,\"A\nx\",1\nB,C,-1\n");
  expect_input_error("fit in.csv --count count", {"in.csv:6:3:"});
}

TEST_F(CliBadInput, PhysicalLinesWithCrlfBlankLinesAndQuotes) {
  // CRLF endings, a quoted field with an embedded CRLF and a blank line: the bad row is line 7.
  write("in.csv", "winner,loser,count\r\n\"A\r\nx\",B,1\r\nB,\"A\r\nx\",1\r\n\r\nB,C,-1\r\n");
  expect_input_error("fit in.csv --count count", {"in.csv:7:3:"});
  // Blank lines count as physical lines too.
  write("blank.csv", "winner,loser\nA,B\n\n\nB,A,1\n");
  expect_input_error("fit blank.csv", {"blank.csv:5:3:"});
}

TEST_F(CliBadInput, PhysicalLinesAcrossReadBlocks) {
  // A file of several megabytes (the reader works in blocks) with quoted fields holding line
  // breaks throughout; the bad row is the last one.
  std::string text = "winner,loser,count\r\n";
  std::size_t line = 1;
  for (int k = 0; k < 300000; ++k) {
    if (k % 7 == 0) {
      text += "\"item," + std::string("\r\n") + std::to_string(k % 50) + "\",\"item" + std::to_string((k + 1) % 50) +
              "\",2\r\n";
      line += 2;
    } else {
      text += "item" + std::to_string(k % 50) + ",item" + std::to_string((k + 3) % 50) + ",1\r\n";
      line += 1;
    }
  }
  text += "itemX,itemY,-2\r\n";
  line += 1;
  write("in.csv", text);
  expect_input_error("fit in.csv --count count", {"in.csv:" + std::to_string(line) + ":3:"});
}

TEST_F(CliBadInput, StandardInputErrorsNameTheLine) {
  const Result r = expect_input_error("fit - --count count", {":3:3:"}, "winner,loser,count\nA,B,1\nB,A,x\n");
  EXPECT_TRUE(contains(r.err, "stdin")) << r;
}

TEST_F(CliBadInput, EmptyItemName) {
  write("in.csv", "winner,loser\nA,B\n,A\n");
  expect_input_error("fit in.csv", {"in.csv:3:1:"});
}

// =========================================================================================
// Usage errors: non-zero, never 2 or 3; --out untouched.

TEST_F(CliUsage, BadUsageIsNeverTwoOrThree) {
  write("in.csv", kGoodComparisons);
  const std::string sentinel = "untouched\n";
  const std::vector<std::string> cases = {
      "fit --out out.csv",                                     // no FILE
      "fit in.csv --count count --l2 -1 --out out.csv",        // negative penalty
      "fit in.csv --count count --format xml --out out.csv",   // unknown format
      "fit in.csv --home-advantage --out out.csv",             // needs --a/--b/--outcome
      "fit in.csv --count count --reference Nobody --out out.csv",
      "fit in.csv --a winner --out out.csv",                   // --a without --b/--outcome
      "logistic " + data_file("pima_tr.csv") + " --out out.csv",  // --label missing
      "frobnicate in.csv",
  };
  for (const auto& args : cases) {
    write("out.csv", sentinel);
    const Result r = run(args);
    EXPECT_NE(r.exit_code, 0) << args << "\n" << r;
    EXPECT_NE(r.exit_code, 2) << args << "\n" << r;
    EXPECT_NE(r.exit_code, 3) << args << "\n" << r;
    EXPECT_NE(r.err, "") << args << ": no message\n" << r;
    EXPECT_EQ(read("out.csv"), sentinel) << args;
  }
}

// =========================================================================================
// Existence: exit 2 with the cause named.

TEST_F(CliExistence, UndefeatedItemIsNamedWithRecord) {
  write("in.csv", "winner,loser\nZed,Amy\nZed,Bob\nZed,Cat\nAmy,Bob\nBob,Cat\nCat,Amy\n");
  write("out.csv", "sentinel\n");
  const Result r = run("fit in.csv --out out.csv");
  EXPECT_EQ(r.exit_code, 2) << r;
  bool record = false;
  std::istringstream lines(r.err);
  for (std::string l; std::getline(lines, l);)
    if (contains(l, "Zed") && contains(l, "3 wins") && contains(l, "0 losses")) record = true;
  EXPECT_TRUE(record) << "stderr should name Zed with its record (3 wins, 0 losses)\n" << r;
  EXPECT_TRUE(contains(r.err, "--pseudo")) << r;
  EXPECT_TRUE(contains(r.err, "--l2")) << r;
  EXPECT_TRUE(contains(r.err, "--prior")) << r;
  EXPECT_EQ(read("out.csv"), "sentinel\n") << "no results when the estimate does not exist";
  EXPECT_EQ(r.out, "");

  // The remedies work: each makes the fit finite.
  EXPECT_EQ(run("fit in.csv --pseudo 1").exit_code, 0);
  EXPECT_EQ(run("fit in.csv --l2 1").exit_code, 0);
}

TEST_F(CliExistence, WinlessItemIsNamedWithRecord) {
  write("in.csv", "winner,loser\nAmy,Wally\nBob,Wally\nCat,Wally\nAmy,Bob\nBob,Cat\nCat,Amy\n");
  const Result r = run("fit in.csv");
  EXPECT_EQ(r.exit_code, 2) << r;
  bool record = false;
  std::istringstream lines(r.err);
  for (std::string l; std::getline(lines, l);)
    if (contains(l, "Wally") && contains(l, "0 wins") && contains(l, "3 losses")) record = true;
  EXPECT_TRUE(record) << "stderr should name Wally with its record (0 wins, 3 losses)\n" << r;
  EXPECT_TRUE(contains(r.err, "--pseudo") && contains(r.err, "--l2") && contains(r.err, "--prior")) << r;
}

TEST_F(CliExistence, CheckExitCodes) {
  write("bad.csv", "winner,loser\nZed,Amy\nZed,Bob\nAmy,Bob\nBob,Amy\n");
  const Result bad = run("check bad.csv");
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_TRUE(contains(bad.out + bad.err, "Zed")) << bad;
  const Result good = run("check " + data_file("baseball.csv") + " --count count");
  EXPECT_EQ(good.exit_code, 0) << good;
  // With a penalty the estimate exists.
  EXPECT_EQ(run("check bad.csv --pseudo 1").exit_code, 0);
}

TEST_F(CliExistence, ZeroCountRowsStayOutOfTheGraph) {
  // B's only win has count 0: A never lost.
  write("in.csv", "winner,loser,count\nA,B,2\nB,A,0\nA,C,1\nC,B,1\nB,C,1\n");
  const Result r = run("fit in.csv --count count");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "A (")) << r;
}

TEST_F(CliExistence, DisconnectedGroupsAreReported) {
  write("in.csv", "winner,loser\nAmy,Bob\nBob,Amy\nCat,Dan\nDan,Cat\n");
  const Result r = run("fit in.csv");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "groups")) << r;
  const Result check = run("check in.csv");
  EXPECT_EQ(check.exit_code, 2) << check;
  EXPECT_TRUE(contains(check.out + check.err, "groups")) << check;

  // With a penalty the fit succeeds, but the groups are still reported.
  const Result l2 = run("fit in.csv --l2 1");
  EXPECT_EQ(l2.exit_code, 0) << l2;
  EXPECT_TRUE(contains(l2.err, "group")) << l2;
  const Table t = parse_csv(l2.out);
  EXPECT_EQ(t.rows.size(), 4u) << l2;
  for (const char* item : {"Amy", "Bob", "Cat", "Dan"}) EXPECT_NE(t.row(item), nullptr) << item;
  const Result pseudo = run("fit in.csv --pseudo 1");
  EXPECT_EQ(pseudo.exit_code, 0) << pseudo;
  EXPECT_TRUE(contains(pseudo.err, "group")) << pseudo;
}

// Writes x1,<extra column>,x2,y rows for the logistic existence tests.
std::string logistic_csv(const std::string& extra_name, const std::function<std::string(const LabeledRow&)>& extra) {
  std::string text = "x1," + extra_name + ",x2,y\n";
  for (const auto& r : labeled_rows(80, 11)) text += fmt(r.x1) + "," + extra(r) + "," + fmt(r.x2) + "," + std::to_string(r.y) + "\n";
  return text;
}

TEST_F(CliExistence, LogisticControlDataFit) {
  // The data the logistic existence tests build on fit fine without the extra column.
  write("in.csv", logistic_csv("z", [](const LabeledRow& r) { return fmt(std::sin(7 * r.x1 + 3 * r.x2)); }));
  const Result r = run("logistic in.csv --label y");
  EXPECT_EQ(r.exit_code, 0) << r;
}

TEST_F(CliExistence, LogisticSeparableColumnIsNamed) {
  write("in.csv", logistic_csv("sep_col", [](const LabeledRow& r) {
          return fmt((r.y ? 1.0 : -1.0) * (0.5 + std::fabs(r.x2)));
        }));
  write("out.csv", "sentinel\n");
  const Result r = run("logistic in.csv --label y --out out.csv");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(names(r.err, "sep_col")) << r;
  EXPECT_TRUE(contains(r.err, "--l2")) << r;
  EXPECT_EQ(read("out.csv"), "sentinel\n");
  // The ridge remedy gives a finite fit.
  EXPECT_EQ(run("logistic in.csv --label y --l2 1").exit_code, 0);
}

TEST_F(CliExistence, LogisticQuasiSeparationIsRefused) {
  // sep_col >= 0 for every label-1 row and <= 0 for every label-0 row, with ties at 0.
  write("in.csv", logistic_csv("sep_col", [](const LabeledRow& r) {
          return fmt(r.x1 > 0.5 ? 0.0 : (r.y ? 1.0 : -1.0) * (1.0 + std::fabs(r.x2)));
        }));
  const Result r = run("logistic in.csv --label y");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(names(r.err, "sep_col")) << r;
}

TEST_F(CliExistence, LogisticConstantColumnIsNamed) {
  write("in.csv", logistic_csv("const_col", [](const LabeledRow&) { return std::string("5"); }));
  const Result r = run("logistic in.csv --label y");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(names(r.err, "const_col")) << r;
  EXPECT_EQ(r.out, "");
  // Without the intercept the constant column is identified.
  EXPECT_EQ(run("logistic in.csv --label y --no-intercept").exit_code, 0);
}

TEST_F(CliExistence, LogisticDuplicatedColumnIsNamed) {
  write("in.csv", logistic_csv("x1_copy", [](const LabeledRow& r) { return fmt(r.x1); }));
  const Result r = run("logistic in.csv --label y");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(names(r.err, "x1_copy")) << "the later of two identical columns is the redundant one\n" << r;
}

TEST_F(CliExistence, LogisticCollinearColumnsNamedSoThatDroppingThemWorks) {
  // combo = x1 + 2 x2 (exactly, in decimal).
  std::string text = "x1,x2,combo,y\n";
  for (const auto& r : labeled_rows(80, 5)) {
    const double a = std::round(r.x1 * 1000) / 1000, b = std::round(r.x2 * 1000) / 1000;
    text += fmt(a) + "," + fmt(b) + "," + fmt(a + 2 * b) + "," + std::to_string(r.y) + "\n";
  }
  write("in.csv", text);
  const Result r = run("logistic in.csv --label y");
  ASSERT_EQ(r.exit_code, 2) << r;
  std::vector<std::string> named;
  for (const char* c : {"x1", "x2", "combo"})
    if (names(r.err, c)) named.push_back(c);
  ASSERT_FALSE(named.empty()) << "no column named\n" << r;
  // Following the advice (drop the named columns with --features) must give a unique fit,
  // unless every column was named (then dropping any one of them works).
  std::vector<std::string> keep;
  for (const char* c : {"x1", "x2", "combo"})
    if (std::find(named.begin(), named.end(), c) == named.end()) keep.push_back(c);
  if (named.size() == 3) keep = {"x1", "x2"};
  std::string features;
  for (const auto& k : keep) features += (features.empty() ? "" : ",") + k;
  const Result refit = run("logistic in.csv --label y --features " + features);
  EXPECT_EQ(refit.exit_code, 0) << "after dropping the named columns\n" << refit;
}

TEST_F(CliExistence, LogisticAllLabelsEqual) {
  std::string text = "x1,x2,y\n";
  for (const auto& r : labeled_rows(30, 2)) text += fmt(r.x1) + "," + fmt(r.x2) + ",1\n";
  write("in.csv", text);
  const Result r = run("logistic in.csv --label y");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "label") || contains(r.err, "intercept")) << r;
  EXPECT_TRUE(contains(r.err, "--l2") && contains(r.err, "--prior")) << r;
}

TEST_F(CliExistence, LibsvmIndexThatNeverOccurs) {
  // Index 2 never occurs: its coefficient is not unique.
  std::string text;
  for (const auto& r : labeled_rows(40, 9)) text += std::to_string(r.y) + " 1:" + fmt(r.x1) + " 3:" + fmt(r.x2) + "\n";
  write("in.svm", text);
  const Result r = run("logistic in.svm");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(names(r.err, "2")) << "the index that never occurs should be named\n" << r;
  EXPECT_EQ(run("logistic in.svm --l2 1").exit_code, 0);
}

// =========================================================================================
// Successful Bradley-Terry runs.

TEST_F(CliFit, BaseballCsv) {
  const Result r = run("fit " + data_file("baseball.csv") + " --count count");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out.rfind("item,strength,se", 0), 0u) << r.out;
  const Table t = parse_csv(r.out);
  for (const char* c : {"elo", "wins", "losses", "ties", "games", "rank"}) EXPECT_GE(t.column(c), 0) << c;
  ASSERT_EQ(t.rows.size(), 7u) << r.out;
  const auto s = column_values(t, "strength");
  for (std::size_t i = 1; i < s.size(); ++i) EXPECT_GE(s[i - 1], s[i]) << "not sorted by strength, row " << i;
  for (std::size_t i = 0; i < t.rows.size(); ++i)
    EXPECT_EQ(t.rows[i][static_cast<std::size_t>(t.column("rank"))], std::to_string(i + 1));
  const auto ref = read_reference("ref_bt_baseball.csv");
  EXPECT_NEAR(t.number("Milwaukee", "strength"), ref.at("Milwaukee"), 1e-6);
  EXPECT_NEAR(t.number("Baltimore", "strength"), ref.at("Baltimore"), 1e-6);
  EXPECT_NEAR(t.number("New York", "se"), 0.20160374800999772, 1e-5);
  EXPECT_EQ(t.get("Milwaukee", "wins"), "50");
  EXPECT_EQ(t.get("Milwaukee", "losses"), "28");
  EXPECT_EQ(t.get("Milwaukee", "ties"), "0");
  EXPECT_EQ(t.get("Milwaukee", "games"), "78");
  EXPECT_NEAR(t.number("Milwaukee", "elo"), 1000 + 400 / std::log(10.0) * ref.at("Milwaukee"), 1e-3);
  // Summary on stderr.
  EXPECT_TRUE(contains(r.err, "converged")) << r.err;
}

TEST_F(CliFit, JsonOutput) {
  const Result r = run("fit " + data_file("baseball.csv") + " --count count --format json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "\"results\"")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"converged\": true")) << r.out;
  const auto pos = r.out.find("\"nll\":");
  ASSERT_NE(pos, std::string::npos) << r.out;
  EXPECT_NEAR(std::strtod(r.out.c_str() + pos + 6, nullptr), 172.24817599471598, 1e-6);
  EXPECT_TRUE(contains(r.out, "\"item\": \"Milwaukee\"")) << r.out;
  // Brackets and braces balance (outside strings), and it is one object.
  int depth = 0;
  bool in_string = false, balanced = true;
  for (std::size_t i = 0; i < r.out.size(); ++i) {
    const char c = r.out[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (--depth < 0) balanced = false;
    }
  }
  EXPECT_TRUE(balanced && depth == 0 && !in_string) << r.out;
  EXPECT_EQ(r.out.find_first_not_of(" \n"), r.out.find('{'));
  for (const char* bad : {": nan", ": -nan", ": inf", ": -inf", ": NaN"}) EXPECT_FALSE(contains(r.out, bad)) << r.out;
}

TEST_F(CliFit, OutFileWritesNothingToStdout) {
  const Result to_stdout = run("fit " + data_file("baseball.csv") + " --count count");
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout;
  write("out.csv", "old content\n");
  const Result r = run("fit " + data_file("baseball.csv") + " --count count --out out.csv");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read("out.csv"), to_stdout.out);
  EXPECT_EQ(listing(), std::vector<std::string>{"out.csv"}) << "temporary files left behind";
  // A new file too.
  const Result json = run("fit " + data_file("baseball.csv") + " --count count --format json --out new.json");
  ASSERT_EQ(json.exit_code, 0) << json;
  EXPECT_EQ(json.out, "");
  EXPECT_TRUE(contains(read("new.json"), "\"results\""));
}

TEST_F(CliFit, StandardInput) {
  const std::string text = read_file(kData + "/baseball.csv");
  const Result from_file = run("fit " + data_file("baseball.csv") + " --count count");
  const Result from_stdin = run("fit - --count count", text);
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin;
  EXPECT_EQ(from_stdin.out, from_file.out);
}

TEST_F(CliFit, TsvInput) {
  std::string text = read_file(kData + "/baseball.csv");
  std::replace(text.begin(), text.end(), ',', '\t');
  write("in.tsv", text);
  const Result tsv = run("fit in.tsv --count count");
  ASSERT_EQ(tsv.exit_code, 0) << tsv;
  const Result csv = run("fit " + data_file("baseball.csv") + " --count count");
  EXPECT_EQ(tsv.out, csv.out);
  // Tab-separated item names may contain commas.
  write("commas.tsv", "winner\tloser\nSmith, J.\tDoe, K.\nDoe, K.\tSmith, J.\n");
  const Result commas = run("fit commas.tsv");
  ASSERT_EQ(commas.exit_code, 0) << commas;
  const Table t = parse_csv(commas.out);
  EXPECT_NE(t.row("Smith, J."), nullptr) << commas.out;
  EXPECT_NE(t.row("Doe, K."), nullptr) << commas.out;
}

TEST_F(CliFit, QuotedItemNamesSurvive) {
  write("in.csv",
        "winner,loser\n\"Smith, J.\",Bob\nBob,\"Smith, J.\"\nBob,\"Smith, J.\"\n\"Doe \"\"X\"\"\",Bob\n"
        "Bob,\"Doe \"\"X\"\"\"\n\"Smith, J.\",\"Doe \"\"X\"\"\"\n\"multi\nline\",Bob\nBob,\"multi\nline\"\n");
  const Result r = run("fit in.csv");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "\n\"Smith, J.\",")) << "a name with a comma must be quoted\n" << r.out;
  EXPECT_TRUE(contains(r.out, "\n\"Doe \"\"X\"\"\",")) << "embedded quotes doubled\n" << r.out;
  const Table t = parse_csv(r.out);
  ASSERT_EQ(t.rows.size(), 4u) << r.out;
  EXPECT_EQ(t.get("Smith, J.", "wins"), "2");
  EXPECT_EQ(t.get("Smith, J.", "losses"), "2");
  EXPECT_EQ(t.get("Doe \"X\"", "games"), "3");
  EXPECT_EQ(t.get("multi\nline", "games"), "2");
  for (const auto& row : t.rows) EXPECT_EQ(row.size(), t.header.size()) << row[0];
}

TEST_F(CliFit, LmarenaLayout) {
  write("battles.csv",
        "question_id,model_a,model_b,winner,judge\n"
        "1,gpt,claude,model_a,u1\n"
        "2,claude,gpt,model_a,u2\n"
        "3,gpt,llama,tie,u3\n"
        "4,llama,claude,tie (bothbad),u4\n"
        "5,claude,llama,model_b,u5\n"
        "6,llama,gpt,model_a,u6\n"
        "7,gpt,claude,\"tie (bothbad)\",u7\n");
  const Result r = run("fit battles.csv --a model_a --b model_b --outcome winner");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  ASSERT_EQ(t.rows.size(), 3u) << r.out;
  // gpt: beat claude, lost to claude, tie llama, lost to llama, tie claude.
  EXPECT_EQ(t.get("gpt", "wins"), "1");
  EXPECT_EQ(t.get("gpt", "losses"), "2");
  EXPECT_EQ(t.get("gpt", "ties"), "2");
  EXPECT_EQ(t.get("gpt", "games"), "5");
  // llama: tie gpt, tie claude, beat claude, beat gpt.
  EXPECT_EQ(t.get("llama", "wins"), "2");
  EXPECT_EQ(t.get("llama", "losses"), "0");
  EXPECT_EQ(t.get("llama", "ties"), "2");
  EXPECT_EQ(t.rows[0][0], "llama") << r.out;
  // Unpenalized: mean-zero strengths.
  const auto s = column_values(t, "strength");
  EXPECT_NEAR(s[0] + s[1] + s[2], 0.0, 1e-8);
  // The same data with the letters a/b/tie and with numbers give the same strengths.
  write("letters.csv", "x,y,o\ngpt,claude,a\nclaude,gpt,a\ngpt,llama,tie\nllama,claude,tie\nclaude,llama,b\n"
                       "llama,gpt,a\ngpt,claude,tie\n");
  const Result letters = run("fit letters.csv --a x --b y --outcome o");
  ASSERT_EQ(letters.exit_code, 0) << letters;
  write("numbers.csv", "x,y,o\ngpt,claude,1\nclaude,gpt,1\ngpt,llama,0.5\nllama,claude,0.5\nclaude,llama,0\n"
                       "llama,gpt,1\ngpt,claude,0.5\n");
  const Result numbers = run("fit numbers.csv --a x --b y --outcome o");
  ASSERT_EQ(numbers.exit_code, 0) << numbers;
  const Table tl = parse_csv(letters.out), tn = parse_csv(numbers.out);
  for (const char* item : {"gpt", "claude", "llama"}) {
    EXPECT_NEAR(tl.number(item, "strength"), t.number(item, "strength"), 1e-9) << item;
    EXPECT_NEAR(tn.number(item, "strength"), t.number(item, "strength"), 1e-9) << item;
  }
}

TEST_F(CliFit, HomeAdvantage) {
  const Result r =
      run("fit " + data_file("baseball_games.csv") + " --a home --b away --outcome outcome --home-advantage");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  ASSERT_EQ(t.rows.size(), 8u) << r.out;
  EXPECT_EQ(t.rows.back()[0], "(home)") << r.out;
  const auto ref = read_reference("ref_bt_baseball_home.csv");
  EXPECT_NEAR(t.number("(home)", "strength"), ref.at("(home)"), 1e-5);
  EXPECT_NEAR(t.number("Milwaukee", "strength"), ref.at("Milwaukee"), 1e-5);
  // The items stay sorted above the (home) row.
  for (std::size_t i = 1; i + 1 < t.rows.size(); ++i)
    EXPECT_GE(std::strtod(t.rows[i - 1][1].c_str(), nullptr), std::strtod(t.rows[i][1].c_str(), nullptr));
  // Fields that do not apply to (home) are empty.
  EXPECT_EQ(t.get("(home)", "wins"), "");
}

TEST_F(CliFit, ReferenceItem) {
  const Result r = run("fit " + data_file("baseball.csv") + " --count count --reference Baltimore");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  ASSERT_NE(t.row("Baltimore"), nullptr) << r.out;
  EXPECT_EQ(t.number("Baltimore", "strength"), 0.0) << r.out;
  const std::string se = t.get("Baltimore", "se");
  EXPECT_TRUE(se.empty() || std::strtod(se.c_str(), nullptr) == 0.0) << "se of the reference: " << se;
  const auto ref = read_reference("ref_bt_baseball.csv");
  EXPECT_NEAR(t.number("Milwaukee", "strength"), ref.at("Milwaukee") - ref.at("Baltimore"), 1e-6);
  EXPECT_GT(t.number("Milwaukee", "se"), 0.25);  // the SE of a difference, larger than a mean-zero SE
  // Still sorted by strength; Baltimore last.
  EXPECT_EQ(t.rows.back()[0], "Baltimore");
}

TEST_F(CliFit, ZeroCountRowsAreIgnored) {
  write("in.csv", "winner,loser,count\nA,B,2\nB,A,1\nA,Ghost,0\nGhost,B,0\nB,A,0\n");
  const Result r = run("fit in.csv --count count");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  EXPECT_EQ(t.row("Ghost"), nullptr) << "an item only in zero-count rows must not appear\n" << r.out;
  ASSERT_EQ(t.rows.size(), 2u) << r.out;
  EXPECT_EQ(t.get("A", "wins"), "2");
  EXPECT_EQ(t.get("A", "games"), "3");
  EXPECT_NEAR(t.number("A", "strength") - t.number("B", "strength"), std::log(2.0), 1e-6);
}

TEST_F(CliFit, SemicolonDelimiter) {
  write("in.csv", "winner;loser;count\nA;B;2\nB;A;1\n");
  const Result r = run("fit in.csv --count count");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  EXPECT_NEAR(t.number("A", "strength") - t.number("B", "strength"), std::log(2.0), 1e-6);
}

TEST_F(CliFit, Utf8ByteOrderMarkIsIgnored) {
  // Spreadsheet programs write "CSV UTF-8" with a byte-order mark; the header must still match.
  write("in.csv", "\xEF\xBB\xBFwinner,loser,count\nA,B,2\nB,A,1\n");
  const Result r = run("fit in.csv --count count");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  EXPECT_NEAR(t.number("A", "strength") - t.number("B", "strength"), std::log(2.0), 1e-6);
}

// =========================================================================================
// simulate -> fit.

TEST_F(CliSimulate, SimulateThenFitIsReproducible) {
  const std::string args = "simulate comparisons --items 50 --comparisons 2000 --seed 3";
  const Result s1 = run(args + " --out s1.csv --truth t1.csv");
  ASSERT_EQ(s1.exit_code, 0) << s1;
  const Result s2 = run(args + " --out s2.csv --truth t2.csv");
  ASSERT_EQ(s2.exit_code, 0) << s2;
  ASSERT_TRUE(exists("s1.csv") && exists("t1.csv"));
  EXPECT_EQ(read("s1.csv"), read("s2.csv")) << "same seed, different comparisons";
  EXPECT_EQ(read("t1.csv"), read("t2.csv")) << "same seed, different truth";
  const Result s3 = run("simulate comparisons --items 50 --comparisons 2000 --seed 4 --out s3.csv");
  ASSERT_EQ(s3.exit_code, 0) << s3;
  EXPECT_NE(read("s1.csv"), read("s3.csv")) << "another seed should give other data";
  // 2000 comparisons plus the header.
  const std::string data = read("s1.csv");
  EXPECT_EQ(std::count(data.begin(), data.end(), '\n'), 2001);

  const Result f1 = run("fit s1.csv");
  ASSERT_EQ(f1.exit_code, 0) << f1;
  const Result f2 = run("fit s1.csv");
  EXPECT_EQ(f1.out, f2.out) << "fitting the same file twice gave different output";
  const Table fit = parse_csv(f1.out);
  const Table truth = parse_csv(read("t1.csv"));
  ASSERT_EQ(truth.rows.size(), 50u);
  ASSERT_EQ(fit.rows.size(), 50u);
  // The estimates track the truth.
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (const auto& row : truth.rows) {
    const double x = std::strtod(row[1].c_str(), nullptr), y = fit.number(row[0], "strength");
    ASSERT_FALSE(std::isnan(y)) << row[0] << " missing from the fit";
    sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y;
  }
  const double n = 50;
  const double corr = (sxy - sx * sy / n) / std::sqrt((sxx - sx * sx / n) * (syy - sy * sy / n));
  EXPECT_GT(corr, 0.8);
}

// =========================================================================================
// Logistic regression.

TEST_F(CliLogistic, PimaCsv) {
  const Result r = run("logistic " + data_file("pima_tr.csv") + " --label y");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out.rfind("term,estimate,se,z,p_value\n", 0), 0u) << r.out;
  const Table t = parse_csv(r.out);
  ASSERT_EQ(t.rows.size(), 8u) << r.out;
  const std::vector<std::string> terms = {"(intercept)", "npreg", "glu", "bp", "skin", "bmi", "ped", "age"};
  for (std::size_t j = 0; j < terms.size(); ++j) EXPECT_EQ(t.rows[j][0], terms[j]);
  const auto ref = read_reference("ref_logistic_pima.csv");
  EXPECT_NEAR(t.number("glu", "estimate"), ref.at("glu"), 1e-6);
  EXPECT_NEAR(t.number("(intercept)", "estimate"), ref.at("(intercept)"), 1e-4);
  EXPECT_NEAR(t.number("glu", "z"), t.number("glu", "estimate") / t.number("glu", "se"), 1e-9);
  const double p = t.number("glu", "p_value");
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 1e-4);
}

TEST_F(CliLogistic, JsonAndOutFile) {
  write("out.json", "old\n");
  const Result r = run("logistic " + data_file("pima_tr.csv") + " --label y --format json --out out.json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "");
  const std::string json = read("out.json");
  EXPECT_TRUE(contains(json, "\"results\"")) << json;
  EXPECT_TRUE(contains(json, "\"converged\": true")) << json;
  EXPECT_TRUE(contains(json, "\"term\": \"(intercept)\"")) << json;
  EXPECT_EQ(listing(), std::vector<std::string>{"out.json"});
}

TEST_F(CliLogistic, NoIntercept) {
  const Result r = run("logistic " + data_file("pima_tr.csv") + " --label y --no-intercept");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  EXPECT_EQ(t.row("(intercept)"), nullptr) << r.out;
  ASSERT_EQ(t.rows.size(), 7u) << r.out;
  EXPECT_EQ(t.rows[0][0], "npreg");
}

TEST_F(CliLogistic, FeaturesAndWeight) {
  const Result r = run("logistic " + data_file("pima_weighted.csv") + " --label y --weight w");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  EXPECT_EQ(t.row("w"), nullptr) << "the weight column is not a feature\n" << r.out;
  const auto ref = read_reference("ref_logistic_pima_weighted.csv");
  EXPECT_NEAR(t.number("glu", "estimate"), ref.at("glu"), 1e-6);
  const Result some = run("logistic " + data_file("pima_tr.csv") + " --label y --features glu,bmi");
  ASSERT_EQ(some.exit_code, 0) << some;
  const Table ts = parse_csv(some.out);
  ASSERT_EQ(ts.rows.size(), 3u) << some.out;
  EXPECT_EQ(ts.rows[1][0], "glu");
  EXPECT_EQ(ts.rows[2][0], "bmi");
}

TEST_F(CliLogistic, LibsvmInput) {
  std::string text;
  int k = 0;
  for (const auto& r : labeled_rows(60, 21)) {
    const char* label = (k % 3 == 0) ? (r.y ? "+1" : "-1") : (r.y ? "1" : (k % 2 ? "-1" : "0"));
    text += std::string(label) + " 1:" + fmt(r.x1) + (k % 4 ? " 2:" + fmt(r.x2) : std::string()) + " 3:" +
            fmt(std::cos(3.0 * k)) + (k % 5 == 0 ? " # a comment" : "") + "\n";
    ++k;
  }
  write("in.svm", text);
  const Result r = run("logistic in.svm");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table t = parse_csv(r.out);
  ASSERT_EQ(t.rows.size(), 4u) << r.out;
  EXPECT_EQ(t.rows[0][0], "(intercept)");
  EXPECT_EQ(t.rows[1][0], "1");
  EXPECT_EQ(t.rows[2][0], "2");
  EXPECT_EQ(t.rows[3][0], "3");
  EXPECT_GT(t.number("1", "estimate"), 0.0);  // the true coefficient of x1 is +1
  // The same file under other names and with --input-format.
  write("in.libsvm", text);
  write("in.txt", text);
  EXPECT_EQ(run("logistic in.libsvm").out, r.out);
  EXPECT_EQ(run("logistic in.txt --input-format libsvm").out, r.out);
  const Result no_int = run("logistic in.svm --no-intercept");
  ASSERT_EQ(no_int.exit_code, 0) << no_int;
  EXPECT_EQ(parse_csv(no_int.out).row("(intercept)"), nullptr);
}

TEST_F(CliLogistic, LibsvmCommentsMayHoldAnyText) {
  // svmlight allows "# info" after the features, with any text in it (commas included).
  std::string plain, commented;
  int k = 0;
  for (const auto& r : labeled_rows(40, 33)) {
    const std::string line = std::to_string(r.y) + " 1:" + fmt(r.x1) + " 2:" + fmt(r.x2);
    plain += line + "\n";
    commented += line + (k % 3 == 0 ? " # doc " + std::to_string(k) + ", source: \"web\"; ok" : "") + "\n";
    ++k;
  }
  write("plain.svm", plain);
  write("commented.svm", commented);
  const Result a = run("logistic plain.svm");
  ASSERT_EQ(a.exit_code, 0) << a;
  const Result b = run("logistic commented.svm");
  EXPECT_EQ(b.exit_code, 0) << b;
  EXPECT_EQ(b.out, a.out);
}


// =========================================================================================
// Uncertainty: robust and cluster SEs, quasi-variances, Wald intervals, scales, saved models.

TEST_F(CliFit, RobustClusterQuasiVariancesAndIntervals) {
  const Result r = run("fit " + data_file("baseball_cluster.csv") +
                       " --count count --cluster cluster --quasi-variances --ci 0.9 --tolerance 1e-12");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "item,strength,se,elo,elo_se,wins,losses,ties,games,rank,robust_se,quasi_var,quasi_se,ci_lo,ci_hi");
  const Table t = parse_csv(r.out);
  const Table cluster = parse_csv(read_file(kData + "/ref_cluster_bt_baseball.csv"));
  const Table qv = parse_csv(read_file(kData + "/ref_qv_baseball.csv"));
  ASSERT_EQ(cluster.rows.size(), 7u);
  const double z = 1.6448536269514722;  // 90%
  for (const auto& row : cluster.rows) {
    const std::string& item = row[0];
    const double se = t.number(item, "robust_se"), ref = std::strtod(row[2].c_str(), nullptr);
    EXPECT_LT(std::fabs(se - ref) / ref, 1e-6) << item << " robust_se " << se << " vs " << ref;
    const double q = t.number(item, "quasi_var"), q_ref = qv.number(item, "quasi_var");
    EXPECT_LT(std::fabs(q - q_ref) / q_ref, 1e-6) << item << " quasi_var " << q << " vs " << q_ref;
    EXPECT_NEAR(t.number(item, "ci_lo"), t.number(item, "strength") - z * se, 1e-12);
    EXPECT_NEAR(t.number(item, "ci_hi"), t.number(item, "strength") + z * se, 1e-12);
  }
  EXPECT_TRUE(contains(r.err, "17 clusters")) << r.err;
  EXPECT_TRUE(contains(r.err, "90% Wald, from the robust standard errors")) << r.err;
  // Without --ci, --robust or --quasi-variances the table is as before.
  const Result plain = run("fit " + data_file("baseball.csv") + " --count count");
  EXPECT_EQ(plain.out.substr(0, plain.out.find('\n')), "item,strength,se,elo,elo_se,wins,losses,ties,games,rank");
  // HC0 on the aggregated counts: each counted game is one unit.
  const Result hc0 = run("fit " + data_file("baseball.csv") + " --count count --robust --tolerance 1e-12");
  ASSERT_EQ(hc0.exit_code, 0) << hc0;
  const Table h = parse_csv(hc0.out);
  for (const auto& row : parse_csv(read_file(kData + "/ref_robust_bt_baseball.csv")).rows) {
    const double ref = std::strtod(row[2].c_str(), nullptr);
    EXPECT_LT(std::fabs(h.number(row[0], "robust_se") - ref) / ref, 1e-6) << row[0];
  }
  EXPECT_TRUE(contains(hc0.err, "HC0")) << hc0.err;
}

TEST_F(CliLogistic, RobustAndClusterSe) {
  const Result r = run("logistic " + data_file("pima_cluster.csv") +
                       " --label y --weight w --cluster cluster --tolerance 1e-12 --format json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_FALSE(contains(r.out, "\"term\": \"cluster\"")) << "the cluster column is not a feature\n" << r.out;
  for (const auto& row : parse_csv(read_file(kData + "/ref_cluster_logistic_pima_weighted.csv")).rows) {
    const std::string key = "{\"term\": \"" + row[0] + "\"";
    const auto at = r.out.find(key);
    ASSERT_NE(at, std::string::npos) << row[0];
    const auto se_at = r.out.find("\"robust_se\": ", at);
    ASSERT_NE(se_at, std::string::npos) << r.out;
    const double se = std::strtod(r.out.c_str() + se_at + 13, nullptr), ref = std::strtod(row[2].c_str(), nullptr);
    EXPECT_LT(std::fabs(se - ref) / ref, 1e-6) << row[0] << ": " << se << " vs " << ref;
  }
  const Result hc0 = run("logistic " + data_file("pima_tr.csv") + " --label y --robust --tolerance 1e-12");
  ASSERT_EQ(hc0.exit_code, 0) << hc0;
  EXPECT_EQ(hc0.out.substr(0, hc0.out.find('\n')), "term,estimate,se,z,p_value,robust_se");
  const Table t = parse_csv(hc0.out);
  for (const auto& row : parse_csv(read_file(kData + "/ref_robust_logistic_pima.csv")).rows) {
    const double ref = std::strtod(row[2].c_str(), nullptr);
    EXPECT_LT(std::fabs(t.number(row[0], "robust_se") - ref) / ref, 1e-6) << row[0];
  }
  // A cluster column that is not there is named.
  expect_input_error("logistic " + data_file("pima_tr.csv") + " --label y --cluster judge", {"judge", "--cluster"});
}

TEST_F(CliFit, ScaleWorthAndEloTransformEstimateSeAndInterval) {
  const Result base = run("fit " + data_file("baseball.csv") + " --count count --ci 0.95 --tolerance 1e-12");
  ASSERT_EQ(base.exit_code, 0) << base;
  const Table s = parse_csv(base.out);
  const Result worth = run("fit " + data_file("baseball.csv") + " --count count --ci 0.95 --scale worth --tolerance 1e-12");
  ASSERT_EQ(worth.exit_code, 0) << worth;
  const Table w = parse_csv(worth.out);
  const Result elo = run("fit " + data_file("baseball.csv") +
                         " --count count --ci 0.95 --scale elo --elo-anchor Milwaukee=1500 --tolerance 1e-12");
  ASSERT_EQ(elo.exit_code, 0) << elo;
  const Table e = parse_csv(elo.out);
  const double k = 400.0 / std::log(10.0);
  const double offset = 1500.0 - k * s.number("Milwaukee", "strength");
  for (const auto& row : s.rows) {
    const std::string& item = row[0];
    const double st = s.number(item, "strength"), se = s.number(item, "se");
    EXPECT_NEAR(w.number(item, "strength"), std::exp(st), 1e-12);
    EXPECT_NEAR(w.number(item, "se"), std::exp(st) * se, 1e-12);  // delta method
    EXPECT_NEAR(w.number(item, "ci_lo"), std::exp(s.number(item, "ci_lo")), 1e-12);  // endpoints transformed
    EXPECT_NEAR(w.number(item, "ci_hi"), std::exp(s.number(item, "ci_hi")), 1e-12);
    EXPECT_NEAR(e.number(item, "strength"), offset + k * st, 1e-9);
    EXPECT_NEAR(e.number(item, "se"), k * se, 1e-9);
    EXPECT_NEAR(e.number(item, "ci_lo"), offset + k * s.number(item, "ci_lo"), 1e-9);
  }
  EXPECT_NEAR(e.number("Milwaukee", "strength"), 1500.0, 1e-9);
  expect_input_error("fit " + data_file("baseball.csv") + " --count count --ci 1.5", {"(0, 1)"});
}

TEST_F(CliFit, SaveModelAndPredictPairs) {
  const Result fit = run("fit " + data_file("baseball.csv") + " --count count --save-model bb.model");
  ASSERT_EQ(fit.exit_code, 0) << fit;
  ASSERT_TRUE(exists("bb.model"));
  EXPECT_EQ(read("bb.model").rfind("btfit-model 1\n", 0), 0u);
  const Table t = parse_csv(fit.out);
  write("pairs.csv", "home_team;away_team\nMilwaukee;Baltimore\nBaltimore;Milwaukee\n\"New York\";Toronto\n");
  const Result r = run("predict bb.model --pairs pairs.csv --a home_team --b away_team --ci 0.9");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "a,b,p,p_lo,p_hi");
  const Table p = parse_csv(r.out);
  ASSERT_EQ(p.rows.size(), 3u) << r.out;
  for (const auto& row : p.rows) {
    const double eta = t.number(row[0], "strength") - t.number(row[1], "strength");
    const double prob = std::strtod(row[2].c_str(), nullptr), lo = std::strtod(row[3].c_str(), nullptr),
                 hi = std::strtod(row[4].c_str(), nullptr);
    EXPECT_NEAR(prob, 1.0 / (1.0 + std::exp(-eta)), 1e-15) << row[0] << " vs " << row[1];
    EXPECT_LT(lo, prob);
    EXPECT_GT(hi, prob);
    EXPECT_GT(lo, 0.0);
    EXPECT_LT(hi, 1.0);
  }
  EXPECT_NEAR(std::strtod(p.rows[0][2].c_str(), nullptr) + std::strtod(p.rows[1][2].c_str(), nullptr), 1.0, 1e-15);
  // With a home advantage: a plays at home.
  const Result home = run("fit " + data_file("baseball_games.csv") +
                          " --a home --b away --outcome outcome --home-advantage --save-model home.model");
  ASSERT_EQ(home.exit_code, 0) << home;
  const Table th = parse_csv(home.out);
  write("ab.csv", "a,b\nDetroit,Boston\n");
  const Result rh = run("predict home.model --pairs ab.csv --home");
  ASSERT_EQ(rh.exit_code, 0) << rh;
  const double eta = th.number("Detroit", "strength") - th.number("Boston", "strength") + th.number("(home)", "strength");
  EXPECT_NEAR(parse_csv(rh.out).number("Detroit", "p"), 1.0 / (1.0 + std::exp(-eta)), 1e-15);
  // --home on a model without home advantage, an unknown item: exit 1, named.
  expect_input_error("predict bb.model --pairs ab.csv --home", {"home advantage"});
  write("unknown.csv", "a,b\nDetroit,Boston\nDetroit,Chicago\n");
  expect_input_error("predict bb.model --pairs unknown.csv", {"unknown.csv:3:2", "Chicago", "not in the model"});
}

TEST_F(CliLogistic, SaveModelAndPredictRows) {
  const Result fit = run("logistic " + data_file("pima_tr.csv") + " --label y --save-model pima.model");
  ASSERT_EQ(fit.exit_code, 0) << fit;
  const Table t = parse_csv(fit.out);
  // Columns in another order, an extra column, no label: matched by name.
  write("rows.csv", "age,extra,ped,bmi,skin,bp,glu,npreg\n24,x,0.364,30.2,28,68,86,5\n55,y,0.163,25.1,33,70,195,7\n");
  const Result r = run("predict pima.model --rows rows.csv");
  ASSERT_EQ(r.exit_code, 0) << r;
  const Table p = parse_csv(r.out);
  ASSERT_EQ(p.header, (std::vector<std::string>{"p", "p_lo", "p_hi"}));
  ASSERT_EQ(p.rows.size(), 2u);
  const double x[] = {5, 86, 68, 28, 30.2, 0.364, 24};
  const char* names[] = {"npreg", "glu", "bp", "skin", "bmi", "ped", "age"};
  double eta = t.number("(intercept)", "estimate");
  for (int j = 0; j < 7; ++j) eta += x[j] * t.number(names[j], "estimate");
  const double prob = std::strtod(p.rows[0][0].c_str(), nullptr);
  EXPECT_NEAR(prob, 1.0 / (1.0 + std::exp(-eta)), 1e-13);
  EXPECT_LT(std::strtod(p.rows[0][1].c_str(), nullptr), prob);
  EXPECT_GT(std::strtod(p.rows[0][2].c_str(), nullptr), prob);
  // A missing feature column and a BT-only option on a logistic model: exit 1, named.
  write("short.csv", "npreg,glu\n1,2\n");
  expect_input_error("predict pima.model --rows short.csv", {"short.csv", "bp"});
  expect_input_error("predict pima.model --pairs short.csv", {"Bradley-Terry"});
}

TEST_F(CliFit, PredictRefusesWrongCorruptOrOtherVersionModels) {
  ASSERT_EQ(run("fit " + data_file("baseball.csv") + " --count count --save-model good.model").exit_code, 0);
  const std::string good = read("good.model");
  write("pairs.csv", "a,b\nDetroit,Boston\n");
  // Not a model at all.
  expect_input_error("predict " + data_file("baseball.csv") + " --pairs pairs.csv", {"not a btfit model file"});
  // Another version.
  std::string v9 = good;
  v9.replace(0, 13, "btfit-model 9");
  write("v9.model", v9);
  expect_input_error("predict v9.model --pairs pairs.csv", {"v9.model", "version 9", "version 1"});
  // One digit changed.
  std::string flipped = good;
  const auto at = flipped.find("param \"Detroit\" ") + 18;  // a digit after "0."
  flipped[at] = flipped[at] == '3' ? '4' : '3';
  write("flipped.model", flipped);
  expect_input_error("predict flipped.model --pairs pairs.csv", {"flipped.model", "checksum"});
  // Cut short.
  write("short.model", good.substr(0, good.size() / 2));
  expect_input_error("predict short.model --pairs pairs.csv", {"short.model", "truncated"});
  // Missing file; neither or both of --pairs and --rows.
  expect_input_error("predict none.model --pairs pairs.csv", {"none.model"});
  expect_input_error("predict good.model", {"--pairs", "--rows"});
}

// =========================================================================================
// Loading: JSON lines, the binary cache, --quiet.

TEST_F(CliFit, JsonLinesGiveWhatTheCsvGives) {
  write("battles.jsonl",
        "{\"question_id\": 1, \"model_a\": \"gpt\", \"model_b\": \"claude\", \"winner\": \"model_a\", "
        "\"conv\": [{\"role\": \"user\", \"content\": \"a \\\"quote\\\", {braces} and \\u00e9\"}]}\n"
        "{\"model_a\": \"claude\", \"model_b\": \"gpt\", \"winner\": \"model_a\", \"judge\": null}\n"
        "{\"model_a\": \"gpt\", \"model_b\": \"llama\", \"winner\": \"tie\", \"anony\": true}\n"
        "{\"model_a\": \"llama\", \"model_b\": \"claude\", \"winner\": \"tie (bothbad)\"}\n"
        "{\"model_a\": \"claude\", \"model_b\": \"llama\", \"winner\": \"model_b\", \"tstamp\": 1.7e9}\n"
        "{\"model_a\": \"llama\", \"model_b\": \"gpt\", \"winner\": \"model_a\"}\n"
        "{\"model_a\": \"gpt\", \"model_b\": \"claude\", \"winner\": \"tie (bothbad)\"}\n");
  write("battles.csv",
        "model_a,model_b,winner\ngpt,claude,model_a\nclaude,gpt,model_a\ngpt,llama,tie\nllama,claude,tie (bothbad)\n"
        "claude,llama,model_b\nllama,gpt,model_a\ngpt,claude,tie (bothbad)\n");
  const Result jsonl = run("fit battles.jsonl");
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl;
  const Result csv = run("fit battles.csv --a model_a --b model_b --outcome winner");
  ASSERT_EQ(csv.exit_code, 0) << csv;
  EXPECT_EQ(jsonl.out, csv.out);
  // --input-format for another extension, and from standard input.
  write("battles.txt", read("battles.jsonl"));
  EXPECT_EQ(run("fit battles.txt --input-format jsonl").out, csv.out);
  EXPECT_EQ(run("fit - --input-format jsonl", read("battles.jsonl")).out, csv.out);
}

TEST_F(CliBadInput, JsonLinesErrorsNameLineAndColumn) {
  write("in.jsonl", "{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"model_a\"}\n"
                    "{\"model_a\": \"y\", \"model_b\": \"x\", \"winner\": \"model_c\"}\n");
  expect_input_error("fit in.jsonl", {"in.jsonl:2:44:", "model_c"});
  write("syntax.jsonl", "{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"model_a\"}\n\n{\"model_a\": \"x\",, }\n");
  expect_input_error("fit syntax.jsonl", {"syntax.jsonl:3:17:"});
}

TEST_F(CliFit, ConvertThenFitFromTheCache) {
  const Result csv = run("fit " + data_file("baseball.csv") + " --count count");
  ASSERT_EQ(csv.exit_code, 0) << csv;
  const Result convert = run("convert " + data_file("baseball.csv") + " --count count --out baseball.btf");
  ASSERT_EQ(convert.exit_code, 0) << convert;
  EXPECT_TRUE(contains(convert.err, "42 comparisons among 7 items")) << convert;
  EXPECT_EQ(listing(), std::vector<std::string>{"baseball.btf"}) << "temporary files left behind";
  const Result cached = run("fit baseball.btf");
  ASSERT_EQ(cached.exit_code, 0) << cached;
  EXPECT_EQ(cached.out, csv.out);
  EXPECT_EQ(run("fit baseball.btf --count count").out, csv.out) << "the options it was converted with";
  EXPECT_EQ(run("check baseball.btf").exit_code, 0);
  // Home advantage and JSON lines go through the cache too.
  const Result home = run("fit " + data_file("baseball_games.csv") + " --a home --b away --outcome outcome --home-advantage");
  ASSERT_EQ(home.exit_code, 0) << home;
  ASSERT_EQ(run("convert " + data_file("baseball_games.csv") +
                " --a home --b away --outcome outcome --home-advantage --out games.btf").exit_code, 0);
  EXPECT_EQ(run("fit games.btf --a home --b away --outcome outcome --home-advantage").out, home.out);
}

TEST_F(CliBadInput, StaleCorruptTruncatedOrMismatchedCache) {
  write("in.csv", kGoodComparisons);
  ASSERT_EQ(run("convert in.csv --count count --out in.btf").exit_code, 0);
  const std::string good = read("in.btf");
  expect_input_error("fit in.btf --count other", {"in.btf", "--count count"});
  expect_input_error("fit in.btf --a winner --b loser --outcome count --home-advantage", {"in.btf"});
  write("cut.btf", good.substr(0, good.size() - 3));
  expect_input_error("fit cut.btf", {"cut.btf", "truncated"});
  std::string flipped = good;
  flipped[flipped.size() - 20] = static_cast<char>(flipped[flipped.size() - 20] ^ 4);
  write("flipped.btf", flipped);
  expect_input_error("fit flipped.btf", {"flipped.btf", "corrupt"});
  std::string version = good;
  version[8] = 9;
  write("version.btf", version);
  expect_input_error("fit version.btf", {"version.btf", "version 9"});
  write("in.csv", kGoodComparisons + "A,C,4\n");  // the source changed
  expect_input_error("fit in.btf", {"in.btf", "stale", "in.csv"});
}

TEST_F(CliUsage, QuietSilencesTheSummary) {
  const Result loud = run("fit " + data_file("baseball.csv") + " --count count");
  ASSERT_EQ(loud.exit_code, 0) << loud;
  EXPECT_NE(loud.err, "");
  EXPECT_FALSE(contains(loud.err, "btfit: reading")) << "progress only when stderr is a terminal\n" << loud;
  const Result quiet = run("fit " + data_file("baseball.csv") + " --count count --quiet");
  ASSERT_EQ(quiet.exit_code, 0) << quiet;
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(quiet.out, loud.out);
  const Result logistic = run("logistic " + data_file("pima_tr.csv") + " --label y --quiet");
  ASSERT_EQ(logistic.exit_code, 0) << logistic;
  EXPECT_EQ(logistic.err, "");
  const Result convert = run("convert " + data_file("baseball.csv") + " --count count --out b.btf --quiet");
  ASSERT_EQ(convert.exit_code, 0) << convert;
  EXPECT_EQ(convert.err, "");
  EXPECT_EQ(run("simulate comparisons --items 5 --comparisons 50 --out s.csv --quiet").exit_code, 0);
  EXPECT_EQ(run("check " + data_file("baseball.csv") + " --count count --quiet").exit_code, 0);
  // Errors still say what went wrong.
  const Result bad = run("fit nosuch.csv --quiet");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(contains(bad.err, "nosuch.csv")) << bad;
}

}  // namespace
