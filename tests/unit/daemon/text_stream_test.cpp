// The render worker's side of streaming (daemon/text_stream.hpp): chunk sizes, backpressure
// (at most max_live chunks alive, the worker waits for the slowest holder), the stall limit,
// aborting, and the loop's fanout of chunks to readers.
#include "daemon/text_stream.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <deque>
#include <mutex>
#include <thread>

using l4lb::daemon::TextFanout;
using l4lb::daemon::TextStream;
using namespace std::chrono_literals;

namespace {

// What the loop would hold: published chunks, not yet written.
struct Held {
  std::mutex mutex;
  std::deque<TextStream::Piece> chunks;
  std::string text;  // what was released, in order
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return chunks.size();
  }
  bool release_one() {
    std::lock_guard<std::mutex> lock(mutex);
    if (chunks.empty()) return false;
    text += *chunks.front().text;
    chunks.pop_front();  // the last holder: the chunk is freed here
    return true;
  }
};

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("write splits text into chunks of exactly chunk_bytes, the last one shorter") {
  std::vector<std::string> chunks;
  TextStream s({10, 1000, 1s}, [&](TextStream::Piece p) { chunks.push_back(*p.text); });
  s.write("0123456");
  s.write("789abcdefghijklmnopqrstuvwxyz");
  s.write("");
  s.finish();
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0] == "0123456789");
  CHECK(chunks[1] == "abcdefghij");
  CHECK(chunks[2] == "klmnopqrst");
  CHECK(chunks[3] == "uvwxyz");
}

TEST_CASE("flush_if_full publishes the buffer once it reaches chunk_bytes, not before") {
  std::vector<std::string> chunks;
  TextStream s({8, 1000, 1s}, [&](TextStream::Piece p) { chunks.push_back(*p.text); });
  s.buffer() += "abcd";
  s.flush_if_full();
  CHECK(chunks.empty());
  s.buffer() += "efghij";  // an entry may cross the boundary: the chunk is a little longer
  s.flush_if_full();
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0] == "abcdefghij");
  CHECK(s.buffer().empty());
  s.finish();  // nothing left: no empty chunk
  CHECK(chunks.size() == 1);
}

TEST_CASE("backpressure: the worker waits while max_live chunks are alive") {
  Held held;
  std::atomic<int> published{0};
  TextStream s({4, 2, 10s}, [&](TextStream::Piece p) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(p));
    ++published;
  });
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += "c" + std::to_string(i % 10) + "--";
  std::atomic<bool> done{false};
  std::thread worker([&] {
    s.write(expected);
    s.finish();
    done = true;
  });
  // Nobody writes: the worker stops at two live chunks.
  REQUIRE(eventually([&] { return published == 2; }));
  std::this_thread::sleep_for(50ms);
  CHECK(published == 2);
  CHECK(s.live() == 2);
  CHECK_FALSE(done);
  // With two live at most, each chunk written lets exactly one more through.
  REQUIRE(held.release_one());
  REQUIRE(eventually([&] { return published == 3; }));
  std::this_thread::sleep_for(20ms);
  CHECK(published == 3);
  // Drain it all, as a slow reader would.
  while (!done || held.count() > 0) {
    if (!held.release_one()) std::this_thread::sleep_for(1ms);
  }
  worker.join();
  CHECK(held.text == expected);
  CHECK(s.peak_live() == 2);
  CHECK(s.live() == 0);
}

TEST_CASE("once max_live chunks are alive, the worker waits until half of them are gone") {
  Held held;
  std::atomic<int> published{0};
  TextStream s({1, 4, 10s}, [&](TextStream::Piece p) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(p));
    ++published;
  });
  std::thread worker([&] {
    s.write(std::string(12, 'x'));
    s.finish();
  });
  REQUIRE(eventually([&] { return published == 4; }));
  REQUIRE(held.release_one());  // 3 alive: not yet
  std::this_thread::sleep_for(50ms);
  CHECK(published == 4);
  REQUIRE(held.release_one());  // 2 alive: half gone, two more go out at once
  REQUIRE(eventually([&] { return published == 6; }));
  std::this_thread::sleep_for(50ms);
  CHECK(published == 6);
  while (published < 12 || held.count() > 0) {
    if (!held.release_one()) std::this_thread::sleep_for(1ms);
  }
  worker.join();
  CHECK(held.text == std::string(12, 'x'));
  CHECK(s.peak_live() == 4);
}

