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
  std::deque<TextStream::Chunk> chunks;
  std::string text;  // what was released, in order
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return chunks.size();
  }
  bool release_one() {
    std::lock_guard<std::mutex> lock(mutex);
    if (chunks.empty()) return false;
    text += *chunks.front();
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
  TextStream s({10, 1000, 1s}, [&](TextStream::Chunk c) { chunks.push_back(*c); });
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
  TextStream s({8, 1000, 1s}, [&](TextStream::Chunk c) { chunks.push_back(*c); });
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
  TextStream s({4, 2, 10s}, [&](TextStream::Chunk c) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(c));
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
  TextStream s({1, 4, 10s}, [&](TextStream::Chunk c) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(c));
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
  TextStream s({4, 1, 200ms}, [&](TextStream::Chunk c) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(c));
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
  TextStream s({4, 1, 150ms}, [&](TextStream::Chunk c) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(c));
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
  TextStream s({4, 1, 60s}, [&](TextStream::Chunk c) {
    std::lock_guard<std::mutex> lock(held.mutex);
    held.chunks.push_back(std::move(c));
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
