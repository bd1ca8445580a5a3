// Loading at scale: the parallel reader against the streaming one (same ids, same order, same
// errors with the same physical lines), gzip and zstd input, JSON lines, the binary cache, and
// the item dictionary. Files are written to a fresh temporary directory per test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "btfit/btfit.h"
#include "checksum.h"
#include "csv.h"
#include "decompress.h"
#include "interner.h"
#include "parallel_load.h"

#if defined(BTFIT_WITH_ZLIB)
#include <zlib.h>
#endif
#if defined(BTFIT_WITH_ZSTD)
#include <zstd.h>
#endif

namespace btfit {
namespace {

namespace fs = std::filesystem;

class Loading : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "btfit_load_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream out(path(name), std::ios::binary);
    out << content;
    return path(name);
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

using ParallelLoading = Loading;
using CompressedInput = Loading;
using JsonLines = Loading;
using Cache = Loading;

void expect_same(const Comparisons& x, const Comparisons& y, const std::string& what) {
  EXPECT_EQ(x.item_names, y.item_names) << what;
  EXPECT_EQ(x.a, y.a) << what;
  EXPECT_EQ(x.b, y.b) << what;
  EXPECT_EQ(x.outcome2, y.outcome2) << what;
  EXPECT_EQ(x.weight, y.weight) << what;
  EXPECT_EQ(x.at_home, y.at_home) << what;
  EXPECT_EQ(x.cluster, y.cluster) << what;
}

void expect_same(const Rows& x, const Rows& y, const std::string& what) {
  EXPECT_EQ(x.n_rows, y.n_rows) << what;
  EXPECT_EQ(x.n_features, y.n_features) << what;
  EXPECT_EQ(x.feature_names, y.feature_names) << what;
  EXPECT_EQ(x.sparse, y.sparse) << what;
  EXPECT_EQ(x.dense, y.dense) << what;
  EXPECT_EQ(x.row_ptr, y.row_ptr) << what;
  EXPECT_EQ(x.col, y.col) << what;
  EXPECT_EQ(x.val, y.val) << what;
  EXPECT_EQ(x.label, y.label) << what;
  EXPECT_EQ(x.weight, y.weight) << what;
  EXPECT_EQ(x.cluster, y.cluster) << what;
}

LoadOptions one_thread() {
  LoadOptions o;
  o.threads = 1;
  return o;
}

LoadOptions chunks_of(std::size_t bytes, int threads = 3) {
  LoadOptions o;
  o.threads = threads;
  o.chunk_bytes = bytes;
  return o;
}

// Chunks smaller than a line leave some empty; the largest is one chunk per thread or so.
const std::vector<std::size_t> kChunkSizes = {5, 61, 500, 4096, 1 << 16};

// A home,away,result,count,neutral,game file with CRLF line ends, blank lines, spaces around
// names, long names that share their first 24 bytes, zero counts (some naming items seen
// nowhere else) and, with `quotes`, quoted names holding delimiters, doubled quotes and line
// breaks. Returns the text and the number of physical lines.
std::string messy_comparisons(int n, std::uint32_t seed, bool quotes, std::size_t* lines = nullptr) {
  std::mt19937 rng(seed);
  std::string text = "home,away,result,count,neutral,game\r\n";
  std::size_t line = 1;
  const char* results[] = {"a", "b", "tie", "1", "0", "0.5", "model_a", "model_b", "tie (bothbad)"};
  auto name = [&](int k) {
    const int kind = static_cast<int>(rng() % 20);
    if (k % 7 == 0) return "a rather long item name that shares its start #" + std::to_string(k);
    if (quotes && kind == 0) return "\"team, " + std::to_string(k) + "\"";
    if (quotes && kind == 1) return "\"the \"\"" + std::to_string(k) + "\"\"\"";
    if (quotes && kind == 2) {
      line += 1;
      return "\"multi\r\nline " + std::to_string(k) + "\"";
    }
    if (kind == 3) return " team" + std::to_string(k) + " ";
    return "team" + std::to_string(k);
  };
  for (int r = 0; r < n; ++r) {
    const int x = static_cast<int>(rng() % 150);
    int y = static_cast<int>(rng() % 150);
    if (y == x) y = (x + 1) % 150;
    const int count_kind = static_cast<int>(rng() % 10);
    const std::string count = count_kind == 0 ? "0" : count_kind == 1 ? "2.5" : "1";
    const bool ghost = count == "0" && rng() % 2 == 0;
    const std::string home =
        ghost ? "ghost" + std::to_string(r) : name(x);  // a ghost: only in a zero-count row
    const std::string away = name(y);
    text += home + "," + away + "," + results[rng() % 9] + "," + count + "," + (rng() % 5 == 0 ? "1" : "0") +
            ",g" + std::to_string(rng() % 40) + "\r\n";
    line += 1;
    if (rng() % 50 == 0) {
      text += "\r\n";  // a blank line
      line += 1;
    }
  }
  if (lines) *lines = line;
  return text;
}

ComparisonColumns messy_columns(const LoadOptions& load) {
  ComparisonColumns c;
  c.a = "home";
  c.b = "away";
  c.outcome = "result";
  c.count = "count";
  c.neutral = "neutral";
  c.home_flags = true;
  c.cluster = "game";
  c.load = load;
  return c;
}

// =========================================================================================
// Parallel parsing gives what the streaming reader gives.

// parse_double takes a fast path (Clinger's) for short decimals; whatever it accepts must be
// the very double std::from_chars gives, and it must refuse what from_chars refuses.
TEST(ParseDouble, SameBitsAsFromChars) {
  std::mt19937_64 rng(5);
  auto digits = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + rng() % 10);
    return s;
  };
  std::vector<std::string> texts = {"0", "-0", "1", "0.5", ".5", "5.", "-.25", "1e5", "1E-5", "2.5e+3", "1e22",
                                    "1e23", "1e-22", "1e-23", "9007199254740992", "9007199254740993",
                                    "12345678901234567890", "0.1", "0.3", "123.456e-7", "4.9e-324", "1.7976931348623157e308",
                                    "1e400", "inf", "nan", "-inf", "", "-", ".", "e5", "1e", "1e+", "1.2.3", "1,5",
                                    "0x10", "--1", "1-", "00000000000000000000001.5", "7.0000000000000000001"};
  for (int k = 0; k < 200000; ++k) {
    std::string t;
    if (rng() % 4 == 0) t += '-';
    t += digits(static_cast<int>(rng() % 12));
    if (rng() % 3 != 0) t += "." + digits(static_cast<int>(rng() % 12));
    if (rng() % 5 == 0) t += (rng() % 2 ? "e" : "E") + std::string(rng() % 2 ? "-" : "") + digits(1 + static_cast<int>(rng() % 3));
    texts.push_back(t);
  }
  std::size_t accepted = 0;
  for (const auto& t : texts) {
    double fast = 0.0, reference = 0.0;
    const bool ok = parse_double(t, &fast);
    const auto r = std::from_chars(t.data(), t.data() + t.size(), reference);
    const bool ok_reference = !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size();
    ASSERT_EQ(ok, ok_reference) << t;
    if (!ok) continue;
    ++accepted;
    ASSERT_EQ(std::memcmp(&fast, &reference, sizeof fast), 0) << t << ": " << fast << " vs " << reference;
  }
  EXPECT_GT(accepted, 150000u);
}

