// The binary comparison cache: the loaded comparisons as they are in memory, so that a later
// run maps the file and copies its arrays instead of parsing text.
//
// Layout (version 1; all integers little-endian; README.md, "Binary cache", says the same):
//   offset  size  field
//   0       8     magic "BTFITCMP"
//   8       4     u32 format version (1)
//   12      4     u32 header size H in bytes (64 + 32 S + 8)
//   16      8     u64 comparisons n
//   24      8     u64 items m
//   32      8     u64 clusters (0: no cluster ids)
//   40      8     u64 source file size in bytes (0: none recorded)
//   48      8     i64 source modification time, nanoseconds since the Unix epoch
//   56      4     u32 flags: 1 weights, 2 home flags, 4 cluster ids
//   60      4     u32 number of sections S
//   64      32 S  section table: u32 kind, u32 zero, u64 offset, u64 size in bytes, u64 XXH64
//                 (seed 0) of the section's bytes
//   64+32S  8     u64 XXH64 (seed 0) of the header's bytes before it
// Sections follow in the order of the table, each at an offset that is a multiple of 8,
// zero-padded to a multiple of 8 bytes. Kinds: 1 source path (UTF-8, absolute), 2 column
// options (UTF-8 lines key=value), 3 item name offsets (u64 x (m + 1)), 4 item names (UTF-8,
// name i is bytes [offset i, offset i+1)), 5 a (u32 x n), 6 b (u32 x n), 7 outcome 2y (u8 x
// n), 8 weights (f64 x n), 9 home flags (u8 x n), 10 cluster ids (u32 x n).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>

#include "btfit/error.h"
#include "btfit/io.h"
#include "checksum.h"
#include "formats.h"

