#include "ipvs/table_reader.hpp"

#include <boost/asio/post.hpp>

namespace l4lb::ipvs {

TableReader::TableReader(boost::asio::io_context& io, std::unique_ptr<Kernel> kernel)
    : io_(io), kernel_(std::move(kernel)), worker_([this] { run(); }) {}

TableReader::~TableReader() {
  *alive_ = false;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void TableReader::read(Done done) {
  waiting_.push_back(std::move(done));
  if (in_flight_) return;  // the running dump answers this one too
  in_flight_.emplace(io_.get_executor());
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
}

std::uint64_t TableReader::dumps() const {
  std::lock_guard lock(mutex_);
  return dumps_;
}

void TableReader::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
    }
    auto table = std::make_shared<Table>();
    auto error = std::make_shared<std::string>();
    const bool ok = kernel_->dump(*table, *error);
    {
      std::lock_guard lock(mutex_);
      ++dumps_;
    }
    boost::asio::post(io_, [this, alive = alive_, ok, table, error] {
      if (!*alive) return;
      in_flight_.reset();
      auto waiting = std::move(waiting_);
      waiting_.clear();
      for (auto& done : waiting) done(ok ? std::optional<Table>(*table) : std::nullopt, *error);
    });
  }
}

}  // namespace l4lb::ipvs
