#include "ipvs/netlink_kernel.hpp"

#include <fmt/format.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>

#include "ipvs/netlink_codec.hpp"

namespace l4lb::ipvs {

namespace {

constexpr int kBufferBytes = 16 * 1024 * 1024;
// Bytes of receive buffer one queued error ACK costs (skb truesize), with margin.
constexpr int kAckTruesize = 2048;

int errno_of(int nl_error) {
  // libnl maps errno to its own codes; translate back for the common ones.
  switch (nl_error < 0 ? -nl_error : nl_error) {
    case NLE_PERM:
      return EPERM;
    case NLE_NOMEM:
      return ENOBUFS;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_AGAIN:
      return EAGAIN;
    default:
      return EIO;
  }
}

}  // namespace

std::string Info::version_string() const {
  return fmt::format("{}.{}.{}", (version >> 16) & 0xff, (version >> 8) & 0xff, version & 0xff);
}

NetlinkKernel::~NetlinkKernel() {
  if (sock_) nl_socket_free(sock_);
}

std::unique_ptr<NetlinkKernel> NetlinkKernel::open(std::string& error, int rcvbuf) {
  std::unique_ptr<NetlinkKernel> k(new NetlinkKernel());
  k->sock_ = nl_socket_alloc();
  if (!k->sock_) {
    error = "IPVS: cannot allocate a netlink socket";
    return nullptr;
  }
  if (int e = genl_connect(k->sock_); e < 0) {
    error = fmt::format("IPVS: cannot open a generic netlink socket: {}", nl_geterror(e));
    return nullptr;
  }
  k->family_ = genl_ctrl_resolve(k->sock_, IPVS_GENL_NAME);
  if (k->family_ < 0) {
    error = "IPVS is not available: module ip_vs not loaded (no generic netlink family \"IPVS\")";
    return nullptr;
  }
  // Our own sequence bookkeeping: many requests are in flight per batch.
  nl_socket_disable_seq_check(k->sock_);
  nl_socket_disable_auto_ack(k->sock_);
  nl_socket_set_msg_buf_size(k->sock_, 64 * 1024);
  const int fd = nl_socket_get_fd(k->sock_);
  int one = 1;
  // Error ACKs without a copy of the request: smaller, so more fit in the buffer.
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  nl_socket_set_buffer_size(k->sock_, kBufferBytes, kBufferBytes);
  int size = kBufferBytes;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  int rcv = 0, snd = 0;
  socklen_t len = sizeof(rcv);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
  len = sizeof(snd);
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &len);
  // Every message of a chunk may fail, and each failure queues one ACK: the chunk must
  // fit the receive buffer, and its bytes one sendmsg.
  k->max_batch_ = std::max<std::size_t>(16, std::min<std::size_t>(4096, rcv / kAckTruesize));
  k->max_batch_bytes_ = std::max<std::size_t>(4096, std::min<std::size_t>(1 << 20, snd / 2));
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return k;
}

std::unique_ptr<Kernel> open_netlink_kernel(std::string& error, int rcvbuf) {
  auto k = NetlinkKernel::open(error, rcvbuf);
  if (!k) return nullptr;
  // Every IPVS command needs CAP_NET_ADMIN; find out now, once, not at the first change.
  if (!k->info(error)) return nullptr;
  return k;
}

