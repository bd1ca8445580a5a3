#include "decompress.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "btfit/error.h"

#if defined(BTFIT_WITH_ZLIB)
#include <zlib.h>
#endif
#if defined(BTFIT_WITH_ZSTD)
#include <zstd.h>
#endif

namespace btfit {

namespace {

constexpr std::size_t kCompressedBlockBytes = std::size_t{1} << 20;  // input read per call
constexpr std::size_t kPrefetchBlockBytes = std::size_t{4} << 20;    // decompressed block
constexpr std::size_t kPrefetchBlocks = 3;

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// A file descriptor (standard input or an opened file), with the bytes read to recognize the
// compression served first.
class FdSource : public ByteSource {
 public:
  FdSource(int fd, bool owned, std::string name, std::string head)
      : fd_(fd), owned_(owned), name_(std::move(name)), head_(std::move(head)) {
    raw_bytes_ = head_.size();
  }
  ~FdSource() override {
    if (owned_) ::close(fd_);
  }
  std::size_t read(char* out, std::size_t capacity) override {
    if (head_pos_ < head_.size()) {
      const std::size_t n = std::min(capacity, head_.size() - head_pos_);
      std::memcpy(out, head_.data() + head_pos_, n);
      head_pos_ += n;
      return n;
    }
    while (true) {
      const ssize_t got = ::read(fd_, out, capacity);
      if (got >= 0) {
        raw_bytes_.fetch_add(static_cast<std::uint64_t>(got), std::memory_order_relaxed);
        return static_cast<std::size_t>(got);
      }
      if (errno != EINTR) throw InputError(name_, 0, 0, std::string("read error: ") + std::strerror(errno));
    }
  }

 private:
  int fd_;
  bool owned_;
  std::string name_;
  std::string head_;
  std::size_t head_pos_ = 0;
};

class RangeSource : public ByteSource {
 public:
  RangeSource(int fd, std::string name, std::uint64_t begin, std::uint64_t end)
      : fd_(fd), name_(std::move(name)), pos_(begin), end_(end) {}
  std::size_t read(char* out, std::size_t capacity) override {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(capacity, end_ - pos_));
    std::size_t done = 0;
    while (done < want) {
      const ssize_t got = ::pread(fd_, out + done, want - done, static_cast<off_t>(pos_ + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw InputError(name_, 0, 0, std::string("read error: ") + std::strerror(errno));
      if (got == 0) throw InputError(name_, 0, 0, "the file became shorter while it was read");
      done += static_cast<std::size_t>(got);
    }
    pos_ += done;
    raw_bytes_.fetch_add(done, std::memory_order_relaxed);
    return done;
  }

 private:
  int fd_;
  std::string name_;
  std::uint64_t pos_;
  std::uint64_t end_;
};

#if defined(BTFIT_WITH_ZLIB)
// gzip (and zlib) streams, several members in a row as pigz and bgzip write them.
class GzipSource : public ByteSource {
 public:
  GzipSource(std::unique_ptr<ByteSource> raw, std::string name)
      : raw_(std::move(raw)), name_(std::move(name)), input_(kCompressedBlockBytes) {
    std::memset(&stream_, 0, sizeof stream_);
    if (inflateInit2(&stream_, 15 + 32) != Z_OK)
      throw InputError(name_, 0, 0, "cannot start gzip decompression");
  }
  ~GzipSource() override { inflateEnd(&stream_); }
  std::uint64_t raw_bytes() const override { return raw_->raw_bytes(); }

  std::size_t read(char* out, std::size_t capacity) override {
    if (done_) return 0;
    stream_.next_out = reinterpret_cast<Bytef*>(out);
    stream_.avail_out = static_cast<uInt>(std::min<std::size_t>(capacity, 1u << 30));
    while (stream_.avail_out > 0) {
      if (stream_.avail_in == 0 && !input_end_) {
        const std::size_t got = raw_->read(input_.data(), input_.size());
        if (got == 0) {
          input_end_ = true;
        } else {
          stream_.next_in = reinterpret_cast<Bytef*>(input_.data());
          stream_.avail_in = static_cast<uInt>(got);
        }
      }
      if (stream_.avail_in == 0 && input_end_) {
        if (in_member_)
          throw InputError(name_, 0, 0, "unexpected end of the gzip data (is the file truncated?)");
        done_ = true;
        break;
      }
      in_member_ = true;
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        in_member_ = false;
        inflateReset(&stream_);  // another member may follow
        continue;
      }
      if (rc == Z_BUF_ERROR && stream_.avail_in == 0) continue;  // needs more input
      if (rc != Z_OK)
        throw InputError(name_, 0, 0,
                         std::string("corrupt gzip data: ") + (stream_.msg ? stream_.msg : "inflate failed"));
    }
    return capacity - stream_.avail_out;
  }