// parse_short_decimal (the fast path of dense rows) gives parse_double's double or refuses.
TEST(ParseDouble, ShortDecimalsAgreeWithParseDouble) {
  std::mt19937_64 rng(9);
  std::size_t taken = 0;
  for (int k = 0; k < 200000; ++k) {
    std::string t = rng() % 2 ? "-" : "";
    for (int i = 0, n = 1 + static_cast<int>(rng() % 9); i < n; ++i) t += static_cast<char>('0' + rng() % 10);
    if (rng() % 4 != 0) {
      t += '.';
      for (int i = 0, n = static_cast<int>(rng() % 9); i < n; ++i) t += static_cast<char>('0' + rng() % 10);
    }
    if (rng() % 10 == 0) t += "e-3";
    const std::string text = t + (rng() % 2 ? ",0.5,1\n" : "\t        ");
    double fast = 0.0, reference = 0.0;
    const char* end = parse_short_decimal(text.data(), text.data() + text.size(), &fast);
    if (end == nullptr) continue;
    ++taken;
    ASSERT_EQ(static_cast<std::size_t>(end - text.data()), t.size()) << text;
    ASSERT_TRUE(parse_double(t, &reference)) << t;
    ASSERT_EQ(std::memcmp(&fast, &reference, sizeof fast), 0) << t;
  }
  EXPECT_GT(taken, 50000u);
  double v = 0.0;
  EXPECT_EQ(parse_short_decimal("1.5", "1.5" + 3, &v), nullptr);  // within 8 bytes of the end
}

