#include "common/mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace l4lb {
namespace {

int make_eventfd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::runtime_error("eventfd: cannot create (out of descriptors?)");
  return fd;
}

}  // namespace

Mailbox::Mailbox(boost::asio::io_context& receiver, std::function<bool()> wanted)
    : wake_(receiver, make_eventfd()), wanted_(std::move(wanted)) {
  arm();
}

Mailbox::~Mailbox() { *alive_ = false; }

void Mailbox::send(std::function<void()> fn) {
  {
    std::lock_guard<PiMutex> lock(mutex_);
    queue_.push_back(std::move(fn));
  }
  const std::uint64_t one = 1;
  while (::write(wake_.native_handle(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Mailbox::arm() {
  if (armed_ || (wanted_ && !wanted_())) return;
  armed_ = true;
  wake_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this, alive = alive_](const boost::system::error_code& ec) {
                     if (!*alive) return;
                     armed_ = false;
                     if (ec == boost::asio::error::operation_aborted) return;
                     deliver();
                   });
}

void Mailbox::deliver() {
  std::uint64_t count = 0;
  while (::read(wake_.native_handle(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  if (run_queued()) arm();
}

bool Mailbox::deliver_now() {
  bool ran = false;
  run_queued(&ran);
  return ran;
}

bool Mailbox::run_queued(bool* ran) {
  const auto alive = alive_;  // a function may end the receiver, and this mailbox with it
  std::deque<std::function<void()>> ready;
  {
    std::lock_guard<PiMutex> lock(mutex_);
    ready.swap(queue_);
  }
  if (ran) *ran = !ready.empty();
  for (auto& fn : ready) {
    fn();
    if (!*alive) return false;
  }
  return true;
}

}  // namespace l4lb
