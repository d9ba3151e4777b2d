#include "daemon/text_stream.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>

#include "common/log.hpp"

namespace l4lb::daemon {

TextStream::TextStream(Limits limits, std::function<void(Piece)> publish)
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
  // The text and its ticket apart: a reader that falls behind keeps the text, not the ticket.
  Ticket ticket(nullptr, [shared](const void*) {
    bool wake;
    {
      std::lock_guard<PiMutex> lock(shared->mutex);
      wake = --shared->live <= shared->resume_at && shared->waiting;
    }
    if (wake) shared->freed.notify_all();
  });
  Chunk text = std::make_shared<const std::string>(std::move(buffer_));
  buffer_ = std::string();
  buffer_.reserve(limits_.chunk_bytes + limits_.chunk_bytes / 4);
  publish_(Piece{std::move(text), std::move(ticket)});
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

// Loop thread only, like the fanout; the readers' copies of a chunk report back to it when
// they are let go of (after the write, or when the session closes).
struct TextFanout::State {
  struct Slot {
    TextStream::Ticket ticket;
    std::size_t holders = 0;  // readers in step that still hold the chunk
  };
  struct ReaderState {
    std::uint64_t id;
    Reader fn;
    bool in_step = true;
    std::size_t bytes = 0;                // received, not yet written
    std::map<std::uint64_t, bool> holds;  // chunk -> counted toward its ticket
  };
  Limits limits;
  std::string what;
  std::map<std::uint64_t, Slot> window;  // chunk sequence -> its ticket
  std::vector<ReaderState> readers;
  std::uint64_t next_seq = 0, next_id = 0;
  bool pressed = false, busy = false;
  std::function<void()> on_drop;

