// Reads the kernel's IPVS table (every service, destination and counter) on a thread of its
// own, with a netlink socket of its own, and hands the result back on the io_context. At
// 10,000 services a dump takes about a second; done on the loop, every `l4lbctl status` and
// every Prometheus scrape stopped VRRP adverts and health checks for that long.
//
// Reads asked for while one runs share its result. The worker touches nothing but its Kernel.
// It runs at normal priority and the loop may run SCHED_RR: what they share is a
// priority-inheritance mutex and a Mailbox (common/mailbox.hpp says why not asio's post).
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/mailbox.hpp"
#include "common/pi_mutex.hpp"
#include "ipvs/kernel.hpp"
#include "ipvs/table.hpp"

namespace l4lb::ipvs {

class TableReader {
 public:
  // The table, or nullopt and why not.
  using Done = std::function<void(std::optional<Table> table, const std::string& error)>;

  // `kernel` is used only by the worker thread from now on.
  TableReader(boost::asio::io_context& io, std::unique_ptr<Kernel> kernel);
  ~TableReader();  // waits for a dump in progress to end; its callbacks are dropped
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  // Starts a dump (or joins the one running); `done` runs on the io_context. True if this
  // call started a dump: one joined may have begun before the caller's last change.
  bool read(Done done);

  std::uint64_t dumps() const;  // dumps performed so far
  // Frees a table on the worker thread: 10,000 services are milliseconds of free() that the
  // loop should not spend.
  void dispose(Table table);

 private:
  void run();

  std::unique_ptr<Kernel> kernel_;
  mutable PiMutex mutex_;
  std::condition_variable_any wake_;
  bool requested_ = false;
  bool stopping_ = false;
  std::vector<Table> garbage_;  // guarded by mutex_: tables to free on the worker
  std::uint64_t dumps_ = 0;
  std::vector<Done> waiting_;  // loop thread only: callbacks of the dump requested or running
  bool in_flight_ = false;     // loop thread only: a dump was asked for and has not answered
  // The dumps' results, received on the loop; it waits for them only while one is in flight.
  Mailbox to_loop_;
  std::thread worker_;
};

}  // namespace l4lb::ipvs
