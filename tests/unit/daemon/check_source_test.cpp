// LoopChecks: the render worker reads a monitor that lives on the loop, through messages.
#include "daemon/check_source.hpp"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include "common/worker.hpp"
#include "daemon/text_stream.hpp"
#include "health/spec.hpp"

using namespace l4lb;

namespace {

std::vector<config::Service> services(int n) {
  std::vector<config::Service> out;
  for (int i = 0; i < n; ++i) {
    config::Service s;
    s.name = fmt::format("s{:03}", i);
    s.vip = *net::Address::parse(fmt::format("10.0.{}.{}", i / 250, i % 250 + 1));
    s.ports = {80};
    auto& h = s.health.edit();
    h.type = config::HealthType::tcp;
    h.interval = std::chrono::seconds(600);  // no check runs during the test
    for (int k = 0; k < 4; ++k) {
      config::Backend b;
      b.address = *net::Address::parse(fmt::format("127.1.{}.{}", i, k + 1));
      b.port = 9;
      s.backends.push_back(b);
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("loop checks: a worker reads the loop's monitor in slices and by service") {
  boost::asio::io_context io;
  health::Monitor monitor(io, nullptr);
  monitor.apply(services(50));
  REQUIRE(monitor.size() == 200);
  Worker worker(io, "test-render");
  auto source = std::make_shared<daemon::LoopChecks>(
      worker, [&]() -> const health::Monitor* { return &monitor; });
  daemon::CheckCopies all, some, restarted;
  int requests = 0;
  bool done = false;
  worker.post([&]() -> Worker::Continuation {
    std::optional<health::BackendKey> cursor;
    while (!source->next(cursor, 64, all)) ++requests;
    source->services({"s007", "nope", "s002"}, some);
    // A slice read ahead (in flight after a slice that was not the last) that nobody takes:
    // a read by service lands after it, and a pass restarted elsewhere is not confused by it.
    std::optional<health::BackendKey> again;
    source->next(again, 100, restarted);
    source->services({"s001"}, some);
    std::optional<health::BackendKey> from = all[149].first;
    while (!source->next(from, 100, restarted)) {
    }
    return [&] { done = true; };
  });
  while (!done) io.run_one();
  CHECK(requests == 200 / 64);
  REQUIRE(all.size() == 200);
  CHECK(std::is_sorted(all.begin(), all.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; }));
  REQUIRE(some.size() == 12);
  CHECK(some.front().first.service == "s007");  // in the order asked
  CHECK(some[7].first.service == "s002");
  CHECK(some.back().first.service == "s001");
  REQUIRE(restarted.size() == 100 + 50);
  CHECK(restarted[99].first == all[99].first);
  CHECK(restarted[100].first == all[150].first);
  CHECK(restarted.back().first == all.back().first);
  monitor.shutdown();
}

TEST_CASE("loop checks: without a monitor there are none; after abort a read fails") {
  boost::asio::io_context io;
  Worker worker(io, "test-render");
  auto source = std::make_shared<daemon::LoopChecks>(
      worker, []() -> const health::Monitor* { return nullptr; });
  daemon::CheckCopies out;
  bool last = false, aborted = false, done = false;
  worker.post([&]() -> Worker::Continuation {
    std::optional<health::BackendKey> cursor;
    last = source->next(cursor, 10, out);
    source->abort_handle()();
    try {
      source->services({"a"}, out);
    } catch (const daemon::TextStream::Aborted&) {
      aborted = true;
    }
    return [&] { done = true; };
  });
  while (!done) io.run_one();
  CHECK(last);
  CHECK(out.empty());
  CHECK(aborted);
}

TEST_CASE("loop checks: an abort from the loop ends a wait the loop will not answer") {
  boost::asio::io_context io;
  Worker worker(io, "test-render");
  auto source = std::make_shared<daemon::LoopChecks>(
      worker, []() -> const health::Monitor* { return nullptr; });
  std::atomic<bool> aborted{false};
  worker.post([&]() -> Worker::Continuation {
    std::optional<health::BackendKey> cursor;
    daemon::CheckCopies out;
    try {
      source->next(cursor, 10, out);  // the loop below never delivers it
    } catch (const daemon::TextStream::Aborted&) {
      aborted = true;
    }
    return nullptr;
  });
  // The loop does not run: as when the daemon ends with a rendering under way.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(aborted);
  source->abort_handle()();
  for (int i = 0; i < 200 && !aborted; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(aborted);
}