// Dense rows in every number form the slow path accepts (exponents, '+', spaces, quotes,
// long digit strings, values at the line end) load as std::from_chars reads them, one
// thread and several.
TEST_F(Loading, DenseRowsInEveryNumberFormLoadExactly) {
  const std::vector<std::string> forms = {"0.25",      "-1.5",        "+2",          " 3.75 ",    "1e-3",
                                          "-2.5E+2",   "12345678.5",  "0.123456789", "7",         "\"4.5\"",
                                          "-0",        "1234567.125", "0.0000001",   ".5",        "5.",
                                          "9007199254740993", "-0.30000000000000004"};
  std::string csv = "x1,x2,label,x3,w\n";
  std::vector<std::vector<std::string>> cells;
  std::mt19937_64 rng(3);
  for (int r = 0; r < 3000; ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < 3; ++c) row.push_back(forms[rng() % forms.size()]);
    csv += row[0] + "," + row[1] + "," + (r % 2 ? "1" : "0.0") + "," + row[2] + "," + (r % 7 == 0 ? "2.5" : "1") + "\n";
    cells.push_back(row);
  }
  const std::string file = write("dense.csv", csv);
  auto number = [](std::string text) {
    if (text.front() == '"') text = text.substr(1, text.size() - 2);
    while (text.front() == ' ') text.erase(0, 1);
    while (text.back() == ' ') text.pop_back();
    if (text.front() == '+') text.erase(0, 1);
    double v = 0.0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
  };
  for (int threads : {1, 3}) {
    RowColumns columns;
    columns.label = "label";
    columns.weight = "w";
    columns.load.threads = threads;
    columns.load.chunk_bytes = 4096;
    const Rows rows = load_rows(file, columns);
    ASSERT_EQ(rows.n_rows, cells.size());
    ASSERT_EQ(rows.n_features, 3u);
    for (std::size_t r = 0; r < cells.size(); ++r) {
      for (std::size_t c = 0; c < 3; ++c) {
        const double expected = number(cells[r][c]), got = rows.dense[r * 3 + c];
        ASSERT_EQ(std::memcmp(&expected, &got, sizeof got), 0) << "row " << r << " column " << c << ": " << cells[r][c];
      }
      EXPECT_EQ(rows.label[r], r % 2 ? 1.0 : 0.0);
      EXPECT_EQ(rows.w(r), r % 7 == 0 ? 2.5 : 1.0);
    }
  }
}

