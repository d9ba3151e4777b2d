#include "daemon/systemd.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <chrono>
#include <string>

#include "common/log.hpp"

namespace l4lb::daemon {
namespace {

void notify(const std::string& message) {
  int r = sd_notify(0, message.c_str());
  if (r < 0) log::warning("systemd notify failed: {}", std::string(strerror(-r)));
}

// RELOADING=1 must carry MONOTONIC_USEC so systemd (>= 253) can match the reload.
std::string monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::to_string(static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                        static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL);
}

}  // namespace

Systemd::Systemd(boost::asio::io_context& io) : timer_(io) {}

void Systemd::ready(std::string_view s) { notify("READY=1\nSTATUS=" + std::string(s)); }
void Systemd::reloading(std::string_view s) {
  notify("RELOADING=1\nMONOTONIC_USEC=" + monotonic_usec() + "\nSTATUS=" + std::string(s));
}
void Systemd::stopping(std::string_view s) { notify("STOPPING=1\nSTATUS=" + std::string(s)); }
void Systemd::status(std::string_view s) { notify("STATUS=" + std::string(s)); }

void Systemd::start_watchdog() {
  if (sd_watchdog_enabled(0, &watchdog_usec_) <= 0 || watchdog_usec_ == 0) return;
  log::info("systemd watchdog enabled interval_ms={}", watchdog_usec_ / 1000);
  ping();
}

void Systemd::ping() {
  notify("WATCHDOG=1");
  timer_.expires_after(std::chrono::microseconds(watchdog_usec_ / 2));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) ping();
  });
}

}  // namespace l4lb::daemon