 private:
  std::unique_ptr<ByteSource> raw_;
  std::string name_;
  std::vector<char> input_;
  z_stream stream_;
  bool input_end_ = false;
  bool in_member_ = false;
  bool done_ = false;
};
#endif

#if defined(BTFIT_WITH_ZSTD)
class ZstdSource : public ByteSource {
 public:
  ZstdSource(std::unique_ptr<ByteSource> raw, std::string name)
      : raw_(std::move(raw)),
        name_(std::move(name)),
        input_(ZSTD_DStreamInSize()),
        context_(ZSTD_createDCtx()) {
    if (context_ == nullptr) throw InputError(name_, 0, 0, "cannot start zstd decompression");
  }
  ~ZstdSource() override { ZSTD_freeDCtx(context_); }
  std::uint64_t raw_bytes() const override { return raw_->raw_bytes(); }

  std::size_t read(char* out, std::size_t capacity) override {
    ZSTD_outBuffer output{out, capacity, 0};
    while (output.pos < output.size) {
      if (in_.pos == in_.size && !input_end_) {
        const std::size_t got = raw_->read(input_.data(), input_.size());
        if (got == 0) input_end_ = true;
        in_ = ZSTD_inBuffer{input_.data(), got, 0};
      }
      if (in_.pos == in_.size && input_end_) {
        if (pending_ != 0)
          throw InputError(name_, 0, 0, "unexpected end of the zstd data (is the file truncated?)");
        break;
      }
      pending_ = ZSTD_decompressStream(context_, &output, &in_);
      if (ZSTD_isError(pending_))
        throw InputError(name_, 0, 0, std::string("corrupt zstd data: ") + ZSTD_getErrorName(pending_));
    }
    return output.pos;
  }

 private:
  std::unique_ptr<ByteSource> raw_;
  std::string name_;
  std::vector<char> input_;
  ZSTD_DCtx* context_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  std::size_t pending_ = 0;  // 0: at a frame boundary
  bool input_end_ = false;
};
#endif

// Runs another source on a thread of its own, a few blocks ahead of the reader, so that
// decompression and parsing overlap. Errors surface in read(), in order.
class PrefetchSource : public ByteSource {
 public:
  explicit PrefetchSource(std::unique_ptr<ByteSource> inner)
      : inner_(std::move(inner)), blocks_(kPrefetchBlocks) {
    for (auto& b : blocks_) b.data.resize(kPrefetchBlockBytes);
    worker_ = std::thread([this] { produce(); });
  }
  ~PrefetchSource() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }
  std::uint64_t raw_bytes() const override { return inner_->raw_bytes(); }

  std::size_t read(char* out, std::size_t capacity) override {
    while (true) {
      Block& block = blocks_[consumer_ % blocks_.size()];
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return block.full; });
      }
      if (block.error) std::rethrow_exception(block.error);
      if (block.pos < block.size) {
        const std::size_t n = std::min(capacity, block.size - block.pos);
        std::memcpy(out, block.data.data() + block.pos, n);
        block.pos += n;
        return n;
      }
      if (block.last) return 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        block.full = false;
      }
      changed_.notify_all();
      ++consumer_;
    }
  }

 private:
  struct Block {
    std::vector<char> data;
    std::size_t size = 0;
    std::size_t pos = 0;
    bool full = false;  // owned by the reader when true, by the worker when false
    bool last = false;
    std::exception_ptr error;
  };

  void produce() {
    for (std::size_t k = 0;; ++k) {
      Block& block = blocks_[k % blocks_.size()];
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || !block.full; });
        if (stop_) return;
      }
      block.size = 0;
      block.pos = 0;
      try {
        while (block.size < block.data.size()) {
          const std::size_t got =
              inner_->read(block.data.data() + block.size, block.data.size() - block.size);
          if (got == 0) {
            block.last = true;
            break;
          }
          block.size += got;
        }
      } catch (...) {
        block.error = std::current_exception();
        block.last = true;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        block.full = true;
      }
      changed_.notify_all();
      if (block.last) return;
    }
  }

  std::unique_ptr<ByteSource> inner_;
  std::vector<Block> blocks_;
  std::size_t consumer_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace

