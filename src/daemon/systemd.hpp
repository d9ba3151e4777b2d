// The sd_notify protocol (Type=notify): READY, RELOADING, STOPPING, STATUS and WATCHDOG.
// Without $NOTIFY_SOCKET (not under systemd, or in tests) every call is a no-op.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string_view>

namespace l4lb::daemon {

class Systemd {
 public:
  explicit Systemd(boost::asio::io_context& io);
  void ready(std::string_view status);
  void reloading(std::string_view status);
  void stopping(std::string_view status);
  void status(std::string_view status);
  // Pings the watchdog at half the interval systemd asked for (WatchdogSec=), from the event
  // loop itself: a stuck loop stops the pings and systemd restarts the daemon.
  void start_watchdog();

 private:
  void ping();
  boost::asio::steady_timer timer_;
  std::uint64_t watchdog_usec_ = 0;
};

}  // namespace l4lb::daemon
