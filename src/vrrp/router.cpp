#include "vrrp/router.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "vrrp/link_policy.hpp"

namespace l4lb::vrrp {

Router::Router(RouterEnv& env, const config::VrrpInstance& cfg, net::Family family)
    : env_(env),
      cfg_(cfg),
      family_(family),
      machine_(MachineParams{}),
      timer_(env.io),
      garp_timer_(env.io),
      retry_timer_(env.io) {
  machine_ = Machine(params());
}

Router::~Router() {
  *alive_ = false;
  if (!stopped_) shutdown();
}

std::vector<net::Prefix> Router::family_vips() const {
  std::vector<net::Prefix> v;
  for (const auto& p : cfg_.vips)
    if (p.address.family() == family_) v.push_back(p);
  return v;
}

std::vector<net::Address> Router::family_peers() const {
  std::vector<net::Address> v;
  if (cfg_.unicast)
    for (const auto& p : cfg_.unicast->peers)
      if (p.family() == family_) v.push_back(p);
  return v;
}

int Router::effective_priority() const {
  if (cfg_.priority >= 255) return 255;  // the address owner is not subject to tracking
  return std::clamp(int{cfg_.priority} + track_weight_ + service_weight_, 1, 254);
}

MachineParams Router::params() const {
  MachineParams p;
  p.vrid = cfg_.vrid;
  p.priority = effective_priority();
  p.advert_interval = cfg_.advert_interval;
  p.preempt = cfg_.preempt;
  p.preempt_delay = cfg_.preempt_delay;
  p.accept_mode = cfg_.accept_mode;
  p.primary = primary_;
  return p;
}

void Router::start() {
  log::info("vrrp instance={} family={} interface={} vrid={} priority={} starting", cfg_.name,
            net::family_name(family_), cfg_.interface, cfg_.vrid, cfg_.priority);
  links_changed();
  execute(machine_.start(Clock::now()));
}

void Router::ensure_socket(const LinkInfo& link) {
  if (socket_ && link.ifindex == ifindex_) return;
  socket_.reset();
  ifindex_ = link.ifindex;
  std::string error;
  socket_ = AdvertSocket::open(env_.io, family_, ifindex_, cfg_.interface, !cfg_.unicast, error);
  if (!socket_) {
    log::err("vrrp instance={} family={} cannot open socket on {}: {}", cfg_.name,
             net::family_name(family_), cfg_.interface, error);
    return;
  }
  socket_->start([this](const IpMeta& m, std::span<const std::uint8_t> msg, std::optional<Drop> d) {
    on_packet(m, msg, d);
  });
}

void Router::adopt_recorded(const LinkInfo& link) {
  // Once, at the first sight of the interface: VIPs on it that our record says we added
  // were left by a previous l4lbd that did not get to remove them.
  if (adoption_checked_) return;
  adoption_checked_ = true;
  for (const auto& v : family_vips()) {
    bool present = std::any_of(link.addresses.begin(), link.addresses.end(),
                               [&](const auto& a) { return a.prefix.address == v.address; });
    if (present && env_.record.contains(cfg_.interface, v)) {
      log::notice("vrrp instance={} vip={} left by a previous run: adopted", cfg_.name,
                  v.to_string());
      owned_.insert(v);
    }
  }
}

void Router::links_changed() {
  if (stopped_) return;
  auto now = Clock::now();
  auto link = env_.netlink.link(cfg_.interface);
  if (link) {
    mac_ = link->mac;
    ensure_socket(*link);
    adopt_recorded(*link);
  } else {
    socket_.reset();  // reopened (on the new ifindex) when the interface comes back
  }
  LinkFacts facts{socket_ != nullptr, vip_error_, machine_.state() == State::master, confirmed_,
                  unconfirmed_};
  const LinkDecision d = decide_links(cfg_, family_, env_.netlink, facts);
  for (const auto& v : d.vips_seen)
    if (owned_.count(v)) {
      confirmed_.insert(v);
      unconfirmed_.erase(v);
    }
  if (d.primary && (!have_primary_ || *d.primary != primary_)) {
    primary_ = *d.primary;
    have_primary_ = true;
    execute(machine_.update(params(), now));
  }
  if (d.track_weight != track_weight_) {
    track_weight_ = d.track_weight;
    execute(machine_.set_priority(effective_priority(), now));
  }
  if (d.fault_reason != fault_reason_) {
    if (!d.fault_reason.empty())
      log::warning("vrrp instance={} family={} fault: {}", cfg_.name, net::family_name(family_),
                   d.fault_reason);
    fault_reason_ = d.fault_reason;
  }
  execute(machine_.set_fault(!d.fault_reason.empty(), now));
  if (!d.vips_removed.empty() && machine_.state() == State::master) restore_vips(d.vips_removed);
}

void Router::restore_vips(const std::vector<net::Prefix>& removed) {
  // Someone deleted a VIP we hold as Master (`ip addr del`): the kernel is the truth and it
  // is wrong, so put the address back and announce it again.
  for (const auto& v : removed) {
    log::warning("vrrp instance={} vip={} removed from {} from outside: restoring", cfg_.name,
                 v.to_string(), cfg_.interface);
    owned_.erase(v);
    confirmed_.erase(v);
    unconfirmed_.erase(v);
    env_.record.remove(cfg_.interface, v);
    ++vip_repairs_;
  }
  add_vips();
  if (vip_error_.empty()) {
    garp_left_ = std::max(cfg_.garp.repeat, 1);
    announce_round();
  } else {
    links_changed();  // the add failed: Fault, not a Master without its address
  }
}

void Router::retry_after_vip_error() {
  // A failed VIP add put us in Fault; try again later (the address may be addable now).
  retry_timer_.expires_after(std::chrono::seconds(1));
  retry_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    vip_error_.clear();
    links_changed();
  });
}