Compression compression_from_magic(const unsigned char* bytes, std::size_t n) {
  if (n >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return Compression::gzip;
  if (n >= 4 && bytes[0] == 0x28 && bytes[1] == 0xb5 && bytes[2] == 0x2f && bytes[3] == 0xfd)
    return Compression::zstd;
  return Compression::none;
}

const char* to_string(Compression compression) {
  switch (compression) {
    case Compression::gzip:
      return "gzip";
    case Compression::zstd:
      return "zstd";
    case Compression::none:
      break;
  }
  return "none";
}

bool built_with_compression(Compression compression) {
  switch (compression) {
    case Compression::gzip:
#if defined(BTFIT_WITH_ZLIB)
      return true;
#else
      return false;
#endif
    case Compression::zstd:
#if defined(BTFIT_WITH_ZSTD)
      return true;
#else
      return false;
#endif
    case Compression::none:
      break;
  }
  return true;
}

std::string without_compression_suffix(const std::string& path) {
  for (const char* suffix : {".gz", ".gzip", ".zst", ".zstd"})
    if (ends_with(path, suffix)) return path.substr(0, path.size() - std::strlen(suffix));
  return path;
}

std::unique_ptr<ByteSource> open_input(const std::string& path, const std::string& name, InputInfo* info) {
  InputInfo found;
  int fd = 0;
  bool owned = false;
  if (path != "-") {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      throw InputError(name, 0, 0, "is a directory, not a file");
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(name, 0, 0, std::string("cannot open: ") + std::strerror(errno));
    owned = true;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      found.regular_file = true;
      found.file_size = static_cast<std::uint64_t>(st.st_size);
    }
  }
  // Recognize the compression from the first bytes; they are served again by the source.
  std::string head(4, '\0');
  std::size_t have = 0;
  while (have < head.size()) {
    const ssize_t got = ::read(fd, head.data() + have, head.size() - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      if (owned) ::close(fd);
      throw InputError(name, 0, 0, std::string("read error: ") + std::strerror(error));
    }
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  head.resize(have);
  found.compression = compression_from_magic(reinterpret_cast<const unsigned char*>(head.data()), have);
  if (!built_with_compression(found.compression)) {
    if (owned) ::close(fd);
    throw InputError(name, 0, 0,
                     std::string("is ") + to_string(found.compression) +
                         "-compressed, and this btfit was built without " + to_string(found.compression) +
                         " support (decompress it first, or build with " +
                         (found.compression == Compression::gzip ? "zlib" : "libzstd") + ")");
  }
  found.size_hint = found.compression == Compression::none ? found.file_size : 0;
  auto raw = std::make_unique<FdSource>(fd, owned, name, std::move(head));
  std::unique_ptr<ByteSource> source;
  switch (found.compression) {
    case Compression::none:
      source = std::move(raw);
      break;
#if defined(BTFIT_WITH_ZLIB)
    case Compression::gzip:
      source = std::make_unique<PrefetchSource>(std::make_unique<GzipSource>(std::move(raw), name));
      break;
#endif
#if defined(BTFIT_WITH_ZSTD)
    case Compression::zstd:
      source = std::make_unique<PrefetchSource>(std::make_unique<ZstdSource>(std::move(raw), name));
      break;
#endif
    default:
      break;
  }
  if (info != nullptr) *info = found;
  return source;
}

std::unique_ptr<ByteSource> open_file_range(int fd, const std::string& name, std::uint64_t begin,
                                            std::uint64_t end) {
  return std::make_unique<RangeSource>(fd, name, begin, end);
}

}  // namespace btfit