int NetlinkKernel::request(nl_msg* msg, bool dump, const std::function<bool(nlmsghdr*)>& on_reply,
                           std::string& error) {
  nl_complete_msg(sock_, msg);
  nlmsghdr* req = nlmsg_hdr(msg);
  req->nlmsg_flags |= NLM_F_ACK;
  const std::uint32_t seq = req->nlmsg_seq;
  bool interrupted = false;
  if (int e = nl_sendto(sock_, req, req->nlmsg_len); e < 0) {
    error = fmt::format("netlink send: {}", nl_geterror(e));
    return errno_of(e);
  }
  for (;;) {
    sockaddr_nl peer{};
    unsigned char* buf = nullptr;
    int n = nl_recv(sock_, &peer, &buf, nullptr);
    if (n <= 0) {
      std::free(buf);
      error = fmt::format("netlink receive: {}", n == 0 ? "no data" : nl_geterror(n));
      if (n < 0 && errno_of(n) == ENOBUFS) ++counters_.nobufs;
      return n == 0 ? EIO : errno_of(n);
    }
    int result = -1;  // -1: keep reading
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); nlmsg_ok(h, n); h = nlmsg_next(h, &n)) {
      if (h->nlmsg_seq != seq) continue;  // a late answer to an earlier request
      // The table changed while the kernel was dumping it: the dump is not a consistent
      // picture (IPVS in 6.1 does not set it, but a kernel that does must not be trusted).
      if (dump && (h->nlmsg_flags & NLM_F_DUMP_INTR)) interrupted = true;
      if (h->nlmsg_type == NLMSG_DONE) {
        result = interrupted ? EINTR : 0;
        if (interrupted) {
          ++counters_.dumps_interrupted;
          error = "dump interrupted by a concurrent change (NLM_F_DUMP_INTR)";
        }
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(nlmsg_data(h));
        if (e->error != 0 || !dump) {
          result = -e->error;
          if (result) error = std::strerror(result);
          break;
        }
        continue;
      }
      if (!on_reply(h)) {
        result = EPROTO;
        if (error.empty()) error = "malformed reply";
      }
    }
    std::free(buf);
    if (result >= 0) return result;
  }
}

std::optional<Info> NetlinkKernel::info(std::string& error) {
  codec::MsgPtr m = codec::encode_info_request(family_);
  Info info;
  std::string perr;
  int e = request(
      m.get(), false, [&](nlmsghdr* h) { return codec::decode_info(h, info, perr); }, error);
  if (e == EPERM) {
    error = "IPVS is not available: no CAP_NET_ADMIN";
    return std::nullopt;
  }
  if (e) {
    error = "IPVS info request failed: " + (perr.empty() ? error : perr);
    return std::nullopt;
  }
  return info;
}

std::optional<Timeouts> NetlinkKernel::timeouts(std::string& error) {
  codec::MsgPtr m = codec::encode_get_config(family_);
  if (!m) {
    error = "cannot encode the IPVS config request";
    return std::nullopt;
  }
  Timeouts t;
  std::string perr;
  int e = request(
      m.get(), false, [&](nlmsghdr* h) { return codec::decode_config(h, t, perr); }, error);
  if (e) {
    error = "IPVS config request failed: " + (perr.empty() ? error : perr);
    return std::nullopt;
  }
  return t;
}

bool NetlinkKernel::set_timeouts(const Timeouts& t, std::string& error) {
  codec::MsgPtr m = codec::encode_set_config(family_, t);
  if (!m) {
    error = "cannot encode the IPVS timeouts";
    return false;
  }
  int e = request(
      m.get(), false, [](nlmsghdr*) { return true; }, error);
  if (e) {
    error = "IPVS set timeouts failed: " + error;
    return false;
  }
  return true;
}

std::optional<std::vector<SyncDaemon>> NetlinkKernel::sync_daemons(std::string& error) {
  codec::MsgPtr m = codec::encode_daemon_dump(family_);
  if (!m) {
    error = "cannot encode the IPVS sync daemon dump";
    return std::nullopt;
  }
  std::vector<SyncDaemon> out;
  std::string perr;
  int e = request(
      m.get(), true,
      [&](nlmsghdr* h) {
        SyncDaemon d;
        if (!codec::decode_daemon(h, d, perr)) return false;
        out.push_back(std::move(d));
        return true;
      },
      error);
  if (e) {
    error = "IPVS sync daemon dump failed: " + (perr.empty() ? error : perr);
    return std::nullopt;
  }
  return out;
}