TEST_CASE("a stream whose chunks nobody takes within `stall` is aborted") {
  Held held;
  TextStream s({4, 1, 200ms}, [&](TextStream::Piece p) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(p));
  });
  const auto start = std::chrono::steady_clock::now();
  bool aborted = false;
  try {
    s.write("aaaabbbbcccc");
  } catch (const TextStream::Aborted&) {
    aborted = true;
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(aborted);
  CHECK(s.aborted());
  CHECK(waited >= 200ms);
  CHECK(waited < 3s);
  CHECK(held.count() == 1);  // the first chunk went out; the second never did
}

TEST_CASE("a chunk freed now and then keeps a slow stream alive past `stall`") {
  Held held;
  TextStream s({4, 1, 150ms}, [&](TextStream::Piece p) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(p));
  });
  std::atomic<bool> done{false};
  std::string text(4 * 8, 'x');
  std::thread worker([&] {
    s.write(text);
    s.finish();
    done = true;
  });
  // 8 chunks, one freed every 100 ms: 800 ms in all, never 150 ms without progress.
  while (!done) {
    std::this_thread::sleep_for(100ms);
    held.release_one();
  }
  worker.join();
  while (held.release_one()) {
  }
  CHECK_FALSE(s.aborted());
  CHECK(held.text == text);
}

