// A rendering's text on its way from the render worker to the sockets that wait for it, in
// bounded chunks. A full status of 10,000 services x 8 backends is ~143 MB and a scrape ~63 MB:
// rendered whole, each was one string per rendering, alive until the slowest client had read
// it (RSS peaks of ~500 MiB with two status clients and two scrapers).
//
// The worker appends to buffer(); each time a chunk is full it is published (handed to the
// loop by `publish`). A chunk counts as live until its last holder lets go of it, i.e. until
// every reader has written it to its socket; once `max_live` chunks are live the worker
// waits (off the loop) until half of them are gone. A stream that gets no chunk freed within
// `stall` is aborted: the worker stops rendering it (a reader that makes no progress is dropped by
// its own session before that; this is the backstop). Readers see chunks in order; concatenated,
// they are exactly the text, wherever the boundaries fall.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/pi_mutex.hpp"

namespace l4lb::daemon {

class TextStream {
 public:
  using Chunk = std::shared_ptr<const std::string>;
  struct Limits {
    std::size_t chunk_bytes = 256 * 1024;
    std::size_t max_live = 4;
    std::chrono::milliseconds stall{60000};
  };
  // Thrown into the rendering when the stream was aborted: nobody reads it any more.
  struct Aborted : std::runtime_error {
    Aborted() : std::runtime_error("text stream aborted") {}
  };

  // `publish` runs on the worker with each chunk, in order; it must not block.
  TextStream(Limits limits, std::function<void(Chunk)> publish);
  TextStream(const TextStream&) = delete;
  TextStream& operator=(const TextStream&) = delete;

  // Worker side.
  std::string& buffer() { return buffer_; }  // append here, then call flush_if_full()
  void flush_if_full();                      // publishes once chunk_bytes are buffered
  void write(std::string_view text);         // append + flush, splitting long text
  void finish();                             // publishes what is left
  // How many chunks were live at most at one time (tests, logs).
  std::size_t peak_live() const;

  // Any thread: stop the rendering (every reader is gone, or the daemon stops). The
  // worker's next flush throws Aborted. The handle stays valid after the stream is gone.
  void abort();
  std::function<void()> abort_handle() const;
  bool aborted() const;
  std::size_t live() const;

 private:
  void publish_buffer();

  struct Shared {
    mutable PiMutex mutex;
    std::condition_variable_any freed;
    std::size_t live = 0, peak = 0;
    std::size_t resume_at = 0;  // a waiting worker goes on once live is down to this
    bool waiting = false;       // the worker waits: wake it when live reaches resume_at
    bool aborted = false;
  };
  Limits limits_;
  std::function<void(Chunk)> publish_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::string buffer_;
};

// The loop's end of a rendering: hands each chunk to every reader waiting for that text.
// A reader gets each chunk in order and then one end event (complete, or failed: the text
// stopped short). It returns false when it wants nothing more (its connection is gone); once
// no reader is left, the rendering is aborted.
class TextFanout {
 public:
  enum class Event { chunk, end, failed };
  using Reader = std::function<bool(Event event, const TextStream::Chunk& chunk)>;

  void add(Reader reader) { readers_.push_back(std::move(reader)); }
  bool empty() const { return readers_.empty(); }
  // Aborts the rendering when the last reader goes (TextStream::abort_handle).
  void on_empty(std::function<void()> abort) { abort_ = std::move(abort); }

  void chunk(const TextStream::Chunk& c) { deliver(Event::chunk, c); }
  void end(bool complete) { deliver(complete ? Event::end : Event::failed, nullptr); }

 private:
  void deliver(Event event, const TextStream::Chunk& chunk);
  std::vector<Reader> readers_;
  std::function<void()> abort_;
};

}  // namespace l4lb::daemon