namespace btfit {

namespace {

constexpr char kMagic[8] = {'B', 'T', 'F', 'I', 'T', 'C', 'M', 'P'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kFixedHeader = 64;
constexpr std::size_t kSectionEntry = 32;
constexpr std::uint32_t kFlagWeights = 1, kFlagHome = 2, kFlagCluster = 4;

enum SectionKind : std::uint32_t {
  kSource = 1,
  kOptions = 2,
  kNameOffsets = 3,
  kNames = 4,
  kA = 5,
  kB = 6,
  kOutcome = 7,
  kWeight = 8,
  kHome = 9,
  kCluster = 10,
};

bool little_endian() {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

std::uint64_t round8(std::uint64_t n) {
  return (n + 7) / 8 * 8;
}

template <typename T>
void put(std::string& out, std::size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof value);
}

template <typename T>
T get(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

struct SourceStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool exists = false;
};

SourceStamp stamp(const std::string& path) {
  SourceStamp s;
  struct stat info {};
  if (path.empty() || ::stat(path.c_str(), &info) != 0) return s;
  s.exists = true;
  s.size = static_cast<std::uint64_t>(info.st_size);
  s.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
  return s;
}

// The column options as recorded in the cache, one key=value per line.
std::string options_text(const ComparisonColumns& c) {
  const char* format = c.format == ComparisonFormat::jsonl ? "jsonl"
                       : c.format == ComparisonFormat::csv ? "csv"
                                                           : "auto";
  std::string out;
  out += std::string("input-format=") + format + "\n";
  out += "winner=" + c.winner + "\nloser=" + c.loser + "\na=" + c.a + "\nb=" + c.b + "\noutcome=" + c.outcome;
  out += "\ncount=" + c.count + "\nneutral=" + c.neutral + "\ncluster=" + c.cluster;
  out += std::string("\nhome-advantage=") + (c.home_flags ? "1" : "0") + "\n";
  return out;
}

std::map<std::string, std::string> parse_options(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    start = end + 1;
  }
  return out;
}

// The options as command-line flags, for messages: "--a model_a --b model_b ...".
std::string as_flags(const std::map<std::string, std::string>& options) {
  std::string out;
  for (const char* key : {"winner", "loser", "a", "b", "outcome", "count", "neutral", "cluster"}) {
    const auto it = options.find(key);
    if (it == options.end() || it->second.empty()) continue;
    if ((std::strcmp(key, "winner") == 0 && it->second == "winner") ||
        (std::strcmp(key, "loser") == 0 && it->second == "loser"))
      continue;
    out += std::string(out.empty() ? "" : " ") + "--" + key + " " + it->second;
  }
  const auto home = options.find("home-advantage");
  if (home != options.end() && home->second == "1")
    out += std::string(out.empty() ? "" : " ") + "--home-advantage";
  return out.empty() ? "the default columns" : out;
}

bool default_columns(const ComparisonColumns& c) {
  const ComparisonColumns d;
  return c.winner == d.winner && c.loser == d.loser && c.a == d.a && c.b == d.b && c.outcome == d.outcome &&
         c.count == d.count && c.neutral == d.neutral && c.cluster == d.cluster;
}

struct SectionData {
  std::uint32_t kind;
  const void* data;
  std::size_t size;
};

class MappedFile {
 public:
  MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(path, 0, 0, std::string("cannot open: ") + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      ::close(fd);
      throw InputError(path, 0, 0, std::string("cannot read: ") + std::strerror(errno));
    }
    size_ = static_cast<std::size_t>(info.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw InputError(path, 0, 0, std::string("cannot map the file: ") + std::strerror(errno));
      }
      data_ = static_cast<const unsigned char*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  // Hands the pages of [offset, offset + n) back (they are read again from the file if
  // touched), so that copying the arrays out does not hold the whole file in memory.
  void release(std::size_t offset, std::size_t n) const {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t begin = (offset + page - 1) / page * page;
    const std::size_t end = std::min(size_, (offset + n) / page * page);
    if (end > begin) ::madvise(const_cast<unsigned char*>(data_) + begin, end - begin, MADV_DONTNEED);
  }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

bool is_comparison_cache(const std::string& path) {
  if (path.empty() || path == "-") return false;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  char head[sizeof kMagic];
  const bool magic =
      std::fread(head, 1, sizeof head, file) == sizeof head && std::memcmp(head, kMagic, sizeof head) == 0;
  std::fclose(file);
  return magic;
}

void write_comparison_cache(const Comparisons& data, const std::string& source,
                            const ComparisonColumns& columns, const std::string& path) {
  if (!little_endian()) throw UsageError("the binary cache is written on little-endian machines only");
  const std::size_t n = data.size();
  const std::size_t m = data.n_items();
  std::string source_path;
  SourceStamp source_stamp;
  if (!source.empty() && source != "-") {
    char resolved[PATH_MAX];
    source_path = ::realpath(source.c_str(), resolved) != nullptr ? std::string(resolved) : source;
    source_stamp = stamp(source_path);
  }
  const std::string options = options_text(columns);
  std::vector<std::uint64_t> name_offsets(m + 1, 0);
  std::string names;
  for (std::size_t i = 0; i < m; ++i) {
    names += data.item_names[i];
    name_offsets[i + 1] = names.size();
  }
  std::uint64_t n_clusters = 0;
  for (std::uint32_t c : data.cluster) n_clusters = std::max<std::uint64_t>(n_clusters, std::uint64_t{c} + 1);

  std::vector<SectionData> sections = {
      {kSource, source_path.data(), source_path.size()},
      {kOptions, options.data(), options.size()},
      {kNameOffsets, name_offsets.data(), name_offsets.size() * sizeof(std::uint64_t)},
      {kNames, names.data(), names.size()},
      {kA, data.a.data(), n * sizeof(std::uint32_t)},
      {kB, data.b.data(), n * sizeof(std::uint32_t)},
      {kOutcome, data.outcome2.data(), n},
  };
  std::uint32_t flags = 0;
  if (data.has_weights()) {
    flags |= kFlagWeights;
    sections.push_back({kWeight, data.weight.data(), n * sizeof(double)});
  }
  if (data.has_home_flags()) {
    flags |= kFlagHome;
    sections.push_back({kHome, data.at_home.data(), n});
  }
  if (!data.cluster.empty()) {
    flags |= kFlagCluster;
    sections.push_back({kCluster, data.cluster.data(), n * sizeof(std::uint32_t)});
  }
  const std::size_t header_size = kFixedHeader + kSectionEntry * sections.size() + 8;
  std::string header(header_size, '\0');
  std::memcpy(header.data(), kMagic, sizeof kMagic);
  put<std::uint32_t>(header, 8, kVersion);
  put<std::uint32_t>(header, 12, static_cast<std::uint32_t>(header_size));
  put<std::uint64_t>(header, 16, n);
  put<std::uint64_t>(header, 24, m);
  put<std::uint64_t>(header, 32, n_clusters);
  put<std::uint64_t>(header, 40, source_stamp.size);
  put<std::int64_t>(header, 48, source_stamp.mtime_ns);
  put<std::uint32_t>(header, 56, flags);
  put<std::uint32_t>(header, 60, static_cast<std::uint32_t>(sections.size()));
  std::vector<std::uint64_t> checksums(sections.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::ptrdiff_t s = 0; s < static_cast<std::ptrdiff_t>(sections.size()); ++s)
    checksums[static_cast<std::size_t>(s)] =
        xxh64(sections[static_cast<std::size_t>(s)].data, sections[static_cast<std::size_t>(s)].size);
  std::uint64_t offset = round8(header_size);
  for (std::size_t s = 0; s < sections.size(); ++s) {
    const std::size_t entry = kFixedHeader + kSectionEntry * s;
    put<std::uint32_t>(header, entry, sections[s].kind);
    put<std::uint64_t>(header, entry + 8, offset);
    put<std::uint64_t>(header, entry + 16, sections[s].size);
    put<std::uint64_t>(header, entry + 24, checksums[s]);
    offset += round8(sections[s].size);
  }
  put<std::uint64_t>(header, header_size - 8, xxh64(header.data(), header_size - 8));

  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) throw InputError(path, 0, 0, std::string("cannot write: ") + std::strerror(errno));
  static const char zeros[8] = {};
  bool ok = std::fwrite(header.data(), 1, header.size(), file) == header.size();
  ok = ok &&
       std::fwrite(zeros, 1, round8(header_size) - header_size, file) == round8(header_size) - header_size;
  for (const auto& section : sections) {
    ok = ok && (section.size == 0 || std::fwrite(section.data, 1, section.size, file) == section.size);
    const std::size_t pad = round8(section.size) - section.size;
    ok = ok && std::fwrite(zeros, 1, pad, file) == pad;
  }
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

Comparisons load_comparison_cache(const std::string& path, const ComparisonColumns& columns) {
  const MappedFile file(path);
  const unsigned char* p = file.data();
  const std::size_t size = file.size();
  auto corrupt = [&](const std::string& what) {
    return InputError(path, 0, 0, "corrupt btfit cache (" + what + "); write it again with btfit convert");
  };
  auto truncated = [&](std::uint64_t expected) {
    return InputError(path, 0, 0,
                      "truncated btfit cache: " + std::to_string(size) + " bytes, expected " +
                          std::to_string(expected) + "; write it again with btfit convert");
  };
  if (size < kFixedHeader) throw truncated(kFixedHeader);
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) throw corrupt("no magic bytes");
  const auto version = get<std::uint32_t>(p + 8);
  if (version != kVersion)
    throw InputError(path, 0, 0,
                     "btfit cache of format version " + std::to_string(version) +
                         ", and this btfit reads version " + std::to_string(kVersion) +
                         "; write it again with this btfit's convert");
  if (!little_endian())
    throw InputError(path, 0, 0, "the binary cache is read on little-endian machines only");
  const auto header_size = get<std::uint32_t>(p + 12);
  const auto n_sections = get<std::uint32_t>(p + 60);
  if (header_size != kFixedHeader + kSectionEntry * std::uint64_t{n_sections} + 8 || n_sections > 64)
    throw corrupt("bad header size");
  if (size < header_size) throw truncated(header_size);
  if (xxh64(p, header_size - 8) != get<std::uint64_t>(p + header_size - 8))
    throw corrupt("header checksum mismatch");
  const auto n = get<std::uint64_t>(p + 16);
  const auto m = get<std::uint64_t>(p + 24);
  const auto n_clusters = get<std::uint64_t>(p + 32);
  const auto source_size = get<std::uint64_t>(p + 40);
  const auto source_mtime = get<std::int64_t>(p + 48);
  const auto flags = get<std::uint32_t>(p + 56);

