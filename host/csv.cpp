#include "csv.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "btfit/error.h"
#include "progress.h"

namespace btfit {

namespace {
constexpr std::size_t kBlockBytes = std::size_t{4} << 20;
}

InputError::InputError(std::string file, std::size_t line, std::size_t column, const std::string& message)
    : std::runtime_error(file + (line ? ":" + std::to_string(line) : std::string()) +
                         (column ? ":" + std::to_string(column) : std::string()) + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(message) {}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

namespace {

// The powers of ten that are exact in a double (Clinger's fast path, parse_short_decimal).
constexpr double kPowers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                              1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Clinger's fast path (W. D. Clinger 1990, "How to read floating point numbers accurately"):
// a decimal whose digits form an integer m <= 2^53 and whose power of ten 10^e has |e| <= 22
// is m * 10^e or m / 10^-e with both operands exact, so one correctly rounded operation gives
// the correctly rounded result, the same double as std::from_chars. Measured data (a few
// decimals) nearly always take it. Returns false for anything else (more digits, larger
// exponents, inf, nan, malformed text): the caller then asks std::from_chars.
bool parse_decimal_fast(const char* p, const char* last, double* out) {
  const bool negative = p < last && *p == '-';
  if (negative) ++p;
  std::uint64_t m = 0;
  int digits = 0;
  long exponent = 0;
  const char* start = p;
  while (p < last && static_cast<unsigned char>(*p - '0') < 10) {
    m = 10 * m + static_cast<unsigned>(*p - '0');
    ++digits;
    ++p;
  }
  bool any = p > start;
  if (p < last && *p == '.') {
    ++p;
    const char* fraction = p;
    while (p < last && static_cast<unsigned char>(*p - '0') < 10) {
      m = 10 * m + static_cast<unsigned>(*p - '0');
      ++digits;
      ++p;
    }
    exponent -= static_cast<long>(p - fraction);
    any = any || p > fraction;
  }
  if (!any || digits > 19) return false;  // no digits, or m may have wrapped around
  if (p < last && (*p == 'e' || *p == 'E')) {
    ++p;
    bool minus = false;
    if (p < last && (*p == '+' || *p == '-')) minus = *p++ == '-';
    if (p == last) return false;
    long e = 0;
    while (p < last && static_cast<unsigned char>(*p - '0') < 10) {
      if (e < 100000) e = 10 * e + (*p - '0');
      ++p;
    }
    exponent += minus ? -e : e;
  }
  if (p != last || m > (std::uint64_t{1} << 53) || exponent < -22 || exponent > 22) return false;
  double value = static_cast<double>(m);
  value = exponent < 0 ? value / kPowers[-exponent] : value * kPowers[exponent];
  *out = negative ? -value : value;
  return true;
}

}  // namespace

namespace {

// How many of the 8 bytes of w (first byte lowest) are ASCII digits before the first that is
// not. A byte c is a digit iff its high nibble is 3 and that of c + 6 is 3 too (0x30..0x39).
// A carry out of a byte >= 0xFA only reaches later bytes, after a non-digit.
int leading_digits(std::uint64_t w) {
  constexpr std::uint64_t kHigh = 0xF0F0F0F0F0F0F0F0ULL, kThrees = 0x3030303030303030ULL;
  const std::uint64_t not_digit = ((w & kHigh) ^ kThrees) | (((w + 0x0606060606060606ULL) & kHigh) ^ kThrees);
  return not_digit == 0 ? 8 : __builtin_ctzll(not_digit) / 8;
}

// The value of the first n (1..8) digit bytes of w: shifted to the top so that the bytes below
// read as leading zeros, then combined pairwise by multiplications (the SWAR method of
// fast_float, Lemire 2021).
std::uint64_t digits_value(std::uint64_t w, int n) {
  w -= 0x3030303030303030ULL;  // a borrow from a non-digit only reaches later bytes
  w <<= 8 * (8 - n);
  w = w * 10 + (w >> 8);
  w = (((w & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
       (((w >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
  return w & 0xFFFFFFFFULL;
}

}  // namespace

const char* parse_short_decimal(const char* p, const char* end, double* out) {
  static constexpr std::uint64_t kScale[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
  if (end - p < 9) return nullptr;
  const bool negative = *p == '-';
  p += negative;
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  const int n_int = leading_digits(w);
  if (n_int == 0 || n_int == 8) return nullptr;
  std::uint64_t m = digits_value(w, n_int);
  p += n_int;
  int n_frac = 0;
  if (*p == '.') {
    ++p;
    if (end - p < 8) return nullptr;
    std::memcpy(&w, p, 8);
    n_frac = leading_digits(w);
    if (n_frac == 8) return nullptr;
    if (n_frac > 0) {
      m = m * kScale[n_frac] + digits_value(w, n_frac);
      p += n_frac;
    }
  }
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return nullptr;
  // m < 10^14 < 2^53 and 10^n_frac are exact: one correctly rounded division. The sign is
  // set on the bits (a branch on it would be mispredicted half the time on signed data).
  const double value = static_cast<double>(m) / kPowers[n_frac];
  std::uint64_t bits;
  std::memcpy(&bits, &value, 8);
  bits |= static_cast<std::uint64_t>(negative) << 63;
  std::memcpy(out, &bits, 8);
  return p;
}

bool parse_double(std::string_view text, double* out) {
  text = trim(text);
  if (text.empty()) return false;
  if (text.front() == '+') text.remove_prefix(1);
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (parse_decimal_fast(first, last, out)) return true;
  const auto result = std::from_chars(first, last, *out);
  return result.ec == std::errc() && result.ptr == last;
}

CsvReader::CsvReader(const std::string& path, LoadProgress* progress)
    : name_(path == "-" ? "<stdin>" : path), progress_(progress) {
  source_ = open_input(path, name_, &info_);
  size_hint_ = info_.size_hint;
  buffer_.resize(kBlockBytes);
}

CsvReader::CsvReader(int fd, const std::string& name, std::uint64_t begin, std::uint64_t end, char delimiter,
                     LoadProgress* progress)
    : name_(name), progress_(progress), delimiter_(delimiter) {
  struct stat info {};
  if (::fstat(fd, &info) == 0) info_.file_size = info_.size_hint = static_cast<std::uint64_t>(info.st_size);
  info_.regular_file = true;
  source_ = open_file_range(fd, name, begin, end);
  size_hint_ = end - begin;
  buffer_.resize(std::min<std::size_t>(kBlockBytes, static_cast<std::size_t>(end - begin) + 1));
}

CsvReader::~CsvReader() = default;

void CsvReader::report_progress() {
  if (progress_ == nullptr) return;
  const std::uint64_t bytes = source_->raw_bytes();
  progress_->add(bytes - reported_bytes_, records_ - reported_records_);
  reported_bytes_ = bytes;
  reported_records_ = records_;
}

bool CsvReader::fill() {
  if (eof_) return false;
  if (pos_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  const std::size_t got = source_->read(buffer_.data() + end_, buffer_.size() - end_);
  report_progress();
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

std::vector<std::string> CsvReader::read_header() {
  // Detect the delimiter from the first line (outside quotes).
  while (true) {
    const char* start = buffer_.data() + pos_;
    const void* nl = std::memchr(start, '\n', end_ - pos_);
    if (nl != nullptr || !fill()) break;
  }
  if (end_ == pos_) throw InputError(name_, 0, 0, "the file is empty (expected a header line)");
  // A UTF-8 byte order mark (as spreadsheet programs write) is not part of the first name.
  if (end_ - pos_ >= 3 && std::memcmp(buffer_.data() + pos_, "\xEF\xBB\xBF", 3) == 0) {
    pos_ += 3;
    consumed_ += 3;
  }
  std::size_t counts[3] = {0, 0, 0};
  bool quoted = false;
  for (std::size_t i = pos_; i < end_ && (quoted || buffer_[i] != '\n'); ++i) {
    const char c = buffer_[i];
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == '\t') ++counts[0];
    if (c == ',') ++counts[1];
    if (c == ';') ++counts[2];
  }
  if (counts[0] >= counts[1] && counts[0] >= counts[2] && counts[0] > 0)
    delimiter_ = '\t';
  else if (counts[2] > counts[1])
    delimiter_ = ';';
  else
    delimiter_ = ',';
  std::vector<std::string_view> fields;
  if (!next(fields)) throw InputError(name_, 0, 0, "the file is empty (expected a header line)");
  std::vector<std::string> header;
  header.reserve(fields.size());
  for (auto f : fields) header.emplace_back(trim(f));
  records_ = 0;  // progress counts data records
  return header;
}

bool CsvReader::next(std::vector<std::string_view>& fields) {
  std::string_view raw;
  if (!next_raw(&raw, fields)) return false;
  if (!raw.empty()) split(raw, fields);
  return true;
}

void CsvReader::split(std::string_view line, std::vector<std::string_view>& fields) const {
  fields.clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t d = line.find(delimiter_, start);
    if (d == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return;
    }
    fields.push_back(line.substr(start, d - start));
    start = d + 1;
  }
}

bool CsvReader::next_raw(std::string_view* raw, std::vector<std::string_view>& fields) {
  fields.clear();
  *raw = std::string_view();
  while (true) {
    std::size_t content_end = 0, after = 0;
    if (!find_line(&content_end, &after)) return false;
    record_line_ = next_line_;
    const char* begin = buffer_.data() + pos_;
    const std::size_t length = content_end - pos_;
    if (std::memchr(begin, '"', length) != nullptr) {
      std::size_t record_end = 0;
      if (!parse_quoted(fields, &record_end)) return false;
      consumed_ += record_end - pos_;
      pos_ = record_end;
      ++records_;
      return true;
    }
    next_line_ += 1;
    consumed_ += after - pos_;
    pos_ = after;
    if (length == 0) continue;  // empty line
    *raw = std::string_view(begin, length);
    ++records_;
    return true;
  }
}

// Locates the line starting at pos_, reading more input as needed: content_end excludes the
// newline and a CR before it, after is where the next line starts. False at the end of input.
bool CsvReader::find_line(std::size_t* content_end, std::size_t* after) {
  std::size_t scan_from = pos_;
  const char* nl = nullptr;
  while (true) {
    nl = static_cast<const char*>(std::memchr(buffer_.data() + scan_from, '\n', end_ - scan_from));
    if (nl != nullptr) break;
    const std::size_t scanned = end_ - pos_;
    if (!fill()) break;
    scan_from = pos_ + scanned;
  }
  if (pos_ == end_ && nl == nullptr) return false;
  const std::size_t line_end = nl ? static_cast<std::size_t>(nl - buffer_.data()) : end_;
  *content_end = line_end;
  if (*content_end > pos_ && buffer_[*content_end - 1] == '\r') --*content_end;
  *after = nl ? line_end + 1 : line_end;
  return true;
}

bool CsvReader::next_line(std::string_view& line) {
  std::size_t content_end = 0, after = 0;
  if (!find_line(&content_end, &after)) return false;
  record_line_ = next_line_++;
  line = std::string_view(buffer_.data() + pos_, content_end - pos_);
  consumed_ += after - pos_;
  pos_ = after;
  ++records_;
  return true;
}

// Slow path for a record with quotes: parses from pos_ char by char, reading more input
// when a quoted field runs past the block, unquoting into scratch_.
bool CsvReader::parse_quoted(std::vector<std::string_view>& fields, std::size_t* record_end) {
  while (true) {
    scratch_.clear();
    auto& spans = spans_;  // offsets into scratch_
    spans.clear();
    std::size_t i = pos_;
    std::size_t lines = 0;
    bool complete = false;
    bool field_start = true;
    bool in_quotes = false;
    bool after_quote = false;
    std::size_t span_begin = 0;
    while (i < end_) {
      const char c = buffer_[i];
      if (in_quotes) {
        if (c == '"') {
          if (i + 1 < end_ && buffer_[i + 1] == '"') {
            scratch_.push_back('"');
            i += 2;
            continue;
          }
          if (i + 1 >= end_ && !eof_) break;  // need to see the next character
          in_quotes = false;
          after_quote = true;
          ++i;
          continue;
        }
        if (c == '\n') ++lines;
        scratch_.push_back(c);
        ++i;
        continue;
      }
      if (c == delimiter_ || c == '\n' || (c == '\r' && (i + 1 < end_ && buffer_[i + 1] == '\n'))) {
        spans.emplace_back(span_begin, scratch_.size());
        if (c == delimiter_) {
          ++i;
          field_start = true;
          after_quote = false;
          span_begin = scratch_.size();
          continue;
        }
        i += (c == '\r') ? 2 : 1;
        ++lines;
        complete = true;
        break;
      }
      if (after_quote) {
        throw InputError(name_, next_line_ + lines, spans.size() + 1,
                         "malformed quoted field: text after the closing quote");
      }
      if (field_start && c == '"') {
        in_quotes = true;
        field_start = false;
        ++i;
        continue;
      }
      field_start = false;
      scratch_.push_back(c);
      ++i;
    }
    if (!complete) {
      if (!eof_) {
        const std::size_t before = end_ - pos_;
        fill();
        if (end_ - pos_ > before || eof_) continue;  // retry with more input
      }
      ended_inside_quotes_ = in_quotes;
      if (in_quotes)
        throw InputError(name_, next_line_, spans.size() + 1,
                         "unterminated quoted field (a quote opened here is never closed)");
      spans.emplace_back(span_begin, scratch_.size());
      i = end_;
    }
    for (const auto& [b, e] : spans) fields.emplace_back(scratch_.data() + b, e - b);
    next_line_ += lines == 0 ? 1 : lines;
    *record_end = i;
    return true;
  }
}

}  // namespace btfit
