#include "vrrp/netlink.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/rtnl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.hpp"

namespace l4lb::vrrp {
namespace {

std::optional<net::Address> to_address(nl_addr* a) {
  if (!a) return std::nullopt;
  int fam = nl_addr_get_family(a);
  auto len = nl_addr_get_len(a);
  auto* bytes = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(a));
  if (fam == AF_INET && len == 4) return net::Address::from_bytes(net::Family::v4, bytes);
  if (fam == AF_INET6 && len == 16) return net::Address::from_bytes(net::Family::v6, bytes);
  return std::nullopt;
}

rtnl_addr* make_addr(int ifindex, const net::Prefix& p) {
  rtnl_addr* a = rtnl_addr_alloc();
  nl_addr* local = nl_addr_build(net::to_af(p.address.family()), p.address.data(),
                                 static_cast<unsigned>(p.address.size()));
  nl_addr_set_prefixlen(local, p.length);
  rtnl_addr_set_ifindex(a, ifindex);
  rtnl_addr_set_family(a, net::to_af(p.address.family()));
  rtnl_addr_set_local(a, local);
  rtnl_addr_set_prefixlen(a, p.length);
  // A VIP must answer the moment we are Master: no DAD delay (the other routers removed it).
  if (p.address.is_v6()) rtnl_addr_set_flags(a, IFA_F_NODAD);
  nl_addr_put(local);
  return a;
}

// nl_cache_refill restarts a dump that the kernel marks inconsistent (NLM_F_DUMP_INTR: the
// table changed between two parts of the dump) but keeps what the cut pass had added, so an
// address deleted between the passes stays in the view. So each pass starts from an empty
// cache here, and a table that keeps changing is given up after a few passes (-NLE_DUMP_INTR)
// rather than holding the VRRP thread for as long as the changes go on.
// `request` is the dump's message type (RTM_GETLINK, RTM_GETADDR), all families.
int refill(nl_sock* sk, nl_cache* cache, int request, int max_passes) {
  int err = -NLE_DUMP_INTR;
  for (int pass = 0; pass < max_passes && err == -NLE_DUMP_INTR; ++pass) {
    nl_cache_clear(cache);
    err = nl_rtgen_request(sk, request, AF_UNSPEC, NLM_F_DUMP);
    if (err >= 0) err = nl_cache_pickup(sk, cache);
  }
  return err;
}

}  // namespace

Netlink::Netlink(boost::asio::io_context& io, int event_buffer) : events_(io), retry_(io) {
  req_ = nl_socket_alloc();
  if (!req_ || nl_connect(req_, NETLINK_ROUTE) < 0)
    throw std::runtime_error("rtnetlink: cannot open a request socket");
  int err = nl_cache_mngr_alloc(nullptr, NETLINK_ROUTE, NL_AUTO_PROVIDE, &mngr_);
  if (err < 0) throw std::runtime_error(std::string("rtnetlink: ") + nl_geterror(err));
  err = nl_cache_mngr_add(mngr_, "route/link", nullptr, nullptr, &links_);
  if (err >= 0) err = nl_cache_mngr_add(mngr_, "route/addr", nullptr, nullptr, &addrs_);
  if (err < 0) throw std::runtime_error(std::string("rtnetlink: ") + nl_geterror(err));
  // Past the default rmem_max when we may (root: SO_RCVBUFFORCE), else as far as it allows.
  const int mngr_fd = nl_cache_mngr_get_fd(mngr_);
  if (::setsockopt(mngr_fd, SOL_SOCKET, SO_RCVBUFFORCE, &event_buffer, sizeof event_buffer) != 0)
    ::setsockopt(mngr_fd, SOL_SOCKET, SO_RCVBUF, &event_buffer, sizeof event_buffer);
  // The manager owns its fd; hand Asio a duplicate so that both can close their own.
  int fd = ::fcntl(mngr_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("rtnetlink: dup failed");
  events_.assign(fd);
  wait();
}

Netlink::~Netlink() {
  boost::system::error_code ec;
  events_.close(ec);
  if (mngr_) nl_cache_mngr_free(mngr_);
  if (req_) nl_socket_free(req_);
}

void Netlink::wait() {
  events_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec) return;
                       int n = nl_cache_mngr_data_ready(mngr_);
                       views_.clear();
                       if (n < 0) {
                         // Typically ENOBUFS: events were lost, so re-read everything.
                         ++stats_.overflows;
                         log::warning("rtnetlink: event stream error ({}), resynchronising",
                                      nl_geterror(n));
                         const bool drained = drain_events();
                         if (!resync() || !drained) retry_resync();
                       }
                       if (on_change_) on_change_();
                       wait();
                     });
}

