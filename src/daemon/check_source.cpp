#include "daemon/check_source.hpp"

#include <algorithm>

#include "common/pi_mutex.hpp"
#include "common/worker.hpp"
#include "daemon/text_stream.hpp"

namespace l4lb::daemon {

CheckList::CheckList(CheckCopies checks) : checks_(std::move(checks)) {
  std::sort(checks_.begin(), checks_.end(), by_key);
}

void CheckList::services(const std::vector<std::string>& names, CheckCopies& out) {
  for (const auto& name : names) {
    auto it =
        std::lower_bound(checks_.begin(), checks_.end(), name,
                         [](const auto& c, const std::string& n) { return c.first.service < n; });
    for (; it != checks_.end() && it->first.service == name; ++it) out.push_back(*it);
  }
}

bool CheckList::next(std::optional<health::BackendKey>& cursor, std::size_t max, CheckCopies& out) {
  auto it = cursor ? std::upper_bound(
                         checks_.begin(), checks_.end(), *cursor,
                         [](const health::BackendKey& k, const auto& c) { return k < c.first; })
                   : checks_.begin();
  for (std::size_t n = 0; it != checks_.end() && n < max; ++it, ++n) {
    out.push_back(*it);
    cursor = it->first;
  }
  return it == checks_.end();
}

// The loop (SCHED_RR under realtime_priority) and the render worker (nice +10) share it: a
// plain mutex let a preempted worker hold the loop for 8 ms (futex waits traced in the
// stability bench's storm); under priority inheritance the worker runs at the loop's priority
// until it lets go.
struct LoopChecks::Exchange {
  PiMutex mutex;
  std::condition_variable_any answered;
  bool ready = false;
  bool aborted = false;
  CheckCopies copies;
  std::optional<health::BackendKey> cursor;
  bool last = true;

  void abort() {
    {
      std::lock_guard<PiMutex> lock(mutex);
      aborted = true;
    }
    answered.notify_all();
  }
};

LoopChecks::LoopChecks(Worker& worker, std::function<const health::Monitor*()> monitor)
    : worker_(worker), monitor_(std::move(monitor)), exchange_(std::make_shared<Exchange>()) {}

std::function<void()> LoopChecks::abort_handle() const {
  return [x = exchange_] { x->abort(); };
}

void LoopChecks::send(std::size_t expected, Read read) {
  {
    std::lock_guard<PiMutex> lock(exchange_->mutex);
    if (exchange_->aborted) throw TextStream::Aborted();
    exchange_->ready = false;
    exchange_->copies.clear();
    // Room made here, on the worker: growing it on the loop (and faulting its pages in) made
    // the first read of a rendering hold the loop for ~3 ms.
    exchange_->copies.reserve(expected);
  }
  worker_.send_to_loop([x = exchange_, monitor = monitor_, read = std::move(read)] {
    {
      std::lock_guard<PiMutex> lock(x->mutex);
      read(monitor(), *x);
      x->ready = true;
    }
    x->answered.notify_all();
  });
  in_flight_ = true;
}

void LoopChecks::wait() {
  std::unique_lock<PiMutex> lock(exchange_->mutex);
  exchange_->answered.wait(lock, [&] { return exchange_->ready || exchange_->aborted; });
  in_flight_ = false;
  if (!exchange_->ready) throw TextStream::Aborted();
}

void LoopChecks::take(CheckCopies& out) {
  std::lock_guard<PiMutex> lock(exchange_->mutex);
  std::move(exchange_->copies.begin(), exchange_->copies.end(), std::back_inserter(out));
}

LoopChecks::Read LoopChecks::slice(const std::optional<health::BackendKey>& from, std::size_t max) {
  return [from, max](const health::Monitor* m, Exchange& x) {
    x.cursor = from;
    x.last = m ? m->copy_slice(x.cursor, max, x.copies) : true;
  };
}

void LoopChecks::services(const std::vector<std::string>& names, CheckCopies& out) {
  if (in_flight_) wait();  // a read ahead nobody asked for after all: let it land
  prefetched_.reset();
  // Room for 8 checks a service (a guess: the room stays for the rendering's later reads).
  send(8 * names.size(), [names](const health::Monitor* m, Exchange& x) {
    if (m)
      for (const auto& name : names) m->copy_service(name, x.copies);
  });
  wait();
  take(out);
}

bool LoopChecks::next(std::optional<health::BackendKey>& cursor, std::size_t max,
                      CheckCopies& out) {
  const bool ahead =
      in_flight_ && prefetched_ && prefetched_->first == cursor && prefetched_->second == max;
  if (!ahead) {
    if (in_flight_) wait();
    send(max, slice(cursor, max));
  }
  prefetched_.reset();
  wait();
  take(out);
  bool last;
  {
    std::lock_guard<PiMutex> lock(exchange_->mutex);
    cursor = exchange_->cursor;
    last = exchange_->last;
  }
  // The next slice is copied on the loop while the caller writes this one: a pass over the
  // checks waits for the loop once, not once a slice.
  if (!last) {
    send(max, slice(cursor, max));
    prefetched_.emplace(cursor, max);
  }
  return last;
}

}  // namespace l4lb::daemon