void Router::set_service_weight(int weight) {
  if (weight == service_weight_ || stopped_) return;
  service_weight_ = weight;
  execute(machine_.set_priority(effective_priority(), Clock::now()));
}

void Router::update(const config::VrrpInstance& cfg) {
  auto old_vips = family_vips();
  cfg_ = cfg;
  auto now = Clock::now();
  if (machine_.state() == State::master) {
    auto new_vips = family_vips();
    for (const auto& v : old_vips)
      if (std::find(new_vips.begin(), new_vips.end(), v) == new_vips.end() && owned_.count(v)) {
        std::string error;
        env_.netlink.remove(ifindex_, v, error);
        env_.record.remove(cfg_.interface, v);
        owned_.erase(v);
        confirmed_.erase(v);  // else its absence would read as a removal from outside
        unconfirmed_.erase(v);
      }
    add_vips();  // adds only the new ones; existing ones report "exists" and stay owned
  }
  execute(machine_.update(params(), now));
  links_changed();  // tracked interfaces may have changed
}

void Router::shutdown() {
  if (stopped_) return;
  execute(machine_.shutdown(Clock::now()));
  if (!owned_.empty()) remove_vips();  // adopted ones, when we stop before deciding
  stopped_ = true;
  timer_.cancel();
  garp_timer_.cancel();
  retry_timer_.cancel();
  socket_.reset();
}

void Router::execute(const Actions& a) {
  if (a.send_priority_zero) send_advert(0);
  if (a.remove_vips) remove_vips();
  if (a.add_vips) add_vips();
  // A Master that could not add its VIPs must not advertise them: it goes to Fault, decided
  // on the loop's next turn (this call is still carrying out the machine's actions).
  const bool vips_missing = !vip_error_.empty() && machine_.state() == State::master;
  if (vips_missing)
    boost::asio::post(env_.io, [this, alive = alive_] {
      if (*alive && !stopped_) links_changed();
    });
  if (a.send_advert && !vips_missing) send_advert(machine_.params().priority);
  if (a.announce && !vips_missing) {
    garp_left_ = std::max(cfg_.garp.repeat, 1);
    announce_round();
  }
  if (a.transition) {
    since_ = std::chrono::system_clock::now();
    if (a.transition->second != State::master) last_advert_.reset();
    log::notice("vrrp instance={} family={} state={} from={} priority={}{}", cfg_.name,
                net::family_name(family_), to_string(a.transition->second),
                to_string(a.transition->first), machine_.params().priority,
                fault_reason_.empty() ? "" : " reason=\"" + fault_reason_ + "\"");
    if (env_.on_transition)
      env_.on_transition(cfg_.name, family_, a.transition->first, a.transition->second);
  }
  // VIPs adopted from a previous run go as soon as we know we are not the Master.
  if (!owned_.empty() && machine_.state() != State::master &&
      (machine_.state() == State::fault || machine_.master_address()))
    remove_vips();
  if (!stopped_) reschedule();
}

void Router::reschedule() {
  auto deadline = machine_.next_deadline();
  if (!deadline) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*deadline);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    // A stale wake-up is harmless: the machine only acts on deadlines that are due.
    execute(machine_.on_timer(Clock::now()));
  });
}

void Router::send_advert(int priority) {
  if (!socket_ || !have_primary_) return;
  Advert ad;
  ad.vrid = cfg_.vrid;
  ad.priority = static_cast<std::uint8_t>(priority);
  ad.max_adver_int_cs = to_centiseconds(cfg_.advert_interval);
  for (const auto& v : family_vips()) ad.addresses.push_back(v.address);
  std::vector<net::Address> dests =
      cfg_.unicast ? family_peers() : std::vector<net::Address>{multicast_group(family_)};
  // The interval actually achieved between two adverts of one mastership: what a backup
  // sees, and what anything holding the loop stretches.
  const TimePoint now = Clock::now();
  if (priority > 0 && last_advert_) advert_intervals_.record(now - *last_advert_);
  last_advert_ = priority > 0 ? std::optional<TimePoint>(now) : std::nullopt;
  for (const auto& d : dests) {
    std::string error;
    if (socket_->send(primary_, d, encode(ad, primary_, d), error)) {
      ++adverts_sent_;
    } else {
      ++send_errors_;
      log::debug("vrrp instance={} send to {} failed: {}", cfg_.name, d.to_string(), error);
    }
  }
}

