#include "common/state_writer.hpp"

#include <pthread.h>

#include <mutex>
#include <utility>

#include "common/log.hpp"
#include "common/state_file.hpp"

namespace l4lb {

StateWriter::StateWriter(std::string path, std::string what)
    : path_(std::move(path)), what_(std::move(what)), thread_([this] { run(); }) {}

StateWriter::~StateWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();  // run() writes what is pending before it returns
}

void StateWriter::write(std::string text) {
  {
    std::lock_guard lock(mutex_);
    pending_ = std::move(text);
    ++given_;
  }
  wake_.notify_one();
}

void StateWriter::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = given_;
  done_.wait(lock, [&] { return written_ >= target; });
}

std::uint64_t StateWriter::writes() const {
  std::lock_guard lock(mutex_);
  return writes_;
}

void StateWriter::run() {
  ::pthread_setname_np(::pthread_self(), "l4lb-state");
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return pending_ || stop_; });
    if (!pending_) return;  // stopping, nothing left to write
    std::string text = std::move(*pending_);
    pending_.reset();
    const std::uint64_t covers = given_;
    lock.unlock();
    const auto error = state_file::write(path_, text);
    if (error) log::warning("{} not recorded: {}", what_, *error);
    lock.lock();
    ++writes_;
    written_ = covers;
    done_.notify_all();
  }
}

}  // namespace l4lb
