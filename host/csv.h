// A streaming CSV/TSV reader (RFC 4180 quoting) that reports physical line numbers.
//
// The input is read in blocks; a record's fields are string_views into the block (or into a
// scratch buffer when quotes had to be removed), valid until the next call to next().
// Memory is one block plus the longest record, whatever the file size. gzip and zstd input is
// decompressed on the fly (decompress.h). A reader can also cover one byte range of a file,
// for one chunk of a parallel read (parallel_load.h): its lines are then numbered from 1 at
// the start of the range.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "decompress.h"

namespace btfit {

class LoadProgress;

class CsvReader {
 public:
  // path "-" reads standard input. Throws InputError when the file cannot be opened.
  // `progress` (may be null) is told the bytes and records read.
  explicit CsvReader(const std::string& path, LoadProgress* progress = nullptr);
  // The bytes [begin, end) of the open file `fd` (not owned), which must start at the start
  // of a record; `delimiter` as detected from the header. Lines are numbered from 1 at begin.
  CsvReader(int fd, const std::string& name, std::uint64_t begin, std::uint64_t end, char delimiter,
            LoadProgress* progress);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the header record and detects the delimiter (tab, comma or semicolon, whichever
  // occurs most outside quotes; comma when none does). Throws on an empty file.
  std::vector<std::string> read_header();
  // The next record; false at the end. Empty lines are skipped.
  bool next(std::vector<std::string_view>& fields);
  // The next record as next() reads it, except that a record without quotes comes back as
  // its line in *raw (fields left empty), for a caller that parses the line itself and
  // calls split() when it cannot; a record with quotes comes back in fields, *raw empty.
  // Valid until the next call.
  bool next_raw(std::string_view* raw, std::vector<std::string_view>& fields);
  // Splits a line without quotes at the delimiter, as next() does.
  void split(std::string_view line, std::vector<std::string_view>& fields) const;
  // The next raw line (no delimiter or quote handling, trailing CR removed), for line
  // formats such as LIBSVM and JSON lines; false at the end. Valid until the next call.
  bool next_line(std::string_view& line);
  // Physical line (1-based) where the last record starts.
  std::size_t line() const { return record_line_; }
  // Physical line where the next record will start; after the header, the first data line.
  std::size_t next_line_number() const { return next_line_; }
  const std::string& name() const { return name_; }
  char delimiter() const { return delimiter_; }
  // Size of the (uncompressed) file in bytes, or 0 when unknown (standard input, a pipe,
  // compressed input). The whole file's size, also for a reader of one range.
  std::size_t file_size() const { return static_cast<std::size_t>(info_.size_hint); }
  // Bytes this reader will see: its range, or file_size().
  std::size_t size_hint() const { return static_cast<std::size_t>(size_hint_); }
  // Bytes of (uncompressed) input consumed by the records returned so far.
  std::size_t bytes_consumed() const { return consumed_; }
  const InputInfo& input() const { return info_; }
  // Whether the input ended inside a quoted field (next() then threw "unterminated"): for a
  // reader of one range, the range may have cut a quoted field that holds a line break.
  bool ended_inside_quotes() const { return ended_inside_quotes_; }

 private:
  bool fill();  // reads more input after compacting; false when nothing more was read
  bool find_line(std::size_t* content_end, std::size_t* after);  // the line at pos_
  bool parse_quoted(std::vector<std::string_view>& fields, std::size_t* record_end);
  void report_progress();

  std::string name_;
  std::unique_ptr<ByteSource> source_;
  InputInfo info_;
  std::uint64_t size_hint_ = 0;
  LoadProgress* progress_ = nullptr;
  std::uint64_t reported_bytes_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t reported_records_ = 0;
  bool eof_ = false;
  bool ended_inside_quotes_ = false;
  char delimiter_ = ',';
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::size_t next_line_ = 1;
  std::size_t record_line_ = 0;
  std::size_t consumed_ = 0;
  std::string scratch_;
  std::vector<std::pair<std::size_t, std::size_t>> spans_;  // parse_quoted's field spans
};

// Number parsing with the whole field consumed (surrounding spaces allowed). False when the
// text is not a number.
bool parse_double(std::string_view text, double* out);

// A short decimal at the start of [p, end): [-]D[.F] with 1 to 7 digits D and 0 to 7 digits F,
// followed by a byte other than a digit, '.', 'e' or 'E', or by the end. Returns the end of the
// number, with *out the correctly rounded double (what parse_double gives); nullptr when the
// text is not of this form or lies within 8 bytes of `end` (the caller then parses the field
// with parse_double). Reads 8 bytes at a time (digits found and combined without a loop).
const char* parse_short_decimal(const char* p, const char* end, double* out);

// Strips surrounding spaces and tabs.
std::string_view trim(std::string_view text);

}  // namespace btfit
