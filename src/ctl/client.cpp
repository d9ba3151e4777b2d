#include "ctl/client.hpp"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace l4lb::ctl {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string connect_error(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return "cannot connect to " + path +
             ": no such socket (is l4lbd running? see `systemctl status l4lbd`)";
    case ECONNREFUSED:
      return "cannot connect to " + path +
             ": nobody is listening (l4lbd is not running; the socket is stale)";
    case EACCES:
    case EPERM:
      return "cannot connect to " + path +
             ": permission denied (run as root or as a member of group l4lb)";
    default:
      return "cannot connect to " + path + ": " + std::strerror(err);
  }
}

}  // namespace

std::variant<std::string, ClientError> call_raw(const std::string& socket_path,
                                                const nlohmann::json& request,
                                                int timeout_seconds) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    return ClientError{"socket path too long: " + socket_path};
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return ClientError{std::string("socket: ") + std::strerror(errno)};
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return ClientError{connect_error(socket_path, errno)};

  std::string out = request.dump() + "\n";
  // The daemon may answer and close before reading (e.g. "too many sessions"): then sending
  // fails, but its answer is waiting to be read, and says more than "broken pipe".
  std::string send_error;
  for (std::size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(s.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      send_error = std::string("sending the request: ") + std::strerror(errno);
      if (errno == EPIPE || errno == ECONNRESET) break;
      return ClientError{send_error};
    }
    sent += static_cast<std::size_t>(n);
  }

  std::string in;
  std::vector<char> buf(1 << 20);  // the full status of 10,000 services is 143 MB
  for (;;) {
    pollfd p{s.fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_seconds * 1000);
    if (r == 0)
      return ClientError{"l4lbd did not answer within " + std::to_string(timeout_seconds) + "s"};
    if (r < 0) {
      if (errno == EINTR) continue;
      return ClientError{std::string("poll: ") + std::strerror(errno)};
    }
    ssize_t n = ::recv(s.fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!send_error.empty()) return ClientError{send_error};
      return ClientError{std::string("reading the answer: ") + std::strerror(errno)};
    }
    if (n == 0) break;
    in.append(buf.data(), static_cast<std::size_t>(n));
    if (!in.empty() && in.back() == '\n') break;
  }
  if (in.empty() && !send_error.empty()) return ClientError{send_error};
  if (in.empty()) return ClientError{"l4lbd closed the connection without an answer"};
  // Every answer is one line: without its newline the daemon hung up mid-answer. It does that
  // to a client that falls too far behind others sharing the same rendering (docs/CONTROL.md).
  if (in.back() != '\n')
    return ClientError{"l4lbd closed the connection after " + std::to_string(in.size()) +
                       " bytes, before its answer was complete (it drops a client that reads "
                       "more than 16 MiB behind others asking at the same time; "
                       "daemon.slow_readers_dropped counts them): try again"};
  return in;
}

std::variant<nlohmann::json, ClientError> call(const std::string& socket_path,
                                               const nlohmann::json& request, int timeout_seconds) {
  auto raw = call_raw(socket_path, request, timeout_seconds);
  if (auto* e = std::get_if<ClientError>(&raw)) return *e;
  auto response = nlohmann::json::parse(std::get<std::string>(raw), nullptr, false);
  if (response.is_discarded() || !response.is_object())
    return ClientError{"l4lbd sent an answer that is not JSON (version mismatch?)"};
  return response;
}

}  // namespace l4lb::ctl
