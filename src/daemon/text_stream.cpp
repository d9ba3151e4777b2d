#include "daemon/text_stream.hpp"

#include <algorithm>
#include <mutex>

namespace l4lb::daemon {

TextStream::TextStream(Limits limits, std::function<void(Chunk)> publish)
    : limits_(limits), publish_(std::move(publish)) {
  limits_.chunk_bytes = std::max<std::size_t>(1, limits_.chunk_bytes);
  limits_.max_live = std::max<std::size_t>(1, limits_.max_live);
  shared_->resume_at = limits_.max_live / 2;
  // Room for a chunk and the entry that crosses its end: never a doubling of the buffer.
  buffer_.reserve(limits_.chunk_bytes + limits_.chunk_bytes / 4);
}

void TextStream::flush_if_full() {
  if (buffer_.size() >= limits_.chunk_bytes) publish_buffer();
}

void TextStream::write(std::string_view text) {
  while (!text.empty()) {
    const std::size_t room = limits_.chunk_bytes - std::min(limits_.chunk_bytes, buffer_.size());
    const std::size_t n = std::min(text.size(), std::max<std::size_t>(room, 1));
    buffer_.append(text.data(), n);
    text.remove_prefix(n);
    flush_if_full();
  }
}

void TextStream::finish() {
  if (!buffer_.empty()) publish_buffer();
  buffer_ = std::string();
}

void TextStream::publish_buffer() {
  const std::shared_ptr<Shared> shared = shared_;
  {
    std::unique_lock<PiMutex> lock(shared->mutex);
    // Wait for the slowest reader: a chunk is freed when its last reader has written it. Once
    // full, until half are gone: a woken worker then renders several chunks in a row instead
    // of one per wake-up (each wake-up of a nice +10 thread on a busy host costs milliseconds).
    if (shared->live >= limits_.max_live) {
      shared->waiting = true;
      std::size_t seen = shared->live;
      auto since = std::chrono::steady_clock::now();
      while (!shared->aborted && shared->live > shared->resume_at) {
        shared->freed.wait_for(lock, std::chrono::milliseconds(100));
        if (shared->live < seen) {
          seen = shared->live;
          since = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - since >= limits_.stall) {
          shared->aborted = true;  // nobody took a chunk for `stall`: give up this rendering
        }
      }
      shared->waiting = false;
    }
    if (shared->aborted) throw Aborted();
    shared->peak = std::max(shared->peak, ++shared->live);
  }
  auto* text = new std::string(std::move(buffer_));
  Chunk chunk(text, [shared](const std::string* s) {
    delete s;
    bool wake;
    {
      std::lock_guard<PiMutex> lock(shared->mutex);
      wake = --shared->live <= shared->resume_at && shared->waiting;
    }
    if (wake) shared->freed.notify_all();
  });
  buffer_ = std::string();
  buffer_.reserve(limits_.chunk_bytes + limits_.chunk_bytes / 4);
  publish_(std::move(chunk));
}

std::size_t TextStream::peak_live() const {
  std::lock_guard<PiMutex> lock(shared_->mutex);
  return shared_->peak;
}

void TextStream::abort() { abort_handle()(); }

std::function<void()> TextStream::abort_handle() const {
  return [shared = shared_] {
    {
      std::lock_guard<PiMutex> lock(shared->mutex);
      shared->aborted = true;
    }
    shared->freed.notify_all();
  };
}

bool TextStream::aborted() const {
  std::lock_guard<PiMutex> lock(shared_->mutex);
  return shared_->aborted;
}

std::size_t TextStream::live() const {
  std::lock_guard<PiMutex> lock(shared_->mutex);
  return shared_->live;
}

void TextFanout::deliver(Event event, const TextStream::Chunk& chunk) {
  if (readers_.empty()) return;
  std::erase_if(readers_, [&](Reader& r) { return !r(event, chunk); });
  if (event != Event::chunk) readers_.clear();
  if (readers_.empty() && event == Event::chunk && abort_) abort_();
}

}  // namespace l4lb::daemon
