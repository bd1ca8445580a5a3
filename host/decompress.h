// Where the readers get their bytes: a file or standard input, as it is or through gzip or
// zstd decompression (recognized by the first bytes, whatever the file is called), or a byte
// range of a file for one chunk of a parallel read.
//
// Decompression streams: memory is a few blocks whatever the size of the file, and it runs
// on its own thread, so that decompressing and parsing overlap. A build without zlib or
// libzstd recognizes such input all the same and says that it was built without that support.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace btfit {

enum class Compression { none, gzip, zstd };

// The compression that the first bytes of a file announce (gzip: 1f 8b; zstd: 28 b5 2f fd).
Compression compression_from_magic(const unsigned char* bytes, std::size_t n);
const char* to_string(Compression compression);
bool built_with_compression(Compression compression);

// `path` less a trailing .gz, .gzip, .zst or .zstd: the name that tells the format.
std::string without_compression_suffix(const std::string& path);

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `capacity` bytes (capacity > 0) into `out`; 0 only at the end of the input.
  // Throws InputError on a read or decompression error.
  virtual std::size_t read(char* out, std::size_t capacity) = 0;
  // Bytes taken from the file so far (compressed bytes for compressed input), for progress;
  // may be called from another thread.
  virtual std::uint64_t raw_bytes() const { return raw_bytes_.load(std::memory_order_relaxed); }

 protected:
  std::atomic<std::uint64_t> raw_bytes_{0};
};

// What open_input found.
struct InputInfo {
  Compression compression = Compression::none;
  bool regular_file = false;    // a regular file (can be split into ranges), not a pipe
  std::uint64_t file_size = 0;  // bytes on disk; 0 when unknown (standard input, a pipe)
  std::uint64_t size_hint = 0;  // bytes the reader will see; 0 when unknown (compressed)
};

// Opens `path` ("-": standard input), recognizes compression from the first bytes and
// returns the source of the (decompressed) bytes. `name` is the name used in messages.
// Throws InputError when the file cannot be opened, is a directory, or is compressed in a
// way this build cannot read.
std::unique_ptr<ByteSource> open_input(const std::string& path, const std::string& name, InputInfo* info);

// The bytes [begin, end) of an open file descriptor (not owned), read with pread: several
// ranges of one file can be read at once from several threads.
std::unique_ptr<ByteSource> open_file_range(int fd, const std::string& name, std::uint64_t begin,
                                            std::uint64_t end);

}  // namespace btfit
