// Progress of a long load on stderr: from one second after the start, one line rewritten in
// place four times a second with the bytes read (and the share of the file when its size is
// known) and the records so far; a last line with the totals when it is done. Only when
// enabled and stderr is a terminal: nothing is written to a file or a pipe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace btfit {

class LoadProgress {
 public:
  // `noun` names the records ("comparisons", "rows"); total_bytes = 0 when unknown.
  LoadProgress(bool enabled, std::string name, const char* noun, std::uint64_t total_bytes);
  ~LoadProgress();
  LoadProgress(const LoadProgress&) = delete;
  LoadProgress& operator=(const LoadProgress&) = delete;

  // Counts bytes read from the file and records parsed; any thread may call it.
  void add(std::uint64_t bytes, std::uint64_t records) {
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
    records_.fetch_add(records, std::memory_order_relaxed);
  }
  void set_total_bytes(std::uint64_t total) { total_bytes_.store(total, std::memory_order_relaxed); }
  // Sets the bytes read so far (a parallel read starts over after the header).
  void set_bytes(std::uint64_t bytes) { bytes_.store(bytes, std::memory_order_relaxed); }
  bool active() const { return active_; }

 private:
  void run();
  void print(bool final);

  bool active_ = false;
  std::string name_;
  const char* noun_;
  std::atomic<std::uint64_t> total_bytes_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> records_{0};
  std::chrono::steady_clock::time_point start_;
  bool printed_ = false;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread worker_;
};

}  // namespace btfit
