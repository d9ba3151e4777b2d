#include "health/half_open.hpp"

#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/log.hpp"
#include "common/sockaddr.hpp"
#include "health/pacer.hpp"

namespace l4lb::health::detail {

namespace {

// Ports reserved per address family: probes to one destination (address and port) in flight
// at the same time each need their own, so that their SYN-ACKs cannot be confused.
constexpr std::size_t kPorts = 16;
// Segments read per recvmmsg, and the bytes kept of each: the longest IPv4 header (60) and
// the longest TCP header (60); payload is never looked at.
constexpr std::size_t kBatch = 64;
constexpr std::size_t kKeep = 120;
constexpr int kBufferBytes = 1 << 20;

// Passes a segment only when its destination port is one of `ports`. An IPv4 raw socket
// sees the IP header first (its length in the low nibble of byte 0); an IPv6 one does not.
std::vector<sock_filter> port_filter(const std::vector<std::uint16_t>& ports, bool ip_header) {
  std::vector<sock_filter> code;
  if (ip_header) {
    code.push_back(BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0));
    code.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2));
  } else {
    code.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2));
  }
  const auto n = ports.size();
  for (std::size_t i = 0; i < n; ++i)  // on a match, jump over the rest and the "drop"
    code.push_back(
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ports[i], static_cast<std::uint8_t>(n - i), 0));
  code.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
  code.push_back(BPF_STMT(BPF_RET | BPF_K, kKeep));
  return code;
}

// The errno of binding a socket to `source` (EADDRNOTAVAIL: not an address of this host),
// or 0.
int bind_error(const net::Address& source) {
  const int fd = ::socket(net::to_af(source.family()), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_storage ss;
  const socklen_t len = net::to_sockaddr(source, 0, ss);
  const int err = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

std::int64_t nanoseconds(const timespec& ts) {
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return nanoseconds(ts);
}

// What the kernel says about a datagram it delivered: when it arrived (SO_TIMESTAMPNS; now
// when it did not say) and how many the socket had dropped by then for want of buffer room
// (SO_RXQ_OVFL, a running count).
struct Arrival {
  std::int64_t ns;
  std::optional<std::uint32_t> dropped;
};
constexpr std::size_t kControl = CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(std::uint32_t));

Arrival arrival(const msghdr& m) {
  Arrival a{0, std::nullopt};
  for (auto* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&m)); c;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      a.ns = nanoseconds(ts);
    } else if (c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(sizeof(std::uint32_t))) {
      std::uint32_t n;
      std::memcpy(&n, CMSG_DATA(c), sizeof n);
      a.dropped = n;
    }
  }
  if (a.ns == 0) a.ns = realtime_ns();
  return a;
}

}  // namespace

struct HalfOpen::Lane {
  net::Family family;
  bool tried = false;
  bool ok = false;
  int raw = -1;
  // The raw socket is watched through an epoll set of its own, registered one-shot: Asio's
  // reactor, which keeps a descriptor registered for good, would wake the loop for every
  // answer arriving while a paced read waits for its turn.
  int epoll = -1;
  bool registered = false;
  std::optional<boost::asio::posix::stream_descriptor> watcher;  // owns a dup of `epoll`
  int udp = -1;  // connected (and reconnected) to find the routed source of a destination
  std::vector<int> reserved;
  std::vector<std::uint16_t> ports;
  std::size_t next_port = 0;
  bool armed = false;
  std::optional<PacedTimer> reader;  // runs drain(): paced reads
  std::vector<std::uint64_t> outbox;
  // flush()'s buffers, kept between batches so that sending allocates nothing.
  std::vector<std::uint64_t> sending;
  std::vector<tcp_segment::Syn> syns;
  std::vector<sockaddr_storage> to;
  std::vector<iovec> iov;
  std::vector<std::uint8_t> cmsgs;
  std::vector<mmsghdr> msgs;

