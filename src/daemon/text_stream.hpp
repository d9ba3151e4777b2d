// A rendering's text on its way from the render worker to the sockets that wait for it, in
// bounded chunks. A full status of 10,000 services x 8 backends is ~143 MB and a scrape ~74 MB:
// rendered whole, each was one string per rendering, alive until the slowest client had read
// it (RSS peaks of ~500 MiB with two status clients and two scrapers).
//
// The worker appends to buffer(); each time a chunk is full it is published (handed to the
// loop by `publish`) with a ticket. A chunk counts as live until its ticket is gone; once
// `max_live` tickets are alive the worker waits (off the loop) until half of them are gone.
// The loop's TextFanout holds each ticket until every reader that keeps pace has written the
// chunk; a reader that falls behind keeps its chunks' text privately, without their tickets
// (see TextFanout). A stream that gets no ticket freed within `stall` is aborted: the worker
// stops rendering it (the backstop; sessions drop readers that make no progress first).
// Readers see chunks in order; concatenated, they are exactly the text, wherever the
// boundaries fall.
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
  // Alive while the chunk counts toward max_live; its text lives on in `text` alone.
  using Ticket = std::shared_ptr<const void>;
  struct Piece {
    Chunk text;
    Ticket ticket;
  };
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
  TextStream(Limits limits, std::function<void(Piece)> publish);
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
  std::function<void(Piece)> publish_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::string buffer_;
};

// The loop's end of a rendering: hands each chunk to every reader waiting for that text.
// A reader gets each chunk in order and then one end event (complete, or failed: the text
// stopped short). It returns false when it wants nothing more (its connection is gone); once
// no reader is left, the rendering is aborted.
//
// Slow readers (Redis's client-output-buffer-limit is the precedent): the fanout holds each
// chunk's ticket while a reader in step still holds the chunk, so the worker goes at the pace
// of the readers in step. When the tickets reach max_live (the worker waits) and the oldest
// chunk is held by some readers but already written by another, or someone else waits for
// the worker (`press`: a request for the next rendering, another text of this one), the
// readers holding it fall out of step: their unwritten chunks stop counting, and they keep
// taking chunks privately, up to `reader_cap` bytes unwritten; one over its cap is dropped
// (failed, a log line, `on_drop`). A reader out of step whose backlog empties is in step again.
// A lone reader, or readers all equally slow, hold the worker back as before (the sessions'
// own timeouts and the stream's stall limit bound that).
class TextFanout {
 public:
  enum class Event { chunk, end, failed };
  using Reader = std::function<bool(Event event, const TextStream::Chunk& chunk)>;
  struct Limits {
    std::size_t max_live = 4;                   // TextStream::Limits::max_live of the text
    std::size_t reader_cap = 16 * 1024 * 1024;  // unwritten bytes of a reader out of step
  };
  // `what` names the text in the log line of a dropped reader.
  TextFanout();  // the default Limits
  explicit TextFanout(Limits limits, std::string what = "text");
  ~TextFanout();
  TextFanout(TextFanout&&) = default;
  TextFanout& operator=(TextFanout&&) = delete;

  void add(Reader reader);
  bool empty() const;
  // Aborts the rendering when the last reader goes (TextStream::abort_handle).
  void on_empty(std::function<void()> abort) { abort_ = std::move(abort); }
  // Called for each reader dropped over its cap (a counter).
  void on_drop(std::function<void()> counted);
  // Someone else waits for the worker: a full window no longer waits for the slowest reader.
  void press();

  void chunk(TextStream::Piece piece);
  void chunk(const TextStream::Chunk& text) { chunk(TextStream::Piece{text, nullptr}); }
  void end(bool complete);

  // For tests and logs: tickets held, readers out of step, unwritten bytes of all readers.
  std::size_t tickets() const;
  std::size_t out_of_step() const;
  std::size_t backlog_bytes() const;

 private:
  struct State;
  void deliver(Event event, const TextStream::Chunk& chunk);
  std::shared_ptr<State> state_;
  std::function<void()> abort_;
};

// The reader of a session that writes a text to its socket (the control socket's reply, an
// HTTP scrape): chunks are queued in `session->pending`, the end sets `session->ended`, and
// `session->pump()` writes what is queued; a text that stopped short closes the session (no
// partial reply). It wants nothing more once the session is closed (`session->open()`).
template <typename Session>
TextFanout::Reader session_reader(std::shared_ptr<Session> session) {
  return [session = std::move(session)](TextFanout::Event e, const TextStream::Chunk& chunk) {
    if (!session->open()) return false;
    if (e == TextFanout::Event::failed) {
      session->close();
      return false;
    }
    if (e == TextFanout::Event::end)
      session->ended = true;
    else
      session->pending.push_back(chunk);
    session->pump();
    return e == TextFanout::Event::chunk;
  };
}

}  // namespace l4lb::daemon