// Two-column files take a fast path (a line cut at its one delimiter); every line it does
// not take goes the general way, with the general messages. Columns in either order, spaces
// around names, quoted names and bad lines after the first.
TEST_F(Loading, TwoColumnFilesReadAsTheGeneralPath) {
  const std::string good = write("two.csv", "loser,winner\nb,a\n c , a\n\"d, e\",b\nc,\"a\"\r\nb,c\n");
  ComparisonColumns columns;
  columns.load.threads = 1;
  const Comparisons data = load_comparisons(good, columns);
  ASSERT_EQ(data.size(), 5u);
  const std::vector<std::string> names = {"a", "b", "c", "d, e"};
  ASSERT_EQ(data.item_names, names);
  const std::vector<std::uint32_t> winners = {0, 0, 1, 0, 2}, losers = {1, 2, 3, 2, 1};
  EXPECT_EQ(data.a, winners);
  EXPECT_EQ(data.b, losers);
  for (auto y2 : data.outcome2) EXPECT_EQ(y2, 2);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"winner,loser\na,b\nc,c\n", "bad1.csv:3:2: self-comparison"},
      {"winner,loser\na,b\n,c\n", "bad2.csv:3:1: column \"winner\": empty item name"},
      {"winner,loser\na,b\nc, \n", "bad3.csv:3:2: column \"loser\": empty item name"},
      {"winner,loser\na,b\nc,d,e\n", "bad4.csv:3"}};
  for (const auto& [content, expected] : bad) {
    const std::string name = expected.substr(0, expected.find(':'));
    try {
      load_comparisons(write(name, content), columns);
      ADD_FAILURE() << name << " loaded";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

TEST_F(ParallelLoading, ComparisonsMatchTheStreamingReader) {
  for (bool quotes : {false, true}) {
    const std::string file = write("in.csv", messy_comparisons(3000, quotes ? 5 : 6, quotes));
    const Comparisons expected = load_comparisons(file, messy_columns(one_thread()));
    ASSERT_GT(expected.size(), 2000u);
    ASSERT_FALSE(expected.cluster.empty());
    for (std::size_t bytes : kChunkSizes) {
      const Comparisons got = load_comparisons(file, messy_columns(chunks_of(bytes)));
      expect_same(expected, got, "quotes " + std::to_string(quotes) + ", chunks of " + std::to_string(bytes));
    }
  }
}

TEST_F(ParallelLoading, FitsAreByteIdentical) {
  const std::string file = write("in.csv", messy_comparisons(4000, 11, true));
  BradleyTerryOptions options;
  options.l2 = 0.5;
  options.home_advantage = true;
  options.solver.device = Device::cpu;
  const auto sequential = fit_bradley_terry(load_comparisons(file, messy_columns(one_thread())), options);
  const auto parallel = fit_bradley_terry(load_comparisons(file, messy_columns(chunks_of(333, 2))), options);
  ASSERT_EQ(sequential.status, FitStatus::converged);
  EXPECT_EQ(format_bradley_terry(sequential, OutputFormat::csv, RunInfo{}),
            format_bradley_terry(parallel, OutputFormat::csv, RunInfo{}));
}

TEST_F(ParallelLoading, RowsAndLibsvmMatchTheStreamingReader) {
  std::mt19937 rng(3);
  std::string csv = "x1,\"w\",x2,y,grp\n", svm;
  for (int r = 0; r < 2000; ++r) {
    const double x1 = static_cast<double>(rng() % 1000) / 7.0, x2 = -static_cast<double>(rng() % 100) / 3.0;
    const int y = static_cast<int>(rng() % 2);
    const std::string w = r % 17 == 0 ? "0" : std::to_string(1 + rng() % 3);
    csv += std::to_string(x1) + "," + w + "," + std::to_string(x2) + "," + std::to_string(y) + ",c" +
           std::to_string(rng() % 30) + (r % 3 ? "\n" : "\r\n");
    if (r % 11 == 0) csv += "\n";
    svm += std::string(y ? "+1" : "-1") + " 1:" + std::to_string(x1) +
           (r % 4 ? " 3:" + std::to_string(x2) : "") + (r % 5 == 0 ? " # comment, with text" : "") + "\n";
    if (r % 13 == 0) svm += "# a comment line\n";
  }
  const std::string csv_file = write("rows.csv", csv), svm_file = write("rows.svm", svm);
  RowColumns columns;
  columns.label = "y";
  columns.weight = "w";
  columns.cluster = "grp";
  columns.load = one_thread();
  const Rows expected = load_rows(csv_file, columns);
  RowColumns libsvm;
  libsvm.load = one_thread();
  const Rows expected_svm = load_rows(svm_file, libsvm);
  for (std::size_t bytes : kChunkSizes) {
    columns.load = chunks_of(bytes);
    expect_same(expected, load_rows(csv_file, columns), "csv, chunks of " + std::to_string(bytes));
    libsvm.load = chunks_of(bytes);
    expect_same(expected_svm, load_rows(svm_file, libsvm), "libsvm, chunks of " + std::to_string(bytes));
  }
}

// Loads `file` with one thread and in chunks of each size, and expects the same InputError.
template <typename Load>
void expect_same_error(const Load& load, const std::string& expected_where) {
  std::string sequential;
  try {
    load(one_thread());
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    sequential = e.what();
  }
  EXPECT_NE(sequential.find(expected_where), std::string::npos) << sequential;
  for (std::size_t bytes : kChunkSizes) {
    try {
      load(chunks_of(bytes));
      ADD_FAILURE() << "no error with chunks of " << bytes;
    } catch (const InputError& e) {
      EXPECT_EQ(sequential, std::string(e.what())) << "chunks of " << bytes;
    }
  }
}

TEST_F(ParallelLoading, AnErrorInALateChunkNamesItsPhysicalLine) {
  for (bool quotes : {false, true}) {
    std::size_t lines = 0;
    std::string text = messy_comparisons(3000, 21, quotes, &lines);
    text += "x,y,a,-3,0,g1\r\n";  // the last line: a negative count
    const std::string file = write("in.csv", text);
    expect_same_error([&](const LoadOptions& o) { load_comparisons(file, messy_columns(o)); },
                      "in.csv:" + std::to_string(lines + 1) + ":4: ");
  }
}

TEST_F(ParallelLoading, TheFirstErrorInFileOrderIsReported) {
  std::size_t lines = 0;
  std::string text = messy_comparisons(1000, 8, true, &lines);
  text += "x,y,maybe,1,0,g1\r\n";  // line lines + 1: a bad outcome
  text +=
      messy_comparisons(1000, 9, true).substr(std::string("home,away,result,count,neutral,game\r\n").size());
  text += "x,y,a,1,2,g1\r\n";  // a bad neutral flag, much later
  const std::string file = write("in.csv", text);
  expect_same_error([&](const LoadOptions& o) { load_comparisons(file, messy_columns(o)); },
                    "in.csv:" + std::to_string(lines + 1) + ":3: ");
}

TEST_F(ParallelLoading, QuotingErrorsMatchTheStreamingReader) {
  std::size_t lines = 0;
  const std::string good = messy_comparisons(2000, 31, true, &lines);
  // Text after a closing quote, on the line after the good ones.
  const std::string after = write("after.csv", good + "x,\"y\"z,a,1,0,g\r\n" + "x,y,a,1,0,g\r\n");
  expect_same_error([&](const LoadOptions& o) { load_comparisons(after, messy_columns(o)); },
                    "after.csv:" + std::to_string(lines + 1) + ":2: ");
  // A quote opened and never closed: every line after it is inside the field.
  const std::string open = write("open.csv", good + "x,\"y,a,1,0,g\r\n" + messy_comparisons(200, 4, false));
  expect_same_error([&](const LoadOptions& o) { load_comparisons(open, messy_columns(o)); },
                    "open.csv:" + std::to_string(lines + 1) + ":2: ");
  // A short row in a late chunk of a file with quoted line breaks.
  const std::string short_row = write("short.csv", good + "x,y,a\r\n");
  expect_same_error([&](const LoadOptions& o) { load_comparisons(short_row, messy_columns(o)); },
                    "short.csv:" + std::to_string(lines + 1) + ":4: ");
}

TEST_F(ParallelLoading, NothingAfterTheHeader) {
  const std::string zero = write("zero.csv", "winner,loser,count\nA,B,0\n\nB,A,0\n");
  for (const auto& load : {one_thread(), chunks_of(3)}) {
    ComparisonColumns c;
    c.count = "count";
    c.load = load;
    try {
      load_comparisons(zero, c);
      ADD_FAILURE() << "no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("no comparisons with positive weight"), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(ParallelLoading, ChunkPlan) {
  const std::string file = write("in.csv", "winner,loser\n" + std::string(1000, '\n'));
  CsvReader reader(file);
  reader.read_header();
  EXPECT_EQ(plan_chunks(reader, one_thread()), 1u);
  EXPECT_EQ(plan_chunks(reader, chunks_of(100)), 10u);
  EXPECT_EQ(plan_chunks(reader, LoadOptions{}), 1u) << "a small file is read by one thread";
}

// =========================================================================================
// gzip and zstd

#if defined(BTFIT_WITH_ZLIB)
std::string gzip(const std::string& text, int level = 6) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&s, text.size()) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  s.avail_in = static_cast<uInt>(text.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}
#endif

#if defined(BTFIT_WITH_ZSTD)
std::string zstd(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}
#endif

TEST_F(CompressedInput, GzipAndZstdGiveWhatTheTextGives) {
#if !defined(BTFIT_WITH_ZLIB) || !defined(BTFIT_WITH_ZSTD)
  GTEST_SKIP() << "built without zlib or libzstd: see BuiltWithoutSupportSaysSo";
#else
  // Several megabytes, so that decompression runs over many blocks.
  const std::string text = messy_comparisons(120000, 41, true);
  const std::string plain = write("in.csv", text);
  const Comparisons expected = load_comparisons(plain, messy_columns(one_thread()));
  const std::string half1 = text.substr(0, text.size() / 2), half2 = text.substr(text.size() / 2);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"in.csv.gz", gzip(text)},
      {"in.csv.zst", zstd(text)},
      {"two-members.gz", gzip(half1, 1) + gzip(half2, 9)},  // as pigz and bgzip write
      {"two-frames.zst", zstd(half1) + zstd(half2)},
      {"no-extension", gzip(text)},  // recognized by the first bytes, not the name
  };
  for (const auto& [name, bytes] : files) {
    const std::string file = write(name, bytes);
    expect_same(expected, load_comparisons(file, messy_columns(LoadOptions{})), name);
  }
  // Logistic rows and LIBSVM too.
  const std::string rows = "x1,y\n1,0\n2,1\n3,0\n4,1\n5,1\n";
  RowColumns columns;
  columns.label = "y";
  expect_same(load_rows(write("rows.csv", rows), columns),
              load_rows(write("rows.csv.gz", gzip(rows)), columns), "rows");
  const std::string svm = "1 1:0.5\n0 1:1.5 2:1\n1 2:3\n";
  expect_same(load_rows(write("r.svm", svm), RowColumns{}),
              load_rows(write("r.svm.zst", zstd(svm)), RowColumns{}), "libsvm");
#endif
}

TEST_F(CompressedInput, TruncatedAndCorruptStreamsAreErrors) {
#if !defined(BTFIT_WITH_ZLIB) || !defined(BTFIT_WITH_ZSTD)
  GTEST_SKIP() << "built without zlib or libzstd";
#else
  const std::string text = messy_comparisons(20000, 42, false);
  std::string gz = gzip(text), zs = zstd(text);
  auto error_of = [&](const std::string& name, const std::string& bytes) {
    try {
      load_comparisons(write(name, bytes), messy_columns(LoadOptions{}));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("cut.csv.gz", gz.substr(0, gz.size() / 2)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of("cut.csv.zst", zs.substr(0, zs.size() / 2)).find("truncated"), std::string::npos);
  std::string bad_gz = gz;
  for (std::size_t k = 100; k < 200; ++k) bad_gz[k] = static_cast<char>(bad_gz[k] ^ 0x5a);
  const std::string gz_error = error_of("bad.csv.gz", bad_gz);
  EXPECT_NE(gz_error.find("bad.csv.gz"), std::string::npos) << gz_error;
  EXPECT_NE(gz_error.find("gzip"), std::string::npos) << gz_error;
  std::string bad_zs = zs;
  for (std::size_t k = 100; k < 200; ++k) bad_zs[k] = static_cast<char>(bad_zs[k] ^ 0x5a);
  const std::string zs_error = error_of("bad.csv.zst", bad_zs);
  EXPECT_NE(zs_error.find("bad.csv.zst"), std::string::npos) << zs_error;
  // A line number inside the decompressed text is still exact.
  std::size_t lines = 0;
  const std::string with_error = messy_comparisons(5000, 43, true, &lines) + "x,y,a,nan,0,g\r\n";
  const std::string message = error_of("late.csv.zst", zstd(with_error));
  EXPECT_NE(message.find("late.csv.zst:" + std::to_string(lines + 1) + ":4:"), std::string::npos) << message;
#endif
}

TEST_F(CompressedInput, BuiltWithoutSupportSaysSo) {
  // The first bytes of a zstd frame and of a gzip member.
  for (const auto& [name, kind, magic] : {std::tuple<std::string, Compression, std::string>{
                                              "in.zst", Compression::zstd, "\x28\xb5\x2f\xfd\x00\x00"},
                                          {"in.gz", Compression::gzip, "\x1f\x8b\x08\x00\x00\x00"}}) {
    if (built_with_compression(kind)) continue;
    const std::string file = write(name, magic);
    try {
      load_comparisons(file, ComparisonColumns{});
      ADD_FAILURE() << name << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("built without ") + to_string(kind) + " support"),
                std::string::npos)
          << e.what();
    }
  }
  if (built_with_compression(Compression::zstd) && built_with_compression(Compression::gzip))
    GTEST_SKIP() << "built with zlib and libzstd: the refusal is checked in builds without them";
}

// =========================================================================================
// JSON lines

TEST_F(JsonLines, LmarenaRecordsGiveWhatTheCsvGives) {
  std::mt19937 rng(5);
  const char* models[] = {"gpt-4", "claude-2", "llama-2-70b", "mixtral", "a \"quoted\" model", "mod\u00e8le"};
  const char* winners[] = {"model_a", "model_b", "tie", "tie (bothbad)"};
  std::string jsonl, csv = "model_a,model_b,winner\n";
  for (int r = 0; r < 3000; ++r) {
    const int a = static_cast<int>(rng() % 6);
    const int b = (a + 1 + static_cast<int>(rng() % 5)) % 6;
    const char* w = winners[rng() % 4];
    auto json_string = [](const std::string& s) {
      std::string out = "\"";
      for (char c : s) out += c == '"' ? std::string("\\\"") : std::string(1, c);
      return out + "\"";
    };
    auto csv_field = [](const std::string& s) {
      if (s.find('"') == std::string::npos) return s;
      std::string out = "\"";
      for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
      return out + "\"";
    };
    jsonl += "{\"question_id\": \"q" + std::to_string(r) + "\", \"model_a\": " + json_string(models[a]) +
             ", \"model_b\": " + json_string(models[b]) + ", \"winner\": \"" + w +
             "\", \"judge\": \"u\", \"conv_metadata\": {\"sum_user_tokens\": 12, \"turns\": [1, [2, {\"x\": "
             "null}]]}, "
             "\"anony\": true, \"tstamp\": 1.7e9}" +
             (r % 2 ? "\r\n" : "\n");
    if (r % 97 == 0) jsonl += "   \n";
    csv += csv_field(models[a]) + "," + csv_field(models[b]) + "," + w + "\n";
  }
  ComparisonColumns columns;
  columns.a = "model_a";
  columns.b = "model_b";
  columns.outcome = "winner";
  const Comparisons expected = load_comparisons(write("battles.csv", csv), columns);
  const std::string file = write("battles.jsonl", jsonl);
  for (const auto& load : {one_thread(), chunks_of(50), chunks_of(1000), LoadOptions{}}) {
    ComparisonColumns defaults;  // LMArena's keys by default
    defaults.load = load;
    expect_same(expected, load_comparisons(file, defaults), "chunks of " + std::to_string(load.chunk_bytes));
  }
  // The same file under another name, read as JSON lines by --input-format.
  ComparisonColumns asked;
  asked.format = ComparisonFormat::jsonl;
  expect_same(expected, load_comparisons(write("battles.txt", jsonl), asked), "--input-format jsonl");
}

TEST_F(JsonLines, EscapesNumbersAndOtherKeys) {
  const std::string file =
      write("in.ndjson",
            "\xEF\xBB\xBF{\"w\": \"caf\\u00e9\", \"l\": \"a\\\"b\\\\c\", \"n\": 2, \"home\": false, "
            "\"g\": 7}\n"
            "{\"l\": \"caf\\u00e9\", \"w\": \"\\ud83d\\ude00\", \"n\": 0.5e1, \"home\": true, "
            "\"g\": \"x\"}\n"
            "{\"w\": 42, \"l\": \"a\\\"b\\\\c\", \"n\": \"3\", \"home\": 0, \"g\": 7, \"w\": \"last\"}\n"
            "{\"w\": \"z\", \"l\": \"y\", \"n\": 0, \"home\": 1, \"g\": 1}\n");
  ComparisonColumns columns;
  columns.winner = "w";
  columns.loser = "l";
  columns.count = "n";
  columns.neutral = "home";
  columns.home_flags = true;
  columns.cluster = "g";
  const Comparisons data = load_comparisons(file, columns);
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data.item_names,
            (std::vector<std::string>{"caf\xC3\xA9", "a\"b\\c", "\xF0\x9F\x98\x80", "last"}));
  EXPECT_EQ(data.weight, (std::vector<double>{2, 5, 3}));
  EXPECT_EQ(data.at_home, (std::vector<std::uint8_t>{1, 0, 1}));
  EXPECT_EQ(data.cluster, (std::vector<std::uint32_t>{0, 1, 0}));
  EXPECT_EQ(data.outcome2, (std::vector<std::uint8_t>{2, 2, 2}));
}