  ~Lane() {
    watcher.reset();
    if (epoll >= 0) ::close(epoll);
    if (raw >= 0) ::close(raw);
    for (int fd : reserved) ::close(fd);
    if (udp >= 0) ::close(udp);
  }
};

std::size_t HalfOpen::KeyHash::operator()(const Key& k) const noexcept {
  return std::hash<net::Address>{}(k.to) ^
         (std::size_t{k.dport} << 16 | k.sport) * 0x9e3779b97f4a7c15ull;
}

HalfOpen::HalfOpen(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx),
      io_(static_cast<boost::asio::io_context&>(ctx)),
      random_(std::random_device{}()) {}

HalfOpen::~HalfOpen() = default;

void HalfOpen::shutdown() {
  probes_.clear();
  by_key_.clear();
  v4_.reset();
  v6_.reset();
}

HalfOpen::Lane& HalfOpen::lane(net::Family f) {
  auto& l = f == net::Family::v4 ? v4_ : v6_;
  if (!l) {
    l = std::make_unique<Lane>();
    l->family = f;
  }
  return *l;
}

bool HalfOpen::available(net::Family f) {
  Lane& l = lane(f);
  if (!l.tried) {
    l.tried = true;
    l.ok = open_lane(l, f);
  }
  return l.ok;
}

bool HalfOpen::open_lane(Lane& l, net::Family f) {
  const int af = net::to_af(f);
  const std::string_view name = net::family_name(f);
  const int raw = ::socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (raw < 0) {
    log::warning("health: half-open {} TCP checks need a raw socket ({}); using connect()", name,
                 std::strerror(errno));
    return false;
  }
  l.raw = raw;
  l.epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (l.epoll < 0) {
    log::warning("health: half-open {} TCP checks: epoll_create1: {}; using connect()", name,
                 std::strerror(errno));
    return false;
  }
  l.watcher.emplace(io_, ::dup(l.epoll));
  l.reader.emplace(io_, [this, &l](TimePoint) { drain(l); });
  const int on = 1;
  ::setsockopt(raw, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  ::setsockopt(raw, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  for (std::size_t i = 0; i < kPorts; ++i) {
    const int fd = ::socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss;
    socklen_t len = net::to_sockaddr(
        f == net::Family::v4 ? *net::Address::parse("0.0.0.0") : *net::Address::parse("::"), 0, ss);
    const int only = 1;
    if (fd < 0 ||
        (af == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only) != 0) ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      log::warning(
          "health: half-open {} TCP checks cannot reserve a source port ({}); using "
          "connect()",
          name, std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return false;
    }
    l.reserved.push_back(fd);
    l.ports.push_back(ntohs(f == net::Family::v4 ? reinterpret_cast<sockaddr_in&>(ss).sin_port
                                                 : reinterpret_cast<sockaddr_in6&>(ss).sin6_port));
  }
  auto code = port_filter(l.ports, f == net::Family::v4);
  const sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (::setsockopt(raw, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
    log::warning(
        "health: half-open {} TCP checks cannot filter their socket ({}); using "
        "connect()",
        name, std::strerror(errno));
    return false;
  }
  // Room for a burst of answers; FORCE works with CAP_NET_ADMIN, the plain one up to rmem_max.
  if (::setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &kBufferBytes, sizeof kBufferBytes) != 0)
    ::setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &kBufferBytes, sizeof kBufferBytes);
  if (::setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &kBufferBytes, sizeof kBufferBytes) != 0)
    ::setsockopt(raw, SOL_SOCKET, SO_SNDBUF, &kBufferBytes, sizeof kBufferBytes);
  l.udp = ::socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (l.udp < 0) {
    log::warning("health: half-open {} TCP checks: socket: {}; using connect()", name,
                 std::strerror(errno));
    return false;
  }
  log::info("health: half-open {} TCP checks ready ({} source ports reserved)", name,
            l.ports.size());
  return true;
}

