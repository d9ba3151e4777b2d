// ControlServer's sessions: a streamed reply over a real unix socket, driven step by step.
#include "daemon/control_server.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "daemon/text_stream.hpp"

using namespace l4lb;
using namespace l4lb::daemon;

namespace {

struct Client {
  int fd = -1;
  explicit Client(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { ::close(fd); }
  void send(const std::string& line) {
    REQUIRE(::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  }
  // Everything until the server closes (the socket is blocking; the server has closed it by
  // the time this is called, so it ends).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
};

}  // namespace

TEST_CASE("control session: a reader dropped while its write's handler is queued") {
  // The fanout drops a slow reader (Event::failed) in a handler that can run after a chunk's
  // write has completed and before that write's own handler: the session closed, emptied its
  // queue, and the write's handler then popped the empty queue (a crash of the loop in the
  // reload storm). Here the write completes at once (asio writes speculatively when the
  // socket has room) and its handler waits in the io_context while the reader is dropped.
  const auto path = (std::filesystem::temp_directory_path() /
                     ("l4lb-ctl-test-" + std::to_string(::getpid()) + ".sock"))
                        .string();
  boost::asio::io_context io;
  std::optional<control::Reply> reply;
  control::Handlers handlers;
  handlers.status = [&](control::StatusView, control::Reply r) { reply = std::move(r); };
  std::string answer;
  {
    ControlServer server(io, handlers);
    REQUIRE_FALSE(server.listen(path, "l4lb-no-such-group"));
    Client client(path);
    client.send("{\"command\": \"status\"}\n");
    for (int i = 0; i < 200 && !reply; ++i) io.run_one_for(std::chrono::milliseconds(10));
    REQUIRE(reply);

    auto reader = reply->stream();
    const auto first = std::make_shared<const std::string>("{\"status\": ");
    CHECK(reader(TextFanout::Event::chunk, first));  // written now; its handler is queued
    CHECK_FALSE(reader(TextFanout::Event::failed, nullptr));
    reader = nullptr;
    reply.reset();
    io.restart();
    io.poll();  // the write's handler runs after the session closed
    CHECK(server.active_sessions() == 0);
    server.close();
    io.poll();
    answer = client.read_all();
  }
  // What was written before the drop arrived, then the end: the client sees a cut reply.
  CHECK(answer == "{\"status\": ");
  std::filesystem::remove(path);
}
