#include "parallel_load.h"

#include <fcntl.h>
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>

#include "btfit/error.h"
#include "progress.h"

namespace btfit {

namespace {

// Below this many bytes per chunk, threads cost more than they save.
constexpr std::uint64_t kMinAutoChunkBytes = std::uint64_t{16} << 20;
// Each chunk has a dictionary of its own: a tiny chunk_bytes on a large file is capped here.
constexpr std::uint64_t kMaxChunks = std::uint64_t{1} << 16;

class FileDescriptor {
 public:
  FileDescriptor(const std::string& path, const std::string& name)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw InputError(name, 0, 0, std::string("cannot open: ") + std::strerror(errno));
  }
  ~FileDescriptor() { ::close(fd_); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The position just after the first line break at or after `from`, or `size` when none.
std::uint64_t after_next_line_break(int fd, const std::string& name, std::uint64_t from, std::uint64_t size) {
  char window[1 << 16];
  while (from < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof window, size - from));
    const ssize_t got = ::pread(fd, window, want, static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw InputError(name, 0, 0, std::string("read error: ") + std::strerror(errno));
    const void* nl = std::memchr(window, '\n', static_cast<std::size_t>(got));
    if (nl != nullptr) return from + static_cast<std::uint64_t>(static_cast<const char*>(nl) - window) + 1;
    from += static_cast<std::uint64_t>(got);
  }
  return size;
}

// The exact record boundaries: for each nominal position, the position after the first line
// break at or after it that is outside quotes, under CsvReader's rules: a quote opens a quoted
// field only at the start of a field (after the delimiter, a line break or at the start of
// the data); inside, "" is a quote and a lone quote closes the field. On malformed quoting
// the boundaries after the first error may be wrong: that chunk's reader reports the error.
std::vector<std::uint64_t> exact_boundaries(int fd, const std::string& name, std::uint64_t data_start,
                                            std::uint64_t size, char delimiter,
                                            const std::vector<std::uint64_t>& nominal) {
  std::vector<std::uint64_t> out;
  if (size == 0) return out;
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapped == MAP_FAILED)
    throw InputError(name, 0, 0, std::string("cannot map the file: ") + std::strerror(errno));
  ::madvise(mapped, size, MADV_SEQUENTIAL);
  const char* text = static_cast<const char*>(mapped);
  auto find = [&](char c, std::uint64_t from, std::uint64_t to) -> std::uint64_t {
    if (from >= to) return to;
    const void* hit = std::memchr(text + from, c, to - from);
    return hit ? static_cast<std::uint64_t>(static_cast<const char*>(hit) - text) : to;
  };
  std::uint64_t pos = data_start;
  bool in_quotes = false;
  // Hands back the pages behind the scan, so that the pass does not hold the file in memory.
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t released = 0;
  auto release_behind = [&] {
    const std::uint64_t behind = (std::min(pos, size) / page) * page;
    if (behind > released + (std::uint64_t{64} << 20)) {
      ::madvise(static_cast<char*>(mapped) + released, behind - released, MADV_DONTNEED);
      released = behind;
    }
  };
  // Handles the quote at q (outside quotes): opens a quoted field at a field start.
  auto outside_quote = [&](std::uint64_t q) {
    in_quotes = q == data_start || text[q - 1] == delimiter || text[q - 1] == '\n';
    pos = q + 1;
  };
  for (const std::uint64_t target : nominal) {
    const std::uint64_t from = std::max(target > 0 ? target - 1 : 0, data_start);
    std::uint64_t boundary = size;
    while (pos < size) {
      release_behind();
      if (in_quotes) {
        const std::uint64_t q = find('"', pos, size);
        if (q == size) {
          pos = size;  // never closed: the reader says so
          break;
        }
        if (q + 1 < size && text[q + 1] == '"') {
          pos = q + 2;
        } else {
          in_quotes = false;
          pos = q + 1;
        }
        continue;
      }
      if (pos < from) {
        const std::uint64_t q = find('"', pos, from);
        if (q == from) {
          pos = from;
        } else {
          outside_quote(q);
        }
        continue;
      }
      const std::uint64_t nl = find('\n', pos, size);
      const std::uint64_t q = find('"', pos, nl);
      if (q < nl) {
        outside_quote(q);
        continue;
      }
      boundary = nl < size ? nl + 1 : size;
      pos = boundary;
      break;
    }
    out.push_back(std::max(boundary, out.empty() ? data_start : out.back()));
  }
  ::munmap(mapped, size);
  return out;
}

struct ChunkOutcome {
  bool ended_inside_quotes = false;
  std::size_t lines = 0;  // physical lines in the chunk (line breaks), when parsed through
  std::optional<InputError> input_error;
  std::exception_ptr other_error;
};

}  // namespace

int load_threads(const LoadOptions& options) {
  return options.threads > 0 ? options.threads : std::max(1, omp_get_max_threads());
}