  struct Entry {
    std::uint64_t offset = 0, size = 0, checksum = 0;
    bool present = false;
  };
  Entry entries[kCluster + 1];
  std::uint64_t end = header_size;
  for (std::uint32_t s = 0; s < n_sections; ++s) {
    const unsigned char* e = p + kFixedHeader + kSectionEntry * s;
    const auto kind = get<std::uint32_t>(e);
    if (kind < kSource || kind > kCluster) continue;  // unknown sections are skipped
    Entry& entry = entries[kind];
    entry.offset = get<std::uint64_t>(e + 8);
    entry.size = get<std::uint64_t>(e + 16);
    entry.checksum = get<std::uint64_t>(e + 24);
    entry.present = true;
    if (entry.offset % 8 != 0 || entry.offset < header_size || entry.offset + entry.size < entry.offset)
      throw corrupt("bad section offset");
    end = std::max(end, entry.offset + entry.size);
  }
  if (size < end) throw truncated(round8(end));
  auto expect = [&](std::uint32_t kind, std::uint64_t bytes, bool wanted) {
    if (entries[kind].present != wanted || (wanted && entries[kind].size != bytes))
      throw corrupt("section " + std::to_string(kind) + " has the wrong size");
  };
  expect(kNameOffsets, (m + 1) * 8, true);
  expect(kA, n * 4, true);
  expect(kB, n * 4, true);
  expect(kOutcome, n, true);
  expect(kWeight, n * 8, (flags & kFlagWeights) != 0);
  expect(kHome, n, (flags & kFlagHome) != 0);
  expect(kCluster, n * 4, (flags & kFlagCluster) != 0);
  auto text = [&](std::uint32_t kind) {
    const Entry& e = entries[kind];
    if (!e.present) return std::string();
    if (xxh64(p + e.offset, e.size) != e.checksum)
      throw corrupt("section " + std::to_string(kind) + " checksum mismatch");
    return std::string(reinterpret_cast<const char*>(p + e.offset), e.size);
  };

