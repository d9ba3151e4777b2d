#include "health/deadlines.hpp"

#include <vector>

namespace l4lb::health::detail {

Deadlines::Deadlines(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx),
      timer_(static_cast<boost::asio::io_context&>(ctx), [this](TimePoint now) { fire(now); }) {}

void Deadlines::shutdown() {
  queues_.clear();
  timer_.cancel();
}

std::size_t Deadlines::queued() const {
  std::size_t n = 0;
  for (const auto& [timeout, q] : queues_) n += q.size();
  return n;
}

void Deadlines::add(Duration timeout, std::weak_ptr<Target> target) {
  const TimePoint due = Clock::now() + timeout;
  queues_[timeout].push_back(Entry{due, std::move(target)});
  timer_.due(due);
}

void Deadlines::fire(TimePoint now) {
  // Collected first: an expiring probe may start others, which add deadlines.
  std::vector<std::shared_ptr<Target>> expired;
  std::optional<TimePoint> next;
  for (auto it = queues_.begin(); it != queues_.end();) {
    auto& q = it->second;
    while (!q.empty()) {
      auto t = q.front().target.lock();
      if (t && t->running()) {
        if (q.front().due > now) break;
        expired.push_back(std::move(t));
      }
      q.pop_front();
    }
    if (q.empty()) {
      it = queues_.erase(it);
      continue;
    }
    if (!next || q.front().due < *next) next = q.front().due;
    ++it;
  }
  if (next) timer_.due(*next);
  for (auto& t : expired) t->expire();
}

}  // namespace l4lb::health::detail