std::size_t plan_chunks(const CsvReader& reader, const LoadOptions& options) {
  const InputInfo& input = reader.input();
  if (!input.regular_file || input.compression != Compression::none || options.threads == 1) return 1;
  const std::uint64_t data_bytes =
      input.file_size - std::min<std::uint64_t>(input.file_size, reader.bytes_consumed());
  if (data_bytes == 0) return 1;
  if (options.chunk_bytes > 0)
    return static_cast<std::size_t>(
        std::min<std::uint64_t>(kMaxChunks, (data_bytes + options.chunk_bytes - 1) / options.chunk_bytes));
  const auto threads = static_cast<std::uint64_t>(load_threads(options));
  return static_cast<std::size_t>(
      std::max<std::uint64_t>(1, std::min(threads, data_bytes / kMinAutoChunkBytes)));
}

void parse_chunks(const CsvReader& reader, const std::string& path, std::size_t n_chunks,
                  const LoadOptions& options, bool quoted, LoadProgress* progress,
                  const std::function<void(CsvReader&, std::size_t)>& parse) {
  const std::string& name = reader.name();
  const FileDescriptor file(path, name);
  const std::uint64_t size = reader.input().file_size;
  const std::uint64_t data_start = std::min<std::uint64_t>(reader.bytes_consumed(), size);
  const std::size_t first_line = reader.next_line_number();
  if (progress != nullptr) progress->set_bytes(data_start);

  // Nominal cut points, and the record boundaries guessed from them.
  std::vector<std::uint64_t> nominal;
  for (std::size_t c = 1; c < n_chunks; ++c)
    nominal.push_back(data_start + (size - data_start) * c / n_chunks);
  std::vector<std::uint64_t> bounds(n_chunks + 1);
  bounds[0] = data_start;
  bounds[n_chunks] = size;
  for (std::size_t c = 1; c < n_chunks; ++c)
    bounds[c] =
        std::max(bounds[c - 1],
                 after_next_line_break(file.get(), name, std::max(nominal[c - 1], data_start + 1) - 1, size));

  std::vector<ChunkOutcome> outcomes(n_chunks);
  auto run = [&](const std::vector<std::size_t>& which) {
    const int threads = std::min<int>(load_threads(options), static_cast<int>(which.size()));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(which.size()); ++i) {
      const std::size_t c = which[static_cast<std::size_t>(i)];
      ChunkOutcome outcome;
      try {
        CsvReader chunk_reader(file.get(), name, bounds[c], bounds[c + 1], reader.delimiter(), progress);
        try {
          parse(chunk_reader, c);
          outcome.lines = chunk_reader.next_line_number() - 1;
        } catch (const InputError& e) {
          outcome.input_error = e;
        }
        outcome.ended_inside_quotes = chunk_reader.ended_inside_quotes();
      } catch (...) {
        outcome.other_error = std::current_exception();
      }
      outcomes[c] = std::move(outcome);
    }
  };
  std::vector<std::size_t> all(n_chunks);
  for (std::size_t c = 0; c < n_chunks; ++c) all[c] = c;
  run(all);

  // The guessed boundaries hold up to the first chunk with an error: a chunk that parsed to its
  // end without one ended on a record boundary (a quoted field open at its end would have been
  // an error), so the next one started on one. Only when the first error is a quoted field cut
  // by the end of its chunk can a guess have been wrong.
  const auto first_error = std::find_if(outcomes.begin(), outcomes.end(), [](const ChunkOutcome& o) {
    return o.input_error.has_value() || o.other_error != nullptr;
  });
  if (quoted && first_error != outcomes.end() && first_error->ended_inside_quotes) {
    const auto exact = exact_boundaries(file.get(), name, data_start, size, reader.delimiter(), nominal);
    std::vector<std::uint64_t> corrected(n_chunks + 1);
    corrected[0] = data_start;
    corrected[n_chunks] = size;
    for (std::size_t c = 1; c < n_chunks; ++c) corrected[c] = exact[c - 1];
    std::vector<std::size_t> again;
    for (std::size_t c = 0; c < n_chunks; ++c)
      if (corrected[c] != bounds[c] || corrected[c + 1] != bounds[c + 1]) again.push_back(c);
    bounds = corrected;
    if (!again.empty()) run(again);
  }

  // The first error in file order, with its physical line.
  std::size_t lines_before = first_line - 1;
  for (const ChunkOutcome& outcome : outcomes) {
    if (outcome.other_error) std::rethrow_exception(outcome.other_error);
    if (outcome.input_error) {
      const InputError& e = *outcome.input_error;
      throw InputError(e.file(), e.line() > 0 ? e.line() + lines_before : 0, e.column(), e.message());
    }
    lines_before += outcome.lines;
  }
}

// ---------------------------------------------------------------------------------------
// Merging