bool NetlinkKernel::start_sync_daemon(const SyncDaemon& d, std::string& error) {
  codec::MsgPtr m = codec::encode_new_daemon(family_, d);
  if (!m) {
    error = fmt::format("cannot encode a sync daemon on interface '{}'", d.interface);
    return false;
  }
  int e = request(
      m.get(), false, [](nlmsghdr*) { return true; }, error);
  if (e) {
    // The kernel's answers, in the operator's terms (start_sync_thread in ip_vs_sync.c).
    std::string hint;
    if (e == ENODEV)
      hint = fmt::format(" (no interface '{}' in this network namespace)", d.interface);
    else if (e == EEXIST)
      hint = " (a sync daemon of this role already runs)";
    else if (e == EINVAL)
      hint = " (interface MTU too small, or a parameter the kernel refuses)";
    error = fmt::format("IPVS start sync {} on {}: {}{}", to_string(d.role), d.interface,
                        std::strerror(e), hint);
    return false;
  }
  return true;
}

bool NetlinkKernel::stop_sync_daemon(SyncRole role, std::string& error) {
  codec::MsgPtr m = codec::encode_del_daemon(family_, role);
  if (!m) {
    error = "cannot encode a sync daemon stop";
    return false;
  }
  int e = request(
      m.get(), false, [](nlmsghdr*) { return true; }, error);
  if (e) {
    error = fmt::format("IPVS stop sync {}: {}{}", to_string(role), std::strerror(e),
                        e == ESRCH ? " (not running)" : "");
    return false;
  }
  return true;
}

bool NetlinkKernel::dump(Table& out, std::string& error) {
  out = Table{};
  std::string perr;
  ++counters_.dumps;
  codec::MsgPtr m = codec::encode_service_dump(family_);
  int e = request(
      m.get(), true,
      [&](nlmsghdr* h) {
        Service s;
        Stats st;
        if (!codec::decode_service(h, s, perr, &st)) return false;
        out.set_stats(s, st);
        out.services[s.key] = std::move(s);
        return true;
      },
      error);
  if (e) {
    error = "IPVS service dump failed: " + (perr.empty() ? error : perr);
    return false;
  }
  for (auto& entry : out.services) {
    // Named references, not a structured binding: lambdas may not capture those (clang).
    const ServiceKey& key = entry.first;
    Service& svc = entry.second;
    ++counters_.dumps;
    codec::MsgPtr d = codec::encode_dest_dump(family_, key);
    const net::Family fam = key.family();
    e = request(
        d.get(), true,
        [&](nlmsghdr* h) {
          Destination dst;
          DestCounters c;
          if (!codec::decode_dest(h, fam, dst, perr, &c)) return false;
          out.set_counters(dst, c);
          svc.destinations[dst.key()] = dst;
          return true;
        },
        error);
    if (e) {
      error = fmt::format("IPVS destination dump of {} failed: {}", key.to_string(),
                          perr.empty() ? error : perr);
      return false;
    }
  }
  return true;
}

std::vector<OpFailure> NetlinkKernel::apply(std::span<const Operation> ops) {
  std::vector<OpFailure> failures;
  std::size_t begin = 0;
  while (begin < ops.size()) {
    const std::size_t end = std::min(ops.size(), begin + max_batch_);
    send_chunk(ops, begin, end, failures);
    begin = end;
  }
  return failures;
}

