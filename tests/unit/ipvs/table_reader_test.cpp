// The status dump off the loop: the loop keeps running while the kernel is read, reads
// asked for meanwhile share one dump, and failures come back as errors.
#include "ipvs/table_reader.hpp"

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "ipvs/fake_kernel.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace std::chrono_literals;

namespace {

// A kernel whose dump takes as long as a 10,000-service table does in UML.
class SlowKernel : public FakeKernel {
 public:
  bool dump(Table& out, std::string& error) override {
    std::this_thread::sleep_for(300ms);
    return FakeKernel::dump(out, error);
  }
};

Operation add_service() {
  Operation op;
  op.kind = Operation::Kind::add_service;
  op.service.key = ServiceKey::inet(Protocol::tcp, *net::Address::parse("10.0.0.1"), 80);
  op.service.scheduler = "rr";
  return op;
}

}  // namespace

TEST_CASE("table reader: the loop runs during a dump; concurrent reads share it") {
  boost::asio::io_context io;
  auto kernel = std::make_unique<SlowKernel>();
  const Operation op = add_service();
  REQUIRE(kernel->apply(std::span(&op, 1)).empty());
  TableReader reader(io, std::move(kernel));

  int answers = 0;
  std::size_t services = 0;
  auto done = [&](std::optional<Table> t, const std::string&) {
    ++answers;
    if (t) services += t->services.size();
  };
  reader.read(done);
  reader.read(done);  // while the first is running: shares it
  // A timer 20 ms out must fire long before the 300 ms dump ends.
  bool ticked_before_answer = false;
  boost::asio::steady_timer tick(io, 20ms);
  tick.async_wait([&](const boost::system::error_code&) { ticked_before_answer = answers == 0; });
  const auto t0 = std::chrono::steady_clock::now();
  while (answers < 2 && std::chrono::steady_clock::now() - t0 < 5s) io.run_one_for(100ms);
  CHECK(ticked_before_answer);
  CHECK(answers == 2);
  CHECK(services == 2);  // one service, seen by both readers
  CHECK(reader.dumps() == 1);

  io.restart();       // the loop ran out of work when the first dump was answered
  reader.read(done);  // a later read dumps again
  while (answers < 3 && std::chrono::steady_clock::now() - t0 < 5s) io.run_one_for(100ms);
  CHECK(answers == 3);
  CHECK(reader.dumps() == 2);
}

TEST_CASE("table reader: a failed dump is an error; destruction mid-dump drops the callback") {
  boost::asio::io_context io;
  auto kernel = std::make_unique<FakeKernel>();
  kernel->fail_dump = "netlink: Operation not permitted";
  {
    TableReader reader(io, std::move(kernel));
    std::optional<std::string> error;
    reader.read([&](std::optional<Table> t, const std::string& e) {
      CHECK_FALSE(t);
      error = e;
    });
    const auto t0 = std::chrono::steady_clock::now();
    while (!error && std::chrono::steady_clock::now() - t0 < 5s) io.run_one_for(100ms);
    CHECK(error == "netlink: Operation not permitted");
  }
  boost::asio::io_context io2;
  bool called = false;
  {
    TableReader reader(io2, std::make_unique<SlowKernel>());
    reader.read([&](std::optional<Table>, const std::string&) { called = true; });
  }  // joins the worker; the completion it posted must not run
  io2.run();
  CHECK_FALSE(called);
}
