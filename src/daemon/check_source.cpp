#include "daemon/check_source.hpp"

#include <algorithm>

#include "common/worker.hpp"
#include "daemon/text_stream.hpp"

namespace l4lb::daemon {

namespace {
bool key_less(const health::Monitor::Copy& a, const health::Monitor::Copy& b) {
  return a.first < b.first;
}
}  // namespace

CheckList::CheckList(CheckCopies checks) : checks_(std::move(checks)) {
  std::sort(checks_.begin(), checks_.end(), key_less);
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

struct LoopChecks::Exchange {
  std::mutex mutex;
  std::condition_variable answered;
  bool ready = false;
  bool aborted = false;
  CheckCopies copies;
  std::optional<health::BackendKey> cursor;
  bool last = true;

  void abort() {
    {
      std::lock_guard<std::mutex> lock(mutex);
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

void LoopChecks::ask(std::size_t expected,
                     std::function<void(const health::Monitor*, Exchange&)> read) {
  {
    std::lock_guard<std::mutex> lock(exchange_->mutex);
    if (exchange_->aborted) throw TextStream::Aborted();
    exchange_->ready = false;
    exchange_->copies.clear();
    // Room made here, on the worker: growing it on the loop (and faulting its pages in) made
    // the first read of a rendering hold the loop for ~3 ms.
    exchange_->copies.reserve(expected);
  }
  worker_.send_to_loop([x = exchange_, monitor = monitor_, read = std::move(read)] {
    {
      std::lock_guard<std::mutex> lock(x->mutex);
      read(monitor(), *x);
      x->ready = true;
    }
    x->answered.notify_all();
  });
  std::unique_lock<std::mutex> lock(exchange_->mutex);
  exchange_->answered.wait(lock, [&] { return exchange_->ready || exchange_->aborted; });
  if (!exchange_->ready) throw TextStream::Aborted();
}

void LoopChecks::services(const std::vector<std::string>& names, CheckCopies& out) {
  // Room for 8 checks a service (a guess: the room stays for the rendering's later reads).
  ask(8 * names.size(), [names](const health::Monitor* m, Exchange& x) {
    if (m)
      for (const auto& name : names) m->copy_service(name, x.copies);
  });
  std::lock_guard<std::mutex> lock(exchange_->mutex);
  std::move(exchange_->copies.begin(), exchange_->copies.end(), std::back_inserter(out));
}

bool LoopChecks::next(std::optional<health::BackendKey>& cursor, std::size_t max,
                      CheckCopies& out) {
  ask(max, [from = cursor, max](const health::Monitor* m, Exchange& x) {
    x.cursor = from;
    x.last = m ? m->copy_slice(x.cursor, max, x.copies) : true;
  });
  std::lock_guard<std::mutex> lock(exchange_->mutex);
  std::move(exchange_->copies.begin(), exchange_->copies.end(), std::back_inserter(out));
  cursor = exchange_->cursor;
  return exchange_->last;
}

}  // namespace l4lb::daemon