// One sendmsg carries many messages; the kernel processes them in order inside the
// call, queueing an error ACK for each failure and a final ACK for the last message
// (which alone has NLM_F_ACK). So when the last ACK arrives, every answer is in.
void NetlinkKernel::send_chunk(std::span<const Operation> ops, std::size_t begin, std::size_t end,
                               std::vector<OpFailure>& failures) {
  // The socket's own buffer, kept between calls (at most max_batch_bytes_ plus one message):
  // the plan worker sends a large plan in pieces of 4,096 operations, and a fresh buffer for
  // each piece (a new mapping of about 650 KB) had every page of it faulted in again.
  // Room for the chunk as it usually encodes (under 160 bytes an operation): one allocation,
  // not one per doubling; not the batch limit itself, for a small chunk's sake.
  std::vector<unsigned char>& buf = encode_buf_;
  buf.reserve(std::min(max_batch_bytes_, (end - begin) * 160) + 256);
  while (begin < end) {
    // Sequence numbers are consecutive within a batch: an answer's index is its offset.
    const std::uint32_t first_seq = nl_socket_use_seq(sock_);
    const std::uint32_t port = nl_socket_get_local_port(sock_);
    buf.clear();
    std::size_t i = begin;
    std::size_t last_off = 0;
    for (; i < end; ++i) {
      const std::size_t off = buf.size();
      codec::append_operation(buf, family_, first_seq + static_cast<std::uint32_t>(i - begin), port,
                              ops[i]);
      if (off > 0 && buf.size() > max_batch_bytes_) {
        buf.resize(off);  // next batch
        break;
      }
      last_off = off;
    }
    const std::size_t sent_end = i;
    // Every sequence number after the first one: the socket's counter moves past the batch.
    for (std::size_t k = begin + 1; k < sent_end; ++k) nl_socket_use_seq(sock_);
    const std::uint32_t last_seq = first_seq + static_cast<std::uint32_t>(sent_end - 1 - begin);
    auto index_of = [&](std::uint32_t seq) -> std::optional<std::size_t> {
      const std::uint32_t k = seq - first_seq;  // wraps for a late answer from before
      if (k >= sent_end - begin) return std::nullopt;
      return begin + k;
    };
    // The last message carries the only NLM_F_ACK.
    reinterpret_cast<nlmsghdr*>(buf.data() + last_off)->nlmsg_flags |= NLM_F_ACK;

    ++counters_.batches;
    counters_.operations += sent_end - begin;
    int sent = nl_sendto(sock_, buf.data(), buf.size());
    if (sent < 0) {
      const std::string why = fmt::format("netlink send failed: {}", nl_geterror(sent));
      for (std::size_t k = begin; k < sent_end; ++k) failures.push_back({k, errno_of(sent), why});
      counters_.failed += sent_end - begin;
      begin = sent_end;
      continue;
    }
    // The answers come in sequence order: this batch's failures start here, ascending.
    const std::size_t batch_failures = failures.size();
    bool done = false;
    while (!done) {
      sockaddr_nl peer{};
      unsigned char* rbuf = nullptr;
      int n = nl_recv(sock_, &peer, &rbuf, nullptr);
      if (n <= 0) {
        std::free(rbuf);
        if (n < 0 && errno_of(n) == ENOBUFS) ++counters_.nobufs;
        // Lost ACKs (ENOBUFS) or no answer: the outcome of the rest is unknown.
        const std::string why = fmt::format("no answer from the kernel ({}); outcome unknown",
                                            n == 0 ? "no data" : nl_geterror(n));
        // Every operation of the batch not answered with an error is unknown now.
        std::vector<OpFailure> all;
        all.reserve(sent_end - begin);
        std::size_t f = batch_failures;
        for (std::size_t k = begin; k < sent_end; ++k) {
          if (f < failures.size() && failures[f].index == k)
            all.push_back(std::move(failures[f++]));
          else
            all.push_back({k, EIO, why});
        }
        failures.resize(batch_failures);
        std::move(all.begin(), all.end(), std::back_inserter(failures));
        break;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(rbuf); nlmsg_ok(h, n); h = nlmsg_next(h, &n)) {
        if (h->nlmsg_type != NLMSG_ERROR) continue;
        const auto idx = index_of(h->nlmsg_seq);
        if (!idx) continue;
        const int err = -static_cast<nlmsgerr*>(nlmsg_data(h))->error;
        if (err) {
          failures.push_back({*idx, err, explain_error(ops[*idx], err)});
          ++counters_.failed;
        }
        if (h->nlmsg_seq == last_seq) done = true;
      }
      std::free(rbuf);
    }
    begin = sent_end;
  }
}

}  // namespace l4lb::ipvs
