#include "ipvs/table_reader.hpp"

namespace l4lb::ipvs {

TableReader::TableReader(boost::asio::io_context& io, std::unique_ptr<Kernel> kernel)
    : kernel_(std::move(kernel)),
      to_loop_(io, [this] { return in_flight_; }),
      worker_([this] { run(); }) {}

TableReader::~TableReader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

bool TableReader::read(Done done) {
  waiting_.push_back(std::move(done));
  if (in_flight_) return false;  // the running dump answers this one too
  in_flight_ = true;
  to_loop_.expect();
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
  return true;
}

std::uint64_t TableReader::dumps() const {
  std::lock_guard lock(mutex_);
  return dumps_;
}

void TableReader::dispose(Table table) {
  {
    std::lock_guard lock(mutex_);
    garbage_.push_back(std::move(table));
  }
  wake_.notify_one();
}

void TableReader::run() {
  for (;;) {
    {
      std::vector<Table> garbage;
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return requested_ || stopping_ || !garbage_.empty(); });
      garbage.swap(garbage_);
      if (stopping_) return;
      if (!requested_) {
        lock.unlock();
        continue;  // `garbage` is freed here, outside the lock
      }
      requested_ = false;
      lock.unlock();
    }
    auto table = std::make_shared<Table>();
    auto error = std::make_shared<std::string>();
    const bool ok = kernel_->dump(*table, *error);
    {
      std::lock_guard lock(mutex_);
      ++dumps_;
    }
    // What the loop has not run when the reader goes is dropped with the mailbox, unrun.
    to_loop_.send([this, ok, table, error] {
      in_flight_ = false;
      auto waiting = std::move(waiting_);
      waiting_.clear();
      // Copies for all but the last: a table of 10,000 services is milliseconds to copy.
      for (std::size_t i = 0; i < waiting.size(); ++i) {
        std::optional<Table> t;
        if (ok) t = i + 1 < waiting.size() ? *table : std::move(*table);
        waiting[i](std::move(t), *error);
      }
    });
  }
}

}  // namespace l4lb::ipvs
