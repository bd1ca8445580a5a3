#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace btfit {

namespace {

std::string megabytes(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

// 12345678 -> "12,345,678"
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

LoadProgress::LoadProgress(bool enabled, std::string name, const char* noun, std::uint64_t total_bytes)
    : active_(enabled && ::isatty(STDERR_FILENO) == 1),
      name_(std::move(name)),
      noun_(noun),
      total_bytes_(total_bytes),
      start_(std::chrono::steady_clock::now()) {
  if (active_) worker_ = std::thread([this] { run(); });
}

LoadProgress::~LoadProgress() {
  if (!active_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
  if (printed_) print(true);
}

void LoadProgress::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) return;
  while (true) {
    print(false);
    if (wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) return;
  }
}

void LoadProgress::print(bool final) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::uint64_t bytes = bytes_.load(std::memory_order_relaxed);
  const std::uint64_t total = total_bytes_.load(std::memory_order_relaxed);
  std::string line = "btfit: reading " + name_ + ": " + megabytes(bytes);
  if (total > 0) {
    char share[32];
    std::snprintf(share, sizeof share, " of %s (%.0f%%)", megabytes(total).c_str(),
                  100.0 * static_cast<double>(std::min(bytes, total)) / static_cast<double>(total));
    line += share;
  }
  char tail[64];
  std::snprintf(tail, sizeof tail, ", %.1f s", seconds);
  line += ", " + grouped(records_.load(std::memory_order_relaxed)) + " " + noun_ + tail;
  std::fprintf(stderr, "\r%-79s%s", line.c_str(), final ? "\n" : "");
  std::fflush(stderr);
  printed_ = true;
}

}  // namespace btfit