std::optional<net::Address> HalfOpen::routed_source(const net::Address& to, int& err) {
  Lane& l = lane(to.family());
  // Connecting a UDP socket runs the route lookup and sends nothing.
  sockaddr_storage ss;
  socklen_t len = net::to_sockaddr(to, 9, ss);
  if (::connect(l.udp, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::getsockname(l.udp, reinterpret_cast<sockaddr*>(&ss), &(len = sizeof ss)) != 0) {
    err = errno;
    return std::nullopt;
  }
  auto source = net::address_of(ss);
  if (!source) err = EAFNOSUPPORT;
  return source;
}

std::uint64_t HalfOpen::start(const net::Address& to, std::uint16_t port, From from, Done done) {
  Lane& l = lane(to.family());
  // A port with no probe to this destination in flight, round robin.
  Key key{to, port, 0};
  std::size_t tries = 0;
  for (; tries < l.ports.size(); ++tries) {
    key.sport = l.ports[l.next_port++ % l.ports.size()];
    if (!by_key_.contains(key)) break;
  }
  if (tries == l.ports.size()) return 0;
  const std::uint64_t id = next_id_++;
  by_key_.emplace(key, id);
  probes_.emplace(id, Probe{key, static_cast<std::uint32_t>(random_()), from, std::move(done)});
  queue(id);
  return id;
}

void HalfOpen::resend(std::uint64_t id) {
  if (probes_.contains(id)) queue(id);
}

void HalfOpen::forget(std::uint64_t id) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  by_key_.erase(it->second.key);
  probes_.erase(it);
}

void HalfOpen::queue(std::uint64_t id) {
  lane(probes_.at(id).key.to.family()).outbox.push_back(id);
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(io_, [this] { flush(); });
}

void HalfOpen::flush() {
  flush_posted_ = false;
  for (auto* l : {v4_.get(), v6_.get()})
    if (l && !l->outbox.empty()) flush(*l);
}

void HalfOpen::flush(Lane& l) {
  const bool v4 = l.family == net::Family::v4;
  const std::size_t control = v4 ? CMSG_SPACE(sizeof(in_pktinfo)) : CMSG_SPACE(sizeof(in6_pktinfo));
  // Probes completing below may start others: those queue into the emptied outbox.
  std::vector<std::uint64_t>& ids = l.sending;
  ids.clear();
  std::swap(ids, l.outbox);
  std::erase_if(ids, [&](std::uint64_t id) { return !probes_.contains(id); });
  const std::size_t n = ids.size();
  auto& syns = l.syns;
  auto& to = l.to;
  auto& iov = l.iov;
  auto& cmsgs = l.cmsgs;
  auto& msgs = l.msgs;
  syns.resize(n);
  to.resize(n);
  iov.resize(n);
  cmsgs.assign(n * control, 0);
  msgs.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Probe& p = probes_.at(ids[i]);
    syns[i] = tcp_segment::make_syn(p.from.address, p.key.sport, p.key.to, p.key.dport, p.seq);
    iov[i] = {syns[i].data(), syns[i].size()};
    msghdr& m = msgs[i].msg_hdr;
    m = {};
    // The port field of a raw socket's address must be zero (or the protocol, for IPv6).
    m.msg_namelen = net::to_sockaddr(p.key.to, 0, to[i]);
    m.msg_name = &to[i];
    m.msg_iov = &iov[i];
    m.msg_iovlen = 1;
    // The source goes in as packet info, so that the packet carries the address the
    // checksum was computed with.
    m.msg_control = &cmsgs[i * control];
    m.msg_controllen = control;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    if (v4) {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      info.ipi_spec_dst = p.from.address.to_v4();
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
    } else {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo info{};
      info.ipi6_addr = p.from.address.to_v6();
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
    }
  }
  const std::int64_t now_ns = realtime_ns();
  for (std::uint64_t id : ids)
    if (auto& p = probes_.at(id); p.sent_ns == 0) p.sent_ns = now_ns;
  const int fd = l.raw;
  for (std::size_t i = 0; i < n;) {
    const int sent = ::sendmmsg(fd, &msgs[i], static_cast<unsigned>(n - i), 0);
    if (sent > 0) {
      stats_.sent += static_cast<std::uint64_t>(sent);
      i += static_cast<std::size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    // Message i failed (a source no longer ours, no route, a full buffer): its probe fails
    // with the reason and the rest still go.
    ++stats_.send_errors;
    const int err = sent < 0 ? errno : EIO;
    const Probe& p = probes_.at(ids[i]);
    // The kernel says "network unreachable" for a source that is not ours: ask it plainly.
    const int bind_err = p.from.configured ? bind_error(p.from.address) : 0;
    if (bind_err != 0)
      complete(ids[i], Outcome::bad_source, bind_err);
    else
      complete(ids[i], Outcome::error, err);
    ++i;
  }
  arm(l);
}

