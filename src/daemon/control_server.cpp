#include "daemon/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "common/log.hpp"
#include "daemon/accept_backoff.hpp"

namespace l4lb::daemon {

struct ControlServer::Shared {
  control::Handlers handlers;
  Limits limits;
  control::AccessPolicy policy;
  Counters counters;
  std::size_t active = 0;
};

namespace {

using boost::asio::local::stream_protocol;

// The peer's uid, gid and supplementary groups as they were when it connected. SO_PEERGROUPS
// (Linux 4.13) gives the groups of the very process; /proc/<pid> is not readable under the
// shipped unit (ProtectProc=invisible), so the fallback is the user's groups from NSS.
control::Peer peer_of(int fd) {
  control::Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    // Unknown peer: not root, in no group, so only `status` is allowed.
    peer.uid = static_cast<uid_t>(-1);
    peer.gid = static_cast<gid_t>(-1);
    return peer;
  }
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  std::vector<gid_t> groups(64);
  len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  int rc = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len);
  if (rc != 0 && errno == ERANGE) {
    groups.resize(len / sizeof(gid_t));
    rc = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len);
  }
  if (rc == 0) {
    groups.resize(len / sizeof(gid_t));
    peer.groups = std::move(groups);
    return peer;
  }
  if (passwd* pw = ::getpwuid(cred.uid)) {
    int n = 64;
    groups.assign(static_cast<std::size_t>(n), 0);
    if (::getgrouplist(pw->pw_name, cred.gid, groups.data(), &n) < 0) {
      groups.assign(static_cast<std::size_t>(n), 0);
      if (::getgrouplist(pw->pw_name, cred.gid, groups.data(), &n) < 0) n = 0;
    }
    groups.resize(static_cast<std::size_t>(n));
    peer.groups = std::move(groups);
  }
  return peer;
}

std::string line_of(const nlohmann::json& response) {
  // Replace, not throw, should any text in the response not be UTF-8.
  return response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

struct Session : std::enable_shared_from_this<Session> {
  enum class Phase { reading, answering, writing };

  Session(stream_protocol::socket s, std::shared_ptr<ControlServer::Shared> sh)
      : socket(std::move(s)),
        timer(socket.get_executor()),
        buffer(control::kMaxRequestBytes),
        shared(std::move(sh)) {
    ++shared->active;
    ++shared->counters.sessions;
  }
  ~Session() { --shared->active; }

  void start() {
    peer = peer_of(socket.native_handle());
    arm(shared->limits.request_timeout);
    auto self = shared_from_this();
    boost::asio::async_read_until(
        socket, buffer, '\n',
        [self](const boost::system::error_code& ec, std::size_t n) { self->on_request(ec, n); });
  }

  void arm(std::chrono::milliseconds after) {
    timer.expires_after(after);
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_timeout();
    });
  }

  void on_timeout() {
    ++shared->counters.timeouts;
    boost::system::error_code ignored;
    if (phase == Phase::reading) {
      phase = Phase::answering;  // the read completes as aborted and is ignored
      socket.cancel(ignored);
      return send(control::error_reply("timeout: no complete request line within " +
                                       std::to_string(shared->limits.request_timeout.count()) +
                                       " ms"));
    }
    close();  // the client does not take its reply
  }

  void on_request(const boost::system::error_code& ec, std::size_t n) {
    if (phase != Phase::reading) return;
    phase = Phase::answering;
    timer.cancel();
    if (ec == boost::asio::error::not_found)
      return send(control::error_reply("request longer than " +
                                       std::to_string(control::kMaxRequestBytes) +
                                       " bytes (one JSON object on one line)"));
    if (ec) {
      if (ec != boost::asio::error::eof && ec != boost::asio::error::operation_aborted)
        log::debug("control session read failed: {}", ec.message());
      return;
    }
    std::string line(boost::asio::buffers_begin(buffer.data()),
                     boost::asio::buffers_begin(buffer.data()) + static_cast<long>(n) - 1);
    // The reply may come later (status); the session lives until it is written.
    auto self = shared_from_this();
    control::answer(line, peer, shared->policy, shared->handlers,
                    control::Reply([self](nlohmann::json response) { self->send(response); },
                                   [self] { return self->reader(); }));
  }

  void send(const nlohmann::json& response) {
    auto r = reader();
    if (r(TextFanout::Event::chunk, std::make_shared<const std::string>(line_of(response))))
      r(TextFanout::Event::end, nullptr);
  }

  // Takes the reply's chunks as they are rendered (shared with other sessions: one status
  // rendering serves them all) and writes them in order. It says "no more" once the socket is
  // gone, which frees the chunks it held: the rendering waits for the slowest session, so a
  // client that takes nothing for reply_timeout is closed rather than holding everyone.
  TextFanout::Reader reader() {
    if (phase == Phase::writing)  // a second reply to one request: ignored
      return [](TextFanout::Event, const TextStream::Chunk&) { return false; };
    phase = Phase::writing;
    return session_reader(shared_from_this());
  }

  bool open() const { return socket.is_open(); }

  void pump() {
    if (writing || !socket.is_open()) return;
    if (pending.empty()) {
      if (!ended) return;  // more to come
      timer.cancel();
      boost::system::error_code ignored;
      socket.shutdown(stream_protocol::socket::shutdown_both, ignored);
      return;
    }
    writing = true;
    arm(shared->limits.reply_timeout);  // per chunk: no progress for that long ends it
    // The chunk being written leaves `pending` now and lives in the handler: close() may
    // empty `pending` (a slow reader dropped by the fanout) after the write has completed but
    // before its handler runs, and popping then was popping an empty deque (a crash in the
    // reload storm, 1 run in 23).
    auto self = shared_from_this();
    auto chunk = std::move(pending.front());
    pending.pop_front();
    const auto* text = chunk.get();
    boost::asio::async_write(
        socket, boost::asio::buffer(*text),
        [self, chunk = std::move(chunk)](const boost::system::error_code& ec, std::size_t) {
          self->writing = false;
          self->timer.cancel();
          if (ec) return self->close();
          self->pump();
        });
  }

  void close() {
    timer.cancel();
    pending.clear();  // the chunks go back to the rendering now
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  stream_protocol::socket socket;
  boost::asio::steady_timer timer;
  boost::asio::streambuf buffer;
  std::shared_ptr<ControlServer::Shared> shared;
  control::Peer peer;
  Phase phase = Phase::reading;
  std::deque<TextStream::Chunk> pending;  // received, not yet written
  bool writing = false;
  bool ended = false;
};