bool Netlink::drain_events() {
  // The kernel reports an overflow once, then drops further events silently for as long as
  // the socket stays congested, i.e. until its queue has been emptied. Events queued before
  // the re-read are stale anyway, so empty the queue first: from then on a lost event is
  // reported again, and nothing can go missing between the re-read and the next error.
  const int fd = nl_cache_mngr_get_fd(mngr_);
  std::array<char, 16384> buf;
  for (int i = 0; i < kMaxDrainReads; ++i) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n >= 0) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (errno != EINTR && errno != ENOBUFS) return false;
  }
  return false;  // still full after that many reads: re-read once more later
}

bool Netlink::resync() {
  views_.clear();  // the caches are emptied and refilled, whatever the outcome
  int err = links_ ? refill(req_, links_, RTM_GETLINK, kMaxDumpPasses) : 0;
  if (err >= 0 && addrs_) err = refill(req_, addrs_, RTM_GETADDR, kMaxDumpPasses);
  if (err == -NLE_DUMP_INTR) {
    ++stats_.resync_interrupted;
    log::info("rtnetlink: links and addresses kept changing during {} re-reads; retrying",
              kMaxDumpPasses);
    return false;
  }
  if (err < 0) {
    ++stats_.resync_errors;
    log::err("rtnetlink: re-reading links and addresses failed ({}); retrying", nl_geterror(err));
    return false;
  }
  ++stats_.resyncs;
  return true;
}

void Netlink::retry_resync() {
  // Until a re-read succeeds the view may be stale: keep trying, and tell the routers
  // each time it succeeds so that they decide again on the truth.
  retry_.expires_after(std::chrono::milliseconds(200));
  retry_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const bool drained = drain_events();
    if (!resync() || !drained) return retry_resync();
    if (on_change_) on_change_();
  });
}

std::optional<LinkInfo> Netlink::link(const std::string& name) const {
  auto [it, added] = views_.try_emplace(name);
  if (added) it->second = read_link(name);
  return it->second;
}

std::optional<LinkInfo> Netlink::read_link(const std::string& name) const {
  rtnl_link* l = rtnl_link_get_by_name(links_, name.c_str());
  if (!l) return std::nullopt;
  LinkInfo info;
  info.ifindex = rtnl_link_get_ifindex(l);
  info.name = name;
  unsigned flags = rtnl_link_get_flags(l);
  info.up = (flags & IFF_UP) && (flags & IFF_RUNNING);
  if (nl_addr* mac = rtnl_link_get_addr(l); mac && nl_addr_get_len(mac) == 6)
    std::memcpy(info.mac.data(), nl_addr_get_binary_addr(mac), 6);
  rtnl_link_put(l);
  for (nl_object* o = nl_cache_get_first(addrs_); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != info.ifindex) continue;
    auto addr = to_address(rtnl_addr_get_local(a));
    if (!addr) continue;
    unsigned f = rtnl_addr_get_flags(a);
    info.addresses.push_back(
        {net::Prefix{*addr, static_cast<std::uint8_t>(rtnl_addr_get_prefixlen(a))},
         (f & IFA_F_SECONDARY) != 0, (f & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) != 0});
  }
  return info;
}

AddressTable::Result Netlink::add(int ifindex, const net::Prefix& p, std::string& error) {
  rtnl_addr* a = make_addr(ifindex, p);
  int err = rtnl_addr_add(req_, a, NLM_F_EXCL);
  rtnl_addr_put(a);
  if (err == -NLE_EXIST) return Result::exists;
  if (err < 0) {
    error = nl_geterror(err);
    return Result::error;
  }
  return Result::ok;
}

AddressTable::Result Netlink::remove(int ifindex, const net::Prefix& p, std::string& error) {
  rtnl_addr* a = make_addr(ifindex, p);
  int err = rtnl_addr_delete(req_, a, 0);
  rtnl_addr_put(a);
  if (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return Result::missing;
  if (err < 0) {
    error = nl_geterror(err);
    return Result::error;
  }
  return Result::ok;
}

}  // namespace l4lb::vrrp