namespace {

template <typename T>
void release(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

// Appends `part` to `whole` and releases `part`.
template <typename T>
void append(std::vector<T>& whole, std::vector<T>& part) {
  whole.insert(whole.end(), part.begin(), part.end());
  release(part);
}

// Appends ids[k] renumbered through `renumber` to `whole`, in parallel, and releases `ids`.
void append_renumbered(std::vector<std::uint32_t>& whole, std::vector<std::uint32_t>& ids,
                       const std::vector<std::uint32_t>& renumber, int threads) {
  const std::size_t offset = whole.size();
  whole.resize(offset + ids.size());
  std::uint32_t* out = whole.data() + offset;
  const std::uint32_t* in = ids.data();
  const std::uint32_t* map = renumber.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (ids.size() > 100000)
  for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(ids.size()); ++k) out[k] = map[in[k]];
  release(ids);
}

// Folds a chunk's dictionary into `whole`: local id -> id in `whole` (new names added in the
// chunk's order, which is their order of first appearance).
std::vector<std::uint32_t> fold(ItemDictionary& whole, const ItemDictionary& part) {
  std::vector<std::uint32_t> renumber(part.size());
  for (std::uint32_t id = 0; id < part.size(); ++id) renumber[id] = whole.intern(part.name(id));
  return renumber;
}

}  // namespace

Comparisons merge_comparison_chunks(std::vector<ComparisonChunk>& chunks, int threads) {
  Comparisons out;
  if (chunks.empty()) return out;
  std::size_t total = 0;
  for (const auto& chunk : chunks) total += chunk.data.size();
  ItemDictionary items = std::move(chunks[0].items);
  ItemDictionary clusters = std::move(chunks[0].clusters);
  Comparisons& first = chunks[0].data;
  out.a = std::move(first.a);
  out.b = std::move(first.b);
  out.outcome2 = std::move(first.outcome2);
  out.weight = std::move(first.weight);
  out.at_home = std::move(first.at_home);
  out.cluster = std::move(first.cluster);
  // Exact capacity up front: chunk 0's rows move once, the others are appended in place.
  out.a.reserve(total);
  out.b.reserve(total);
  out.outcome2.reserve(total);
  for (std::size_t c = 1; c < chunks.size(); ++c) {
    Comparisons& part = chunks[c].data;
    if (!part.weight.empty()) out.weight.reserve(total);
    if (!part.at_home.empty()) out.at_home.reserve(total);
    if (!part.cluster.empty()) out.cluster.reserve(total);
    const auto item_ids = fold(items, chunks[c].items);
    append_renumbered(out.a, part.a, item_ids, threads);
    append_renumbered(out.b, part.b, item_ids, threads);
    append(out.outcome2, part.outcome2);
    append(out.weight, part.weight);
    append(out.at_home, part.at_home);
    if (!part.cluster.empty())
      append_renumbered(out.cluster, part.cluster, fold(clusters, chunks[c].clusters), threads);
    chunks[c].items = ItemDictionary();
    chunks[c].clusters = ItemDictionary();
  }
  out.item_names = items.names();
  return out;
}

Rows merge_row_chunks(std::vector<RowChunk>& chunks, int threads) {
  Rows out;
  if (chunks.empty()) return out;
  std::size_t total_rows = 0, total_entries = 0;
  for (const auto& chunk : chunks) {
    total_rows += chunk.rows.label.size();
    total_entries += chunk.rows.sparse ? chunk.rows.val.size() : chunk.rows.dense.size();
  }
  ItemDictionary clusters = std::move(chunks[0].clusters);
  Rows& first = chunks[0].rows;
  out.sparse = first.sparse;
  out.dense = std::move(first.dense);
  out.row_ptr = std::move(first.row_ptr);
  out.col = std::move(first.col);
  out.val = std::move(first.val);
  out.label = std::move(first.label);
  out.weight = std::move(first.weight);
  out.cluster = std::move(first.cluster);
  out.label.reserve(total_rows);
  if (out.sparse) {
    out.col.reserve(total_entries);
    out.val.reserve(total_entries);
    out.row_ptr.reserve(total_rows + 1);
  } else {
    out.dense.reserve(total_entries);
  }
  for (std::size_t c = 1; c < chunks.size(); ++c) {
    Rows& part = chunks[c].rows;
    if (!part.weight.empty()) out.weight.reserve(total_rows);
    if (!part.cluster.empty()) out.cluster.reserve(total_rows);
    if (out.sparse) {
      const std::uint64_t offset = out.col.size();
      for (std::size_t i = 1; i < part.row_ptr.size(); ++i) out.row_ptr.push_back(offset + part.row_ptr[i]);
      release(part.row_ptr);
      append(out.col, part.col);
      append(out.val, part.val);
    } else {
      append(out.dense, part.dense);
    }
    append(out.label, part.label);
    append(out.weight, part.weight);
    if (!part.cluster.empty())
      append_renumbered(out.cluster, part.cluster, fold(clusters, chunks[c].clusters), threads);
    chunks[c].clusters = ItemDictionary();
  }
  out.n_rows = out.label.size();
  return out;
}

}  // namespace btfit