void HalfOpen::arm(Lane& l) {
  if (l.armed || !l.watcher) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  if (::epoll_ctl(l.epoll, l.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l.raw, &ev) != 0) {
    log::err("health: half-open: epoll_ctl: {}", std::strerror(errno));
    return;
  }
  l.registered = true;
  l.armed = true;
  l.watcher->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [&l](const boost::system::error_code& ec) {
                          if (ec) {
                            l.armed = false;
                            return;
                          }
                          epoll_event fired;  // consume the one-shot event
                          while (::epoll_wait(l.epoll, &fired, 1, 0) > 0) {
                          }
                          // Read now if pacing allows, else a little later with the answers
                          // still arriving.
                          l.reader->due(Clock::now());
                        });
}

void HalfOpen::drain(Lane& l) {
  l.armed = false;
  receive(l);
  if (!probes_.empty()) arm(l);
}

void HalfOpen::receive(Lane& l) {
  const bool v4 = l.family == net::Family::v4;
  std::array<std::array<std::uint8_t, kKeep>, kBatch> bufs;
  alignas(cmsghdr) std::array<std::array<std::uint8_t, kControl>, kBatch> ctl;
  std::array<sockaddr_storage, kBatch> from;
  std::array<iovec, kBatch> iov;
  std::array<mmsghdr, kBatch> msgs;
  for (;;) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctl[i].data();
      msgs[i].msg_hdr.msg_controllen = ctl[i].size();
    }
    const int n = ::recvmmsg(l.raw, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const std::span<const std::uint8_t> bytes(bufs[i].data(),
                                                std::min<std::size_t>(msgs[i].msg_len, kKeep));
      const Arrival at = arrival(msgs[i].msg_hdr);
      if (at.dropped)
        stats_.buffer_overflows = std::max<std::uint64_t>(stats_.buffer_overflows, *at.dropped);
      std::optional<tcp_segment::Reply> reply;
      if (v4) {
        reply = tcp_segment::read_ipv4(bytes);
      } else if (auto sender = net::address_of(from[i])) {
        reply = tcp_segment::read_ipv6(bytes, *sender);
      }
      if (!reply) {
        ++stats_.malformed;
        continue;
      }
      auto it = by_key_.find(Key{reply->from, reply->sport, reply->dport});
      const auto answer = it == by_key_.end()
                              ? tcp_segment::Answer::none
                              : tcp_segment::answer(*reply, probes_.at(it->second).seq);
      if (answer == tcp_segment::Answer::none) {
        ++stats_.stray;
        continue;
      }
      ++stats_.answers;
      const Probe& p = probes_.at(it->second);
      const auto latency = std::max<std::int64_t>(0, at.ns - p.sent_ns);
      complete(it->second, answer == tcp_segment::Answer::open ? Outcome::open : Outcome::refused,
               0, std::chrono::duration_cast<Micros>(std::chrono::nanoseconds(latency)));
    }
    if (n < static_cast<int>(kBatch)) return;
  }
}

void HalfOpen::complete(std::uint64_t id, Outcome outcome, int err, Micros latency) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  auto done = std::move(it->second.done);
  by_key_.erase(it->second.key);
  probes_.erase(it);
  if (done) done(outcome, err, latency);
}

}  // namespace l4lb::health::detail