TEST_CASE("abort from another thread stops a waiting worker at once") {
  Held held;
  TextStream s({4, 1, 60s}, [&](TextStream::Piece p) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(p));
  });
  auto abort = s.abort_handle();
  std::atomic<bool> threw{false};
  std::thread worker([&] {
    try {
      s.write("aaaabbbb");
    } catch (const TextStream::Aborted&) {
      threw = true;
    }
  });
  REQUIRE(eventually([&] { return held.count() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  abort();
  worker.join();
  CHECK(threw);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("the fanout gives every reader each chunk in order, then one end") {
  TextFanout fan;
  std::string a, b;
  int a_ends = 0, b_ends = 0;
  fan.add([&](TextFanout::Event e, const TextStream::Chunk& c) {
    if (e == TextFanout::Event::chunk) a += *c;
    if (e == TextFanout::Event::end) ++a_ends;
    return true;
  });
  fan.add([&](TextFanout::Event e, const TextStream::Chunk& c) {
    if (e == TextFanout::Event::chunk) b += *c;
    if (e != TextFanout::Event::chunk) ++b_ends;
    return true;
  });
  fan.chunk(std::make_shared<const std::string>("ab"));
  fan.chunk(std::make_shared<const std::string>("cd"));
  fan.end(true);
  fan.end(true);  // nobody left: ignored
  CHECK(a == "abcd");
  CHECK(b == "abcd");
  CHECK(a_ends == 1);
  CHECK(b_ends == 1);
}

TEST_CASE("a reader that is gone is dropped; the last one going aborts the rendering") {
  TextFanout fan;
  bool aborted = false;
  fan.on_empty([&] { aborted = true; });
  int slow_calls = 0, gone_calls = 0;
  fan.add([&](TextFanout::Event, const TextStream::Chunk&) {
    ++gone_calls;
    return false;  // its connection closed
  });
  fan.add([&](TextFanout::Event e, const TextStream::Chunk&) {
    ++slow_calls;
    return e == TextFanout::Event::chunk && slow_calls < 2;
  });
  auto chunk = std::make_shared<const std::string>("x");
  fan.chunk(chunk);
  CHECK(gone_calls == 1);
  CHECK_FALSE(aborted);
  fan.chunk(chunk);  // the second reader goes too
  CHECK(gone_calls == 1);
  CHECK(slow_calls == 2);
  CHECK(aborted);
  CHECK(fan.empty());
  CHECK(chunk.use_count() == 1);  // nobody kept it
}

TEST_CASE("a failed text reaches the readers as failed") {
  TextFanout fan;
  std::vector<TextFanout::Event> seen;
  fan.add([&](TextFanout::Event e, const TextStream::Chunk&) {
    seen.push_back(e);
    return true;
  });
  fan.chunk(std::make_shared<const std::string>("x"));
  fan.end(false);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == TextFanout::Event::failed);
}

namespace {

// A reader that keeps every chunk until told to write (a session whose client reads nothing),
// or writes each at once.
struct TestReader {
  std::deque<TextStream::Chunk> pending;
  std::string text;
  bool stalled = false, ended = false, failed = false;
  TextFanout::Reader fn() {
    return [this](TextFanout::Event e, const TextStream::Chunk& c) {
      if (e == TextFanout::Event::failed) {
        failed = true;
        pending.clear();
        return false;
      }
      if (e == TextFanout::Event::end) {
        ended = true;
        return false;
      }
      if (stalled)
        pending.push_back(c);
      else
        text += *c;
      return true;
    };
  }
  void write_all() {
    while (!pending.empty()) {
      text += *pending.front();
      pending.pop_front();
    }
  }
};

// A piece whose ticket counts itself in `live`.
TextStream::Piece piece(std::string text, int& live) {
  ++live;
  return {std::make_shared<const std::string>(std::move(text)),
          TextStream::Ticket(nullptr, [&live](const void*) { --live; })};
}

}  // namespace

TEST_CASE("a reader behind the others falls out of step: its chunks stop holding the worker") {
  TextFanout fan({4, 10});  // 4 tickets, 10 bytes of backlog for a reader out of step
  int drops = 0, live = 0;
  fan.on_drop([&] { ++drops; });
  TestReader fast, slow;
  slow.stalled = true;
  fan.add(fast.fn());
  fan.add(slow.fn());
  for (int i = 0; i < 3; ++i) fan.chunk(piece("ab", live));
  // In step so far: the slow reader holds 3 chunks, so 3 tickets are alive.
  CHECK(live == 3);
  CHECK(fan.tickets() == 3);
  CHECK(fan.out_of_step() == 0);
  // The fourth fills the window while the fast reader has written the oldest: the slow one
  // falls out of step and every ticket goes (the worker renders on).
  fan.chunk(piece("cd", live));
  CHECK(fan.out_of_step() == 1);
  CHECK(live == 0);
  CHECK(fan.tickets() == 0);
  CHECK(slow.pending.size() == 4);  // it keeps the text itself
  fan.chunk(piece("ef", live));     // 10 bytes unwritten: at its cap, not over it
  CHECK(drops == 0);
  CHECK(fan.backlog_bytes() == 10);
  fan.chunk(piece("gh", live));  // 12: over, dropped
  CHECK(drops == 1);
  CHECK(slow.failed);
  CHECK(slow.pending.empty());
  CHECK(fan.backlog_bytes() == 0);
  fan.chunk(piece("ij", live));
  fan.end(true);
  CHECK(fast.text == "abababcdefghij");
  CHECK(fast.ended);
  CHECK(live == 0);
}

TEST_CASE("a lone slow reader holds the worker back and is never dropped for it") {
  TextFanout fan({2, 4});
  int drops = 0, live = 0;
  fan.on_drop([&] { ++drops; });
  TestReader slow;
  slow.stalled = true;
  fan.add(slow.fn());
  fan.chunk(piece("abc", live));
  fan.chunk(piece("def", live));
  CHECK(live == 2);  // the window is full: the worker waits for this reader
  CHECK(fan.out_of_step() == 0);
  slow.write_all();
  CHECK(live == 0);
  for (int i = 0; i < 10; ++i) {  // slow but steady: far more than its cap, in step
    fan.chunk(piece("xyz", live));
    slow.write_all();
  }
  fan.end(true);
  CHECK(drops == 0);
  CHECK(slow.ended);
  CHECK(slow.text == "abcdef" + std::string("xyz").append("xyzxyzxyzxyzxyzxyzxyzxyzxyz"));
}

TEST_CASE("readers equally slow hold the worker back together") {
  TextFanout fan({2, 4});
  int live = 0;
  TestReader a, b;
  a.stalled = b.stalled = true;
  fan.add(a.fn());
  fan.add(b.fn());
  fan.chunk(piece("1", live));
  fan.chunk(piece("2", live));
  CHECK(fan.out_of_step() == 0);
  CHECK(live == 2);
  a.write_all();  // a ahead now: b falls out of step, the window opens
  CHECK(fan.out_of_step() == 1);
  CHECK(live == 0);
}

TEST_CASE("press: someone else waits, so a full window stops waiting for its slowest reader") {
  TextFanout fan({2, 1 << 20});
  int live = 0;
  TestReader slow;
  slow.stalled = true;
  fan.add(slow.fn());
  fan.chunk(piece("ab", live));
  fan.press();  // not full yet: nothing to do
  CHECK(fan.out_of_step() == 0);
  CHECK(live == 1);
  fan.chunk(piece("cd", live));
  CHECK(fan.out_of_step() == 1);
  CHECK(live == 0);
}

TEST_CASE("a reader out of step that catches up is in step again") {
  TextFanout fan({2, 1 << 20});
  int live = 0;
  TestReader fast, slow;
  slow.stalled = true;
  fan.add(fast.fn());
  fan.add(slow.fn());
  fan.chunk(piece("a", live));
  fan.chunk(piece("b", live));
  REQUIRE(fan.out_of_step() == 1);
  slow.write_all();
  CHECK(fan.out_of_step() == 0);
  fan.chunk(piece("c", live));
  CHECK(live == 1);  // its next chunk counts again
  CHECK(fan.tickets() == 1);
  slow.write_all();
  CHECK(live == 0);
  fan.end(true);
  CHECK(slow.text == "abc");
  CHECK(fast.text == "abc");
}

TEST_CASE("with a reader that never reads, the worker finishes and the others get it all") {
  // The worker side for real: a TextStream on a thread, its pieces handed to the fanout on
  // this thread (the loop) through a queue.
  std::mutex mutex;
  std::deque<TextStream::Piece> queue;
  TextStream s({16, 4, 10s}, [&](TextStream::Piece p) {
    std::lock_guard<std::mutex> lock(mutex);
    queue.push_back(std::move(p));
  });
  TextFanout fan({4, 64});
  int drops = 0;
  fan.on_drop([&] { ++drops; });
  TestReader fast, stalled;
  stalled.stalled = true;
  fan.add(fast.fn());
  fan.add(stalled.fn());
  std::string expected;
  for (int i = 0; i < 400; ++i) expected += "line " + std::to_string(i) + "\n";
  std::atomic<bool> done{false};
  std::thread worker([&] {
    s.write(expected);
    s.finish();
    done = true;
  });
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    std::deque<TextStream::Piece> got;
    {
      std::lock_guard<std::mutex> lock(mutex);
      got.swap(queue);
    }
    for (auto& p : got) fan.chunk(std::move(p));
    if (done && got.empty()) {
      std::lock_guard<std::mutex> lock(mutex);
      if (queue.empty()) break;
    }
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(1ms);
  }
  worker.join();
  fan.end(true);
  CHECK(fast.text == expected);
  CHECK(fast.ended);
  CHECK(stalled.failed);  // over its 64 bytes
  CHECK(drops == 1);
  CHECK(s.peak_live() <= 4);
  CHECK(s.live() == 0);
}
