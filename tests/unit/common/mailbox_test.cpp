#include "common/mailbox.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

using l4lb::Mailbox;

TEST_CASE("mailbox: functions run on the receiver's thread, in the order sent") {
  boost::asio::io_context io;
  Mailbox box(io);
  std::vector<int> seen;
  std::thread::id ran_on;
  std::thread sender([&] {
    for (int i = 0; i < 1000; ++i) box.send([&seen, i] { seen.push_back(i); });
    box.send([&] {
      ran_on = std::this_thread::get_id();
      io.stop();
    });
  });
  io.run();
  sender.join();
  REQUIRE(ran_on == std::this_thread::get_id());
  REQUIRE(seen.size() == 1000);
  for (int i = 0; i < 1000; ++i) REQUIRE(seen[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("mailbox: senders on several threads each keep their order; nothing is lost") {
  boost::asio::io_context io;
  Mailbox box(io);
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::vector<int>> seen(kThreads);
  int done = 0;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        box.send([&, t, i] {
          seen[static_cast<std::size_t>(t)].push_back(i);
          if (++done == kThreads * kEach) io.stop();
        });
    });
  io.run();
  for (auto& s : senders) s.join();
  for (const auto& v : seen) {
    REQUIRE(v.size() == static_cast<std::size_t>(kEach));
    for (int i = 0; i < kEach; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == i);
  }
}

TEST_CASE("mailbox: a function may destroy the mailbox; the rest of its batch is dropped") {
  boost::asio::io_context io;
  auto box = std::make_unique<Mailbox>(io);
  int after = 0;
  box->send([&] { box.reset(); });
  box->send([&] { ++after; });
  io.run_for(std::chrono::milliseconds(100));
  REQUIRE(!box);
  REQUIRE(after == 0);
}

TEST_CASE("mailbox: waiting only while mail is wanted lets run() return when none is due") {
  boost::asio::io_context io;
  int due = 0, ran = 0;
  Mailbox box(io, [&] { return due > 0; });
  io.run();  // nothing wanted: returns at once
  REQUIRE(ran == 0);
  io.restart();
  due = 2;
  box.expect();
  std::thread sender([&] {
    for (int i = 0; i < 2; ++i)
      box.send([&] {
        --due;
        ++ran;
      });
  });
  io.run();  // returns once both arrived: the mailbox stops waiting
  sender.join();
  REQUIRE(ran == 2);
  REQUIRE(due == 0);
}

TEST_CASE("mailbox: deliver_now runs what is queued without the io_context") {
  boost::asio::io_context io;
  Mailbox box(io);
  std::vector<int> seen;
  REQUIRE(!box.deliver_now());
  std::thread sender([&] {
    box.send([&] { seen.push_back(1); });
    box.send([&] { seen.push_back(2); });
  });
  sender.join();
  REQUIRE(box.deliver_now());
  REQUIRE(seen == std::vector<int>{1, 2});
  // The eventfd's wake-up finds an empty queue later; nothing runs twice.
  io.run_for(std::chrono::milliseconds(20));
  REQUIRE(seen == std::vector<int>{1, 2});
}
