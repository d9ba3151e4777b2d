// Loopback servers for the checker tests, on the test's own io_context (no privileges).
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace l4lb::health::testing {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

inline const asio::ip::address kLoopback = asio::ip::make_address("127.0.0.1");

// Runs `io` until `done()` or the safety limit (a hang guard, not a timing assertion).
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.run_one_for(std::chrono::milliseconds(10));
    if (io.stopped()) io.restart();
  }
  return true;
}

// A port nobody listens on: bound, then released (the kernel will not reuse it at once).
inline std::uint16_t closed_tcp_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(kLoopback, 0));
  return a.local_endpoint().port();
}
inline std::uint16_t closed_udp_port() {
  asio::io_context io;
  udp::socket s(io, udp::endpoint(kLoopback, 0));
  return s.local_endpoint().port();
}

// TCP server. For each accepted connection, `reply(n)` (n = 0, 1, ...) gives the bytes to
// send back after reading `read_first` bytes (empty: send nothing, keep the connection).
class TcpServer {
 public:
  using Reply = std::function<std::string(std::size_t)>;
  TcpServer(asio::io_context& io, Reply reply = {}, std::size_t read_first = 0,
            const asio::ip::address& address = kLoopback)
      : acceptor_(io, tcp::endpoint(address, 0)),
        reply_(std::move(reply)),
        read_first_(read_first) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::size_t accepted() const { return accepted_; }
  void close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      const std::size_t n = accepted_++;
      auto buf = std::make_shared<std::string>(read_first_, '\0');
      auto respond = [this, sock, n, buf](boost::system::error_code ec, std::size_t) {
        if (ec) return;
        auto out = std::make_shared<std::string>(reply_ ? reply_(n) : std::string());
        if (out->empty()) return held_.push_back(sock);
        asio::async_write(*sock, asio::buffer(*out),
                          [sock, out](boost::system::error_code, std::size_t) {});
      };
      if (read_first_ > 0)
        asio::async_read(*sock, asio::buffer(*buf), respond);
      else
        respond({}, 0);
      accept();
    });
  }
  tcp::acceptor acceptor_;
  Reply reply_;
  std::size_t read_first_;
  std::size_t accepted_ = 0;
  std::vector<std::shared_ptr<tcp::socket>> held_;
};

// A listener whose accept queue is full and which never accepts: SYNs to it are dropped,
// exactly like a black-holed backend (no RST, no ICMP).
class BlackHole {
 public:
  explicit BlackHole(asio::io_context& io) : acceptor_(io), filler_(io) {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(kLoopback, 0));
    acceptor_.listen(0);
    filler_.connect(acceptor_.local_endpoint());  // takes the one slot of backlog 0
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  tcp::acceptor acceptor_;
  tcp::socket filler_;
};

// UDP server: echoes (prefixed with `prefix`) when `echo`, else reads and stays silent.
class UdpServer {
 public:
  UdpServer(asio::io_context& io, bool echo, std::string prefix = {})
      : socket_(io, udp::endpoint(kLoopback, 0)), echo_(echo), prefix_(std::move(prefix)) {
    receive();
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  std::size_t received() const { return received_; }

 private:
  void receive() {
    socket_.async_receive_from(
        asio::buffer(buf_), peer_, [this](boost::system::error_code ec, std::size_t n) {
          if (ec) return;
          ++received_;
          if (echo_) {
            auto out = std::make_shared<std::string>(prefix_ + std::string(buf_.data(), n));
            socket_.async_send_to(asio::buffer(*out), peer_,
                                  [out](boost::system::error_code, std::size_t) {});
          }
          receive();
        });
  }
  udp::socket socket_;
  bool echo_;
  std::string prefix_;
  udp::endpoint peer_;
  std::array<char, 2048> buf_{};
  std::size_t received_ = 0;
};

// HTTP server with canned behaviours; records the last request head it read.
class HttpServer {
 public:
  enum class Mode { ok, error500, slow_body, endless_body, huge_header, garbage };
  HttpServer(asio::io_context& io, Mode mode)
      : acceptor_(io, tcp::endpoint(kLoopback, 0)), mode_(mode) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  const std::string& last_request() const { return last_request_; }
  std::size_t bytes_sent() const { return bytes_sent_; }

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : sock(std::move(s)), timer(sock.get_executor()) {}
    tcp::socket sock;
    asio::steady_timer timer;
    asio::streambuf in;
    std::string out;
  };
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      auto c = std::make_shared<Conn>(std::move(s));
      asio::async_read_until(c->sock, c->in, "\r\n\r\n",
                             [this, c](boost::system::error_code ec, std::size_t n) {
                               if (ec) return;
                               last_request_.assign(asio::buffers_begin(c->in.data()),
                                                    asio::buffers_begin(c->in.data()) + n);
                               respond(c);
                             });
      accept();
    });
  }
  void send(std::shared_ptr<Conn> c, std::string data, std::function<void()> then) {
    c->out = std::move(data);
    asio::async_write(c->sock, asio::buffer(c->out),
                      [this, c, then](boost::system::error_code ec, std::size_t n) {
                        bytes_sent_ += n;
                        if (!ec && then) then();
                      });
  }
  void trickle(std::shared_ptr<Conn> c) {  // one byte every 50 ms
    send(c, "x", [this, c] {
      c->timer.expires_after(std::chrono::milliseconds(50));
      c->timer.async_wait([this, c](boost::system::error_code ec) {
        if (!ec) trickle(c);
      });
    });
  }
  void flood(std::shared_ptr<Conn> c) {  // chunks forever, as fast as the peer reads
    send(c, "1000\r\n" + std::string(0x1000, 'y') + "\r\n", [this, c] { flood(c); });
  }
  void respond(std::shared_ptr<Conn> c) {
    switch (mode_) {
      case Mode::ok:
        return send(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                    nullptr);
      case Mode::error500:
        return send(c, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", nullptr);
      case Mode::slow_body:
        return send(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                    [this, c] { trickle(c); });
      case Mode::endless_body:
        return send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    [this, c] { flood(c); });
      case Mode::huge_header:
        return send(c, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200000, 'z') + "\r\n\r\n",
                    nullptr);
      case Mode::garbage:
        return send(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n", nullptr);
    }
  }
  tcp::acceptor acceptor_;
  Mode mode_;
  std::string last_request_;
  std::size_t bytes_sent_ = 0;
};

}  // namespace l4lb::health::testing
