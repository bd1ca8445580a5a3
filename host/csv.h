// A streaming CSV/TSV reader (RFC 4180 quoting) that reports physical line numbers.
//
// The input is read in blocks; a record's fields are string_views into the block (or into a
// scratch buffer when quotes had to be removed), valid until the next call to next().
// Memory is one block plus the longest record, whatever the file size.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace btfit {

class CsvReader {
 public:
  // path "-" reads standard input. Throws InputError when the file cannot be opened.
  explicit CsvReader(const std::string& path);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the header record and detects the delimiter (tab, comma or semicolon, whichever
  // occurs most outside quotes; comma when none does). Throws on an empty file.
  std::vector<std::string> read_header();
  // The next record; false at the end. Empty lines are skipped.
  bool next(std::vector<std::string_view>& fields);
  // The next raw line (no delimiter or quote handling, trailing CR removed), for line
  // formats such as LIBSVM; false at the end. Valid until the next call.
  bool next_line(std::string_view& line);
  // Physical line (1-based) where the last record starts.
  std::size_t line() const { return record_line_; }
  const std::string& name() const { return name_; }
  char delimiter() const { return delimiter_; }
  // Size of the file in bytes, or 0 when unknown (standard input).
  std::size_t file_size() const { return file_size_; }
  std::size_t bytes_consumed() const { return consumed_; }

 private:
  bool fill();  // reads more input after compacting; false when nothing more was read
  bool parse_quoted(std::vector<std::string_view>& fields, std::size_t* record_end);

  std::string name_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  bool eof_ = false;
  char delimiter_ = ',';
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::size_t next_line_ = 1;
  std::size_t record_line_ = 0;
  std::size_t file_size_ = 0;
  std::size_t consumed_ = 0;
  std::string scratch_;
};

// Number parsing with the whole field consumed (surrounding spaces allowed). False when the
// text is not a number.
bool parse_double(std::string_view text, double* out);

// Strips surrounding spaces and tabs.
std::string_view trim(std::string_view text);

}  // namespace btfit