void Router::add_vips() {
  for (const auto& v : family_vips()) {
    if (owned_.count(v)) continue;
    std::string error;
    switch (env_.netlink.add(ifindex_, v, error)) {
      case AddressTable::Result::ok:
        owned_.insert(v);
        unconfirmed_[v] = env_.netlink.rereads();
        env_.record.add(cfg_.interface, v);
        break;
      case AddressTable::Result::exists:
        if (env_.record.contains(cfg_.interface, v)) {  // ours, from a previous run
          owned_.insert(v);
          break;
        }
        // Someone else put it there (an operator, another daemon): use it, never remove it.
        log::notice("vrrp instance={} vip={} already on {}; not ours, will not remove it",
                    cfg_.name, v.to_string(), cfg_.interface);
        break;
      default:
        log::err("vrrp instance={} cannot add vip={} on {}: {}", cfg_.name, v.to_string(),
                 cfg_.interface, error);
        ++vip_add_errors_;
        if (vip_error_.empty()) {
          vip_error_ = "cannot add vip " + v.to_string() + ": " + error;
          retry_after_vip_error();
        }
    }
  }
}

void Router::remove_vips() {
  garp_timer_.cancel();
  garp_left_ = 0;
  for (const auto& v : owned_) {
    std::string error;
    if (env_.netlink.remove(ifindex_, v, error) == AddressTable::Result::error)
      log::err("vrrp instance={} cannot remove vip={}: {}", cfg_.name, v.to_string(), error);
    env_.record.remove(cfg_.interface, v);
  }
  owned_.clear();
  confirmed_.clear();
  unconfirmed_.clear();
}

void Router::announce_round() {
  if (machine_.state() != State::master || stopped_) return;
  for (const auto& v : family_vips()) {
    std::string error;
    if (!env_.announcer.announce(ifindex_, mac_, v.address, error))
      log::debug("vrrp instance={} announce {} failed: {}", cfg_.name, v.to_string(), error);
  }
  Duration next{0};
  if (--garp_left_ > 0) {
    next = cfg_.garp.interval;
  } else if (cfg_.garp.refresh.count() > 0) {
    garp_left_ = 1;
    next = cfg_.garp.refresh;
  } else {
    return;
  }
  garp_timer_.expires_after(next);
  garp_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    announce_round();
  });
}

void Router::count_drop(Drop d, const IpMeta& meta) {
  ++drops_[static_cast<std::size_t>(d)];
  log::debug("vrrp instance={} family={} drop reason={} from={}", cfg_.name,
             net::family_name(family_), reason_name(d), meta.source.to_string());
}

void Router::on_packet(const IpMeta& meta, std::span<const std::uint8_t> msg,
                       std::optional<Drop> drop) {
  if (stopped_) return;
  if (drop) return count_drop(*drop, meta);
  auto r = decode(family_, meta, msg);
  if (!r.advert) return count_drop(r.drop, meta);
  auto peers = family_peers();
  if (auto d = check_instance(*r.advert, meta, cfg_.vrid, cfg_.priority >= 255,
                              cfg_.unicast ? &peers : nullptr))
    return count_drop(*d, meta);
  ++adverts_received_;
  execute(machine_.on_advert(r.advert->priority, r.advert->max_adver_int_cs, meta.source,
                             Clock::now()));
}

InstanceStatus Router::status() const {
  InstanceStatus s;
  s.name = cfg_.name;
  s.interface = cfg_.interface;
  s.vrid = cfg_.vrid;
  s.family = family_;
  s.state = machine_.state();
  s.priority_configured = cfg_.priority;
  s.priority_effective = machine_.params().priority;
  s.since = since_;
  s.master_address = machine_.master_address();
  s.vips = family_vips();
  s.advert_interval = cfg_.advert_interval;
  s.master_adver_interval = Duration{std::int64_t{machine_.master_adver_interval_cs()} * 10};
  s.transitions = machine_.transitions();
  s.adverts_sent = adverts_sent_;
  s.adverts_received = adverts_received_;
  s.advert_send_intervals = advert_intervals_;
  for (std::size_t i = 0; i < kDropReasons; ++i)
    s.drops.emplace_back(std::string(reason_name(static_cast<Drop>(i))), drops_[i]);
  s.drops.emplace_back("send_error", send_errors_);
  s.fault_reason = fault_reason_;
  s.vip_repairs = vip_repairs_;
  s.vip_add_errors = vip_add_errors_;
  return s;
}

}  // namespace l4lb::vrrp