TEST_F(JsonLines, ErrorsNameLineAndColumn) {
  const std::string good = "{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"model_a\"}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"modelx\"}",
       ":3:44: key \"winner\": outcome \"modelx\""},
      {"{\"model_a\": \"x\", \"model_b\": \"y\" \"winner\": \"a\"}", ":3:33: expected ',' or '}'"},
      {"{\"model_a\": \"x\", \"winner\": \"a\"}", ":3:1: no key \"model_b\""},
      {"  {\"model_a\": \"x\", \"model_b\": null, \"winner\": \"a\"}",
       ":3:31: key \"model_b\": expected a string"},
      {"{\"model_a\": \"x\", \"model_b\": \"x\", \"winner\": \"a\"}", ":3:29: self-comparison"},
      {"{\"model_a\": \"\", \"model_b\": \"x\", \"winner\": \"a\"}",
       ":3:13: key \"model_a\": empty item name"},
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"a\"} x", ":3:49: text after the JSON object"},
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"a\\q\"}", ":3:47: invalid escape"},
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"a", ":3:44: unterminated string"},
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"a\", \"n\": 01}",
       ":3:55: expected ',' or '}'"},
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"a\", \"n\": [1, 2}",
       ":3:59: expected ',' or ']'"},
      {"{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"a\", \"t\": tru}", ":3:54: invalid value"},
      {"[1, 2]", ":3:1: expected a JSON object per line"},
  };
  for (const auto& [line, expected] : cases) {
    const std::string file = write("bad.jsonl", good + good + line + "\n" + good);
    for (const auto& load : {one_thread(), chunks_of(5)}) {
      ComparisonColumns columns;
      columns.load = load;
      try {
        load_comparisons(file, columns);
        ADD_FAILURE() << line << ": no error";
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("bad.jsonl" + expected), std::string::npos)
            << line << "\n  got: " << e.what() << "\n  expected: " << expected;
      }
    }
  }
}

