#include "vrrp/runtime.hpp"

#include <boost/asio/post.hpp>
#include <map>
#include <set>

#include "common/log.hpp"
#include "vrrp/router.hpp"

namespace l4lb::vrrp {
namespace {

std::vector<net::Family> families(const config::VrrpInstance& c) {
  bool v4 = false, v6 = false;
  for (const auto& p : c.vips) (p.address.is_v4() ? v4 : v6) = true;
  if (!v4 && !v6) (c.unicast && c.unicast->source.is_v6() ? v6 : v4) = true;
  std::vector<net::Family> f;
  if (v4) f.push_back(net::Family::v4);
  if (v6) f.push_back(net::Family::v6);
  return f;
}

// Changes that cannot be applied to a running router: it is replaced.
bool needs_replace(const config::VrrpInstance& a, const config::VrrpInstance& b) {
  return a.interface != b.interface || a.vrid != b.vrid || families(a) != families(b) ||
         a.unicast.has_value() != b.unicast.has_value() ||
         (a.unicast && b.unicast && a.unicast->source != b.unicast->source);
}

bool same(const config::VrrpInstance& a, const config::VrrpInstance& b) {
  auto track_if = [](const config::VrrpInstance& c) {
    std::vector<std::pair<std::string, std::optional<int>>> v;
    for (const auto& t : c.track_interfaces) v.emplace_back(t.name, t.weight);
    return v;
  };
  auto track_svc = [](const config::VrrpInstance& c) {
    std::vector<std::pair<std::string, int>> v;
    for (const auto& t : c.track_services) v.emplace_back(t.service, t.weight);
    return v;
  };
  auto uni = [](const config::VrrpInstance& c) {
    return c.unicast ? std::make_optional(std::make_pair(c.unicast->source, c.unicast->peers))
                     : std::nullopt;
  };
  return a.name == b.name && a.interface == b.interface && a.vrid == b.vrid &&
         a.priority == b.priority && a.advert_interval == b.advert_interval &&
         a.preempt == b.preempt && a.preempt_delay == b.preempt_delay &&
         a.accept_mode == b.accept_mode && uni(a) == uni(b) && a.vips == b.vips &&
         track_if(a) == track_if(b) && track_svc(a) == track_svc(b) &&
         a.garp.repeat == b.garp.repeat && a.garp.interval == b.garp.interval &&
         a.garp.refresh == b.garp.refresh && a.notify == b.notify &&
         a.notify_timeout == b.notify_timeout;
}

}  // namespace

struct Runtime::Impl {
  struct Instance {
    config::VrrpInstance cfg;
    std::vector<std::unique_ptr<Router>> routers;
  };

  boost::asio::io_context& io;
  Hooks hooks;
  // Declared before `instances` so that routers (which use them) go first on destruction.
  std::unique_ptr<Netlink> netlink;
  Announcer announcer;
  VipRecord record;
  std::unique_ptr<RouterEnv> env;
  std::map<std::string, Instance> instances;
  std::map<std::string, int> tracked_weights;  // by instance name
  int event_buffer = Netlink::kDefaultEventBuffer;

  Impl(boost::asio::io_context& io_, Hooks h) : io(io_), hooks(std::move(h)) {}

  void ensure_netlink() {
    if (netlink) return;
    netlink = std::make_unique<Netlink>(io, event_buffer);
    netlink->on_change([this] {
      for (auto& [name, inst] : instances)
        for (auto& r : inst.routers) r->links_changed();
    });
    env = std::make_unique<RouterEnv>(
        RouterEnv{io, *netlink, announcer, record, hooks.on_transition});
  }

  int service_weight(const config::VrrpInstance& c) const {
    auto it = tracked_weights.find(c.name);
    return it == tracked_weights.end() ? 0 : it->second;
  }

  void start(Instance& inst) {
    for (auto f : families(inst.cfg)) {
      auto r = std::make_unique<Router>(*env, inst.cfg, f);
      r->set_service_weight(service_weight(inst.cfg));
      r->start();
      inst.routers.push_back(std::move(r));
    }
  }
};

Runtime::Runtime(boost::asio::io_context& io, Hooks hooks)
    : impl_(std::make_unique<Impl>(io, std::move(hooks))) {}

Runtime::~Runtime() {
  // Routers shut down as on a graceful stop if the owner forgot to call shutdown().
  impl_->instances.clear();
}

void Runtime::set_state_dir(const std::string& dir) {
  impl_->record.open(dir.empty() ? std::string() : dir + "/vrrp-vips");
}

void Runtime::set_netlink_event_buffer(int bytes) { impl_->event_buffer = bytes; }

Runtime::NetlinkStats Runtime::netlink_stats() const {
  if (!impl_->netlink) return {};
  const auto s = impl_->netlink->stats();
  return {s.overflows, s.resyncs, s.resync_errors, s.resync_interrupted};
}

void Runtime::apply(const std::vector<config::VrrpInstance>& wanted) {
  auto& im = *impl_;
  if (!wanted.empty()) im.ensure_netlink();
  std::set<std::string> names;
  for (const auto& c : wanted) names.insert(c.name);
  for (auto it = im.instances.begin(); it != im.instances.end();) {
    if (names.count(it->first)) {
      ++it;
      continue;
    }
    log::info("vrrp instance={} removed", it->first);
    for (auto& r : it->second.routers) r->shutdown();
    it = im.instances.erase(it);
  }
  for (const auto& c : wanted) {
    auto it = im.instances.find(c.name);
    if (it == im.instances.end()) {
      auto& inst = im.instances[c.name];
      inst.cfg = c;
      im.start(inst);
      continue;
    }
    auto& inst = it->second;
    if (same(inst.cfg, c)) continue;
    if (needs_replace(inst.cfg, c)) {
      log::info("vrrp instance={} replaced (interface, vrid, family or mode changed)", c.name);
      for (auto& r : inst.routers) r->shutdown();
      inst.routers.clear();
      inst.cfg = c;
      im.start(inst);
      continue;
    }
    log::info("vrrp instance={} updated in place", c.name);
    inst.cfg = c;
    for (auto& r : inst.routers) {
      r->update(c);
      r->set_service_weight(im.service_weight(c));
    }
  }
}

void Runtime::set_tracked_service_weight(const std::string& instance, int weight) {
  auto& im = *impl_;
  im.tracked_weights[instance] = weight;
  auto it = im.instances.find(instance);
  if (it == im.instances.end()) return;
  for (auto& r : it->second.routers) r->set_service_weight(weight);
}

void Runtime::shutdown(std::function<void()> done) {
  for (auto& [name, inst] : impl_->instances)
    for (auto& r : inst.routers) r->shutdown();
  impl_->record.flush();  // the VIPs just removed are out of the record before the exit
  if (done) boost::asio::post(impl_->io, std::move(done));
}

std::vector<InstanceStatus> Runtime::status() const {
  std::vector<InstanceStatus> v;
  for (const auto& [name, inst] : impl_->instances)
    for (const auto& r : inst.routers) v.push_back(r->status());
  return v;
}

}  // namespace l4lb::vrrp