// Over the session cap: one short error line, sent without waiting (it fits any fresh socket
// buffer), then the connection closes.
void refuse_busy(stream_protocol::socket& s, std::size_t max) {
  const std::string line = line_of(
      control::error_reply("too many sessions (" + std::to_string(max) + " at once); try again"));
  (void)::send(s.native_handle(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  boost::system::error_code ignored;
  s.close(ignored);
}

}  // namespace

ControlServer::ControlServer(boost::asio::io_context& io, control::Handlers handlers, Limits limits)
    : io_(io),
      shared_(std::make_shared<Shared>(Shared{std::move(handlers), limits, {}, {}, 0})),
      acceptor_(io),
      backoff_(io) {}

ControlServer::~ControlServer() { close(); }

void ControlServer::set_policy(control::AccessPolicy policy) {
  shared_->policy = std::move(policy);
}
const ControlServer::Counters& ControlServer::counters() const { return shared_->counters; }
std::size_t ControlServer::active_sessions() const { return shared_->active; }

std::optional<std::string> ControlServer::listen(const std::string& path,
                                                 const std::string& group) {
  // A leftover socket file: probe it. If nobody answers, it is stale and safe to replace.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return path + " exists and is not a socket";
    stream_protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path), ec);
    if (!ec) return "another l4lbd is already listening on " + path;
    ::unlink(path.c_str());
  }
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path), ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) return "control socket " + path + ": " + ec.message();
  path_ = path;
  if (struct group* g = ::getgrnam(group.c_str())) {
    // Only the group changes; giving a file to another group needs CAP_CHOWN (the shipped
    // unit keeps it for this reason alone).
    if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
      log::warning(
          "control socket={} cannot be given to group {}: {}; only root can use l4lbctl "
          "(l4lbd needs CAP_CHOWN, see systemd/l4lbd.service)",
          path, group, std::strerror(errno));
  } else {
    log::info("control socket={} group {} does not exist: root only", path, group);
  }
  if (::chmod(path.c_str(), 0660) != 0)
    log::warning("control socket={} chmod 0660 failed: {}", path, std::strerror(errno));
  accept();
  return std::nullopt;
}

void ControlServer::close() {
  backoff_.cancel();
  if (!acceptor_.is_open()) return;
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

void ControlServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket s) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (is_resource_exhaustion(ec)) {
      // The connection stays queued; accepting again now would fail again at once.
      ++shared_->counters.accept_backoffs;
      const auto wait = accept_backoff(++failures_in_row_);
      if (failures_in_row_ == 1 || failures_in_row_ % 100 == 0)
        log::warning("control socket accept failed: {} ({} in a row); retrying in {} ms",
                     ec.message(), failures_in_row_, wait.count());
      backoff_.expires_after(wait);
      backoff_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    failures_in_row_ = 0;
    if (!ec) {
      if (shared_->active >= shared_->limits.max_sessions) {
        ++shared_->counters.refused_busy;
        refuse_busy(s, shared_->limits.max_sessions);
      } else {
        std::make_shared<Session>(std::move(s), shared_)->start();
      }
    }
    accept();
  });
}

}  // namespace l4lb::daemon