  void uncount(std::uint64_t seq) {
    auto it = window.find(seq);
    if (it != window.end() && --it->second.holders == 0) window.erase(it);
  }
  ReaderState* find(std::uint64_t id) {
    for (auto& r : readers)
      if (r.id == id) return &r;
    return nullptr;
  }
  void fall_behind(ReaderState& r) {
    r.in_step = false;
    for (auto& [seq, counted] : r.holds)
      if (counted) {
        counted = false;
        uncount(seq);
      }
  }
  // Returns the reader's function, to be destroyed by the caller once the reader is gone (it
  // may own a session whose chunks report back here as it goes).
  [[nodiscard]] Reader remove(std::uint64_t id) {
    auto it = std::find_if(readers.begin(), readers.end(), [&](auto& r) { return r.id == id; });
    if (it == readers.end()) return nullptr;
    fall_behind(*it);
    Reader fn = std::move(it->fn);
    readers.erase(it);
    return fn;
  }
  // A reader's copy of chunk `seq` is gone.
  void release(std::uint64_t id, std::uint64_t seq, std::size_t size) {
    ReaderState* r = find(id);
    if (!r) return;
    r->bytes -= size;
    auto h = r->holds.find(seq);
    if (h != r->holds.end()) {
      if (h->second) uncount(seq);
      r->holds.erase(h);
    }
    if (!r->in_step && r->holds.empty()) r->in_step = true;  // caught up
    if (!busy) rebalance();
  }
  // The window is full: the worker waits. Readers holding the oldest chunk fall out of step
  // when another reader in step has written it already, or when someone else waits.
  void rebalance() {
    while (window.size() >= limits.max_live) {
      const std::uint64_t oldest = window.begin()->first;
      bool someone_ahead = false;
      for (const auto& r : readers)
        if (r.in_step && !r.holds.count(oldest)) someone_ahead = true;
      if (!someone_ahead && !pressed) return;  // equally slow: backpressure
      std::size_t fell = 0;
      for (auto& r : readers) {
        auto h = r.holds.find(oldest);
        if (r.in_step && h != r.holds.end() && h->second) {
          fall_behind(r);
          ++fell;
        }
      }
      if (fell == 0) return;
      log::debug("{}: {} reader(s) fell behind, kept apart (up to {} bytes each)", what, fell,
                 limits.reader_cap);
    }
  }
};

TextFanout::TextFanout() : TextFanout(Limits{}) {}

TextFanout::TextFanout(Limits limits, std::string what) : state_(std::make_shared<State>()) {
  state_->limits = limits;
  state_->limits.max_live = std::max<std::size_t>(1, limits.max_live);
  state_->what = std::move(what);
}

TextFanout::~TextFanout() {
  if (!state_) return;  // moved from
  // Readers still holding copies find no reader state, and the tickets go now. Moved out
  // first: a reader going may let go of copies, which look at the state.
  auto readers = std::move(state_->readers);
  state_->readers.clear();
  auto window = std::move(state_->window);
  state_->window.clear();
}

void TextFanout::add(Reader reader) {
  state_->readers.push_back(State::ReaderState{state_->next_id++, std::move(reader), true, 0, {}});
}

bool TextFanout::empty() const { return state_->readers.empty(); }

void TextFanout::on_drop(std::function<void()> counted) { state_->on_drop = std::move(counted); }

void TextFanout::press() {
  state_->pressed = true;
  if (!state_->busy) state_->rebalance();
}

void TextFanout::chunk(TextStream::Piece piece) {
  State& s = *state_;
  if (s.readers.empty()) return;
  const std::uint64_t seq = s.next_seq++;
  const std::size_t size = piece.text->size();
  s.busy = true;
  // First every reader's share (so that one writing its copy at once cannot free the ticket
  // before the others are counted), then the calls.
  struct Share {
    std::uint64_t id;
    TextStream::Chunk copy;
  };
  std::vector<Share> shares;
  std::vector<std::uint64_t> over_cap;
  State::Slot slot{std::move(piece.ticket), 0};
  for (auto& r : s.readers) {
    if (!r.in_step && r.bytes + size > s.limits.reader_cap) {
      over_cap.push_back(r.id);
      continue;
    }
    r.bytes += size;
    r.holds[seq] = r.in_step;
    if (r.in_step) ++slot.holders;
    shares.push_back(
        {r.id, TextStream::Chunk(piece.text.get(),
                                 [state = state_, text = piece.text, id = r.id, seq,
                                  size](const std::string*) { state->release(id, seq, size); })});
  }
  if (slot.holders > 0) s.window.emplace(seq, std::move(slot));
  for (std::uint64_t id : over_cap) {
    State::ReaderState* r = s.find(id);
    if (!r) continue;
    log::warning(
        "{}: a client fell more than {} bytes behind the others (the slow-reader cap) and was "
        "disconnected",
        s.what, s.limits.reader_cap);
    if (s.on_drop) s.on_drop();
    Reader fn = s.remove(id);
    if (fn) fn(Event::failed, nullptr);
  }
  for (auto& share : shares) {
    State::ReaderState* r = s.find(share.id);
    if (!r) continue;
    const bool keep = r->fn(Event::chunk, share.copy);
    share.copy.reset();  // a reader that did not keep it has written it
    if (!keep) (void)s.remove(share.id);
  }
  s.busy = false;
  if (s.readers.empty()) {
    if (abort_) abort_();
    return;
  }
  s.rebalance();
}

void TextFanout::end(bool complete) { deliver(complete ? Event::end : Event::failed, nullptr); }

void TextFanout::deliver(Event event, const TextStream::Chunk& chunk) {
  State& s = *state_;
  if (s.readers.empty()) return;
  s.busy = true;
  std::vector<Reader> fns;
  while (!s.readers.empty()) fns.push_back(s.remove(s.readers.front().id));
  for (auto& fn : fns) fn(event, chunk);
  s.busy = false;
}

std::size_t TextFanout::tickets() const { return state_->window.size(); }

std::size_t TextFanout::out_of_step() const {
  return static_cast<std::size_t>(std::count_if(state_->readers.begin(), state_->readers.end(),
                                                [](const auto& r) { return !r.in_step; }));
}

std::size_t TextFanout::backlog_bytes() const {
  std::size_t n = 0;
  for (const auto& r : state_->readers) n += r.bytes;
  return n;
}

}  // namespace l4lb::daemon