  // Stale: the source still exists and is not the file the cache was made from.
  const std::string source = text(kSource);
  const SourceStamp now = stamp(source);
  if (now.exists && (now.size != source_size || now.mtime_ns != source_mtime))
    throw InputError(path, 0, 0,
                     "stale btfit cache: its source " + source + " changed since the cache was written (" +
                         (now.size != source_size ? "size " + std::to_string(source_size) + " -> " +
                                                        std::to_string(now.size) + " bytes"
                                                  : std::string("modification time")) +
                         "); write it again with btfit convert");

  // The column options: none given takes the cache as it is; any given must match.
  const auto recorded = parse_options(text(kOptions));
  const bool cache_home = (flags & kFlagHome) != 0;
  if (!default_columns(columns)) {
    const auto asked = parse_options(options_text(columns));
    for (const char* key : {"winner", "loser", "a", "b", "outcome", "count", "neutral", "cluster"}) {
      const auto r = recorded.find(key);
      const auto a = asked.find(key);
      if ((r == recorded.end() ? std::string() : r->second) != a->second)
        throw InputError(path, 0, 0,
                         "this btfit cache was converted with " + as_flags(recorded) +
                             ", and this run asks for " + as_flags(asked) +
                             "; convert the source again with these options");
    }
  }
  if (columns.home_flags && !cache_home)
    throw InputError(path, 0, 0,
                     "this btfit cache has no home flags: convert the source again with --home-advantage");

  Comparisons data;
  data.a.resize(n);
  data.b.resize(n);
  data.outcome2.resize(n);
  if (flags & kFlagWeights) data.weight.resize(n);
  if (cache_home && columns.home_flags) data.at_home.resize(n);
  const bool keep_cluster = (flags & kFlagCluster) != 0 && !columns.cluster.empty();
  if (keep_cluster) data.cluster.resize(n);
  std::vector<char> names(entries[kNames].size);
  std::vector<std::uint64_t> name_offsets(m + 1);
  std::vector<std::pair<std::uint32_t, void*>> copies = {
      {kA, data.a.data()},
      {kB, data.b.data()},
      {kOutcome, data.outcome2.data()},
      {kNames, names.data()},
      {kNameOffsets, name_offsets.data()},
  };
  if (flags & kFlagWeights) copies.emplace_back(kWeight, data.weight.data());
  if (!data.at_home.empty()) copies.emplace_back(kHome, data.at_home.data());
  if (keep_cluster) copies.emplace_back(kCluster, data.cluster.data());
  // Each section: checksum and copy out in pieces, the mapped pages handed back behind.
  std::vector<int> bad(copies.size(), 0);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(copies.size()); ++i) {
    const Entry& e = entries[copies[static_cast<std::size_t>(i)].first];
    auto* out = static_cast<unsigned char*>(copies[static_cast<std::size_t>(i)].second);
    Xxh64 hash;
    constexpr std::size_t kPiece = std::size_t{8} << 20;
    for (std::uint64_t done = 0; done < e.size; done += kPiece) {
      const std::size_t piece = static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, e.size - done));
      hash.update(p + e.offset + done, piece);
      std::memcpy(out + done, p + e.offset + done, piece);
      file.release(static_cast<std::size_t>(e.offset + done), piece);
    }
    bad[static_cast<std::size_t>(i)] = hash.digest() != e.checksum;
  }
  for (std::size_t i = 0; i < copies.size(); ++i)
    if (bad[i]) throw corrupt("section " + std::to_string(copies[i].first) + " checksum mismatch");

  // Values in range: ids below the counts, outcomes 0/1/2, names within the blob.
  if (name_offsets[0] != 0 || name_offsets[m] != names.size()) throw corrupt("bad item name offsets");
  for (std::size_t i = 0; i < m; ++i)
    if (name_offsets[i + 1] < name_offsets[i]) throw corrupt("bad item name offsets");
  data.item_names.resize(m);
  for (std::size_t i = 0; i < m; ++i)
    data.item_names[i].assign(names.data() + name_offsets[i], names.data() + name_offsets[i + 1]);
  bool in_range = true;
#pragma omp parallel for reduction(&& : in_range) schedule(static)
  for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(n); ++k) {
    const auto j = static_cast<std::size_t>(k);
    in_range = in_range && data.a[j] < m && data.b[j] < m && data.a[j] != data.b[j] &&
               data.outcome2[j] <= 2 && (!keep_cluster || data.cluster[j] < n_clusters);
  }
  if (!in_range) throw corrupt("an item id or outcome out of range");
  return data;
}

}  // namespace btfit