// =========================================================================================
// The binary cache

TEST(CacheChecksum, Xxh64KnownValues) {
  // Reference values from the xxhash package (xxh64, seed 0 unless given).
  EXPECT_EQ(xxh64("", 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(xxh64("btfit", 5, 12345), 0xb6aea9e37da201ffULL);
  std::string bytes;
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 256; ++k) bytes += static_cast<char>(k);
  EXPECT_EQ(xxh64(bytes.data(), bytes.size()), 0x8e03c838c596036fULL);
  // Streaming in uneven pieces gives the same value.
  for (std::size_t piece : {1, 3, 31, 32, 33, 100}) {
    Xxh64 h;
    for (std::size_t k = 0; k < bytes.size(); k += piece)
      h.update(bytes.data() + k, std::min(piece, bytes.size() - k));
    EXPECT_EQ(h.digest(), 0x8e03c838c596036fULL) << piece;
  }
}

TEST_F(Cache, RoundTripKeepsEverything) {
  const std::string source = write("in.csv", messy_comparisons(3000, 51, true));
  const ComparisonColumns columns = messy_columns(LoadOptions{});
  const Comparisons original = load_comparisons(source, columns);
  write_comparison_cache(original, source, columns, path("in.btf"));
  EXPECT_TRUE(is_comparison_cache(path("in.btf")));
  EXPECT_FALSE(is_comparison_cache(source));
  expect_same(original, load_comparisons(path("in.btf"), columns), "the same options");
  // No options given: the cache as it is, less the cluster ids and home flags not asked for.
  const Comparisons plain = load_comparisons(path("in.btf"), ComparisonColumns{});
  EXPECT_EQ(plain.item_names, original.item_names);
  EXPECT_EQ(plain.a, original.a);
  EXPECT_EQ(plain.weight, original.weight);
  EXPECT_TRUE(plain.at_home.empty());
  EXPECT_TRUE(plain.cluster.empty());
  // Without weights, home flags or clusters.
  const std::string simple = write("simple.csv", "winner,loser\nA,B\nB,C\nC,A\nA,C\n");
  const Comparisons small = load_comparisons(simple, ComparisonColumns{});
  write_comparison_cache(small, simple, ComparisonColumns{}, path("simple.btf"));
  expect_same(small, load_comparisons(path("simple.btf"), ComparisonColumns{}), "simple");
}

TEST_F(Cache, StaleSourceIsRejectedAndAMissingOneIsNot) {
  const std::string source = write("in.csv", "winner,loser\nA,B\nB,C\nC,A\n");
  const Comparisons data = load_comparisons(source, ComparisonColumns{});
  write_comparison_cache(data, source, ComparisonColumns{}, path("in.btf"));
  write("in.csv", "winner,loser\nA,B\nB,C\nC,A\nA,C\n");
  try {
    load_comparisons(path("in.btf"), ComparisonColumns{});
    ADD_FAILURE() << "a stale cache was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stale"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in.csv"), std::string::npos) << e.what();
  }
  fs::remove(source);
  expect_same(data, load_comparisons(path("in.btf"), ComparisonColumns{}), "source gone");
}

TEST_F(Cache, CorruptTruncatedAndOtherVersionsAreRejected) {
  const std::string source = write("in.csv", messy_comparisons(500, 52, false));
  const ComparisonColumns columns = messy_columns(LoadOptions{});
  write_comparison_cache(load_comparisons(source, columns), source, columns, path("good.btf"));
  const std::string good = read("good.btf");
  auto error_of = [&](const std::string& bytes) {
    write("bad.btf", bytes);
    try {
      load_comparisons(path("bad.btf"), columns);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string flipped = good;
  flipped[flipped.size() - 100] = static_cast<char>(flipped[flipped.size() - 100] ^ 1);
  EXPECT_NE(error_of(flipped).find("corrupt"), std::string::npos) << error_of(flipped);
  std::string header = good;
  header[20] = static_cast<char>(header[20] ^ 1);  // the comparison count
  EXPECT_NE(error_of(header).find("corrupt"), std::string::npos) << error_of(header);
  for (std::size_t keep : {good.size() - 1, good.size() / 2, std::size_t{70}, std::size_t{10}})
    EXPECT_NE(error_of(good.substr(0, keep)).find("truncated"), std::string::npos)
        << keep << ": " << error_of(good.substr(0, keep));
  std::string version = good;
  version[8] = 2;
  EXPECT_NE(error_of(version).find("version 2"), std::string::npos) << error_of(version);
}

TEST_F(Cache, ColumnOptionsMustMatchTheConversion) {
  const std::string source = write("in.csv", "w,l,n\nA,B,1\nB,C,2\nC,A,1\n");
  ComparisonColumns columns;
  columns.winner = "w";
  columns.loser = "l";
  columns.count = "n";
  write_comparison_cache(load_comparisons(source, columns), source, columns, path("in.btf"));
  EXPECT_EQ(load_comparisons(path("in.btf"), columns).weight, (std::vector<double>{1, 2, 1}));
  ComparisonColumns other = columns;
  other.count.clear();
  try {
    load_comparisons(path("in.btf"), other);
    ADD_FAILURE() << "other options were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--count n"), std::string::npos) << e.what();
  }
  ComparisonColumns home = columns;
  home.home_flags = true;
  EXPECT_THROW(load_comparisons(path("in.btf"), home), InputError);
}

// =========================================================================================
// The item dictionary

TEST(ItemDictionaryTest, ShortLongAndSharedPrefixNames) {
  ItemDictionary dict;
  std::vector<std::string> names;
  for (int k = 0; k < 50000; ++k) {
    names.push_back(k % 3 == 0   ? "a name longer than twenty-four bytes, number " + std::to_string(k)
                    : k % 3 == 1 ? std::to_string(k)
                                 : std::string(static_cast<std::size_t>(k % 30), 'x') + std::to_string(k));
  }
  names.push_back("");
  for (std::size_t k = 0; k < names.size(); ++k) ASSERT_EQ(dict.intern(names[k]), k) << names[k];
  for (std::size_t k = 0; k < names.size(); ++k) {
    ASSERT_EQ(dict.intern(names[k]), k);
    ASSERT_EQ(dict.find(names[k]), static_cast<std::int64_t>(k));
    ASSERT_EQ(dict.name(static_cast<std::uint32_t>(k)), names[k]);
  }
  EXPECT_EQ(dict.find("a name longer than twenty-four bytes, number 1"), -1);
  EXPECT_EQ(dict.find("nowhere"), -1);
  EXPECT_EQ(dict.size(), names.size());
}

TEST(ItemDictionaryTest, DeferredInterningGivesTheSameIds) {
  std::mt19937 rng(9);
  std::vector<std::string> stream;
  for (int k = 0; k < 20000; ++k) {
    const int id = static_cast<int>(rng() % 3000);
    stream.push_back(id % 5 == 0 ? std::string(60, 'L') + std::to_string(id) : "n" + std::to_string(id));
  }
  ItemDictionary direct, deferred;
  std::vector<std::uint32_t> expected, a, b;
  for (const auto& s : stream) expected.push_back(direct.intern(s));
  DeferredInterner interner(deferred);
  for (std::size_t k = 0; k < stream.size(); ++k) {
    std::string copy = stream[k];  // the interner must not keep a view of it
    interner.push(copy, k % 2 ? b : a);
  }
  interner.flush();
  for (std::size_t k = 0; k < stream.size(); ++k) EXPECT_EQ((k % 2 ? b[k / 2] : a[k / 2]), expected[k]) << k;
  EXPECT_EQ(deferred.names(), direct.names());
}

}  // namespace
}  // namespace btfit
