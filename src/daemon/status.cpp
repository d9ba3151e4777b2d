// The status document served to `l4lbctl status` and rendered into /metrics, written straight
// into a string (daemon/json_writer.hpp): the bulk (services, backends, checks) is streamed
// from the snapshot; the small sections are built as trees and dumped in place.
// Its schema is documented in docs/STATUS.md; keep the two in step.
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "config/loader.hpp"
#include "daemon/json_writer.hpp"
#include "daemon/metrics.hpp"
#include "daemon/snapshot.hpp"
#include "health/quorum.hpp"
#include "health/spec.hpp"
#include "ipvs/desired.hpp"

namespace l4lb::daemon {
namespace {

using nlohmann::json;

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// ipvs.sync_daemon's state, plus the connections IPVS holds: the sync daemon keeps no counters
// the kernel exposes (not over netlink, not in /proc), so the destinations' active and
// inactive connection counts of the table just read stand for them; on a sync backup they
// are the connections it learnt from the master.
json sync_section(const StatusSnapshot& snap) {
  if (snap.ipvs_sync.is_null()) return nullptr;
  json sync = snap.ipvs_sync;
  std::uint64_t active = 0, inactive = 0;
  for (const auto& [key, svc] : snap.kernel.services)
    for (const auto& [dkey, d] : svc.destinations) {
      active += snap.kernel.counters(d).active_conns;
      inactive += snap.kernel.counters(d).inactive_conns;
    }
  sync["connections"] = {{"active", active}, {"inactive", inactive}};
  return sync;
}

json histogram_json(const DelayHistogram& h) {
  json buckets = json::array();
  auto cumulative = h.cumulative();
  for (std::size_t i = 0; i < kDelayBuckets.size(); ++i)
    buckets.push_back({kDelayBuckets[i], cumulative[i]});
  return {
      {"buckets", buckets}, {"sum", h.sum_seconds}, {"count", h.total()}, {"max", h.max_seconds}};
}

// The check's record among `checks` (ordered by key), or null.
const health::BackendHealth* find_health(const CheckCopies& checks, const health::BackendKey& key) {
  auto it = std::lower_bound(checks.begin(), checks.end(), key,
                             [](const auto& entry, const auto& k) { return entry.first < k; });
  if (it == checks.end() || it->first != key) return nullptr;
  return &it->second;
}

health::Status status_of(const CheckCopies& checks, const health::BackendKey& key) {
  const health::BackendHealth* h = find_health(checks, key);
  return h ? h->status : health::Status::unknown;
}

// Quorum's count (health/quorum.hpp): the service's, or one port's, from its checks.
int healthy_backends(const StatusSnapshot& snap, const CheckCopies& checks,
                     const config::Service& service) {
  return health::healthy_count(
      service, [&](const health::BackendKey& k) { return status_of(checks, k); },
      [&](const config::Backend& b) { return snap.drains.is_drained(service.name, b.address); });
}

int healthy_backends(const StatusSnapshot& snap, const CheckCopies& checks,
                     const config::Service& service, std::uint16_t port) {
  return health::healthy_on_port(
      service, port, [&](const health::BackendKey& k) { return status_of(checks, k); },
      [&](const config::Backend& b) { return snap.drains.is_drained(service.name, b.address); });
}

// A rendering reads the services' checks run by run: about this many checks a run, at least one
// whole service; and the checks section as many at a time. Each read is a message to the loop
// and back (check_source.hpp), and the loop copies them in one handler: 2,048 checks took
// 0.15-0.5 ms of it on a 2-vCPU VM; 512 a read made a status of 10,000 x 8 a quarter slower
// (240 round trips).
constexpr std::size_t kRunChecks = 2048;
constexpr std::size_t kCheckSlice = 2048;

CheckSource& source_of(const StatusSnapshot& snap) {
  static CheckList none;  // read only
  return snap.checks ? *snap.checks : none;
}

// The end of the run of services that starts at `first`.
std::size_t run_end(const config::Config& cfg, std::size_t first) {
  std::size_t checks = 0, i = first;
  do {
    const auto& s = cfg.services[i++];
    checks += s.backends.size() * std::max<std::size_t>(1, s.ports.size());
  } while (i < cfg.services.size() && checks < kRunChecks);
  return i;
}

// The config's services run by run (run_end): f(first, end, checks) for each run, with the
// checks of the services in it that wanted(service, counts offset) picks, ordered by key
// (find_health's order); the offset is the service's first port in healthy_counts.ports.
// One buffer a pass, reused run after run: the render worker runs at nice +10, and a 330 KB
// allocation a run is a trip through the allocator's shared locks each time.
template <typename Wanted, typename F>
void for_each_run(const StatusSnapshot& snap, const config::Config& cfg, Wanted&& wanted, F&& f) {
  std::vector<std::string> names;
  CheckCopies checks;
  std::size_t counts_offset = 0;
  for (std::size_t i = 0; i < cfg.services.size();) {
    const std::size_t end = run_end(cfg, i);
    names.clear();
    for (std::size_t j = i; j < end; ++j) {
      const auto& s = cfg.services[j];
      if (wanted(s, counts_offset)) names.push_back(s.name);
      counts_offset += s.ports.size();
    }
    checks.clear();
    if (!names.empty()) source_of(snap).services(names, checks);
    std::sort(checks.begin(), checks.end(), by_key);
    f(i, end, checks);
    i = end;
  }
}

// Every check in key order, `max` at a time: f(slice) for each slice.
template <typename F>
void for_each_slice(const StatusSnapshot& snap, std::size_t max, F&& f) {
  std::optional<health::BackendKey> cursor;
  CheckCopies slice;
  for (bool last = false; !last;) {
    slice.clear();
    last = source_of(snap).next(cursor, max, slice);
    f(slice);
  }
}

// Every check in key order: f(key, record) for each.
template <typename F>
void for_each_check(const StatusSnapshot& snap, F&& f) {
  for_each_slice(snap, kCheckSlice, [&](const CheckCopies& slice) {
    for (const auto& [key, h] : slice) f(key, h);
  });
}

void write_traffic(JsonWriter& w, const ipvs::Stats& s) {
  w.field("conns_total", s.conns);
  w.field("packets_in", s.inpkts);
  w.field("packets_out", s.outpkts);
  w.field("bytes_in", s.inbytes);
  w.field("bytes_out", s.outbytes);
  w.field("cps", s.cps);
  w.field("pps_in", s.inpps);
  w.field("pps_out", s.outpps);
  w.field("bps_in", s.inbps);
  w.field("bps_out", s.outbps);
}

void write_check(JsonWriter& w, const health::BackendKey& key, const health::BackendHealth& h) {
  w.begin_object();
  w.field("service", key.service);
  key.port == 0 ? w.null_field("port") : w.field("port", key.port);  // null: one for all ports
  w.field("backend", key.address.to_string());
  w.field("status", health::to_string(h.status));
  w.field("consecutive_ok", h.consecutive_ok);
  w.field("consecutive_fail", h.consecutive_fail);
  w.field("last_error", h.last_error());
  const auto latency = h.last_latency();
  latency ? w.field("latency_ms", latency->count() / 1000.0) : w.null_field("latency_ms");
  h.last_transition.time_since_epoch().count() == 0
      ? w.null_field("last_transition")
      : w.field("last_transition", unix_seconds(h.last_transition));
  w.field("checks", h.checks());
  w.field("transitions", h.transitions);
  w.key("failures");
  w.begin_object();
  h.for_each_failure([&](std::string_view reason, std::uint64_t count) { w.field(reason, count); });
  w.end_object();
  w.key("latency_histogram");
  w.begin_object();
  w.key("buckets");
  w.begin_array();
  const auto cumulative = h.latency.cumulative();
  for (std::size_t i = 0; i < health::kLatencyBuckets.size(); ++i) {
    w.begin_array();
    w.value(health::kLatencyBuckets[i]);
    w.value(cumulative[i]);
    w.end_array();
  }
  w.end_array();
  w.field("sum", h.latency.sum_seconds);
  w.field("count", h.latency.total());
  w.end_object();
  w.end_object();
}

json daemon_section(const StatusSnapshot& snap, const config::Config& cfg) {
  json d = {{"node", cfg.node_name},
            {"version", L4LB_VERSION},
            {"pid", snap.pid},
            {"started_at", snap.started_at},
            {"config_file", snap.config_file},
            {"generation", snap.generation},
            {"reloads_ok", snap.reloads_ok},
            {"reloads_failed", snap.reloads_failed},
            {"summary", config::summary(cfg)}};
  if (snap.last_reload) d["last_reload"] = *snap.last_reload;
  json lag = json::array();
  for (const auto& l : snap.lag)
    lag.push_back(
        {{"thread", l.thread}, {"kind", l.kind}, {"histogram", histogram_json(l.histogram)}});
  d["lag"] = lag;
  json suppressed = json::object();
  for (const auto& [category, count] : snap.log_suppressed) suppressed[category] = count;
  d["log_suppressed"] = suppressed;
  d["slow_readers_dropped"] = snap.slow_readers_dropped;
  if (snap.process) {
    const auto& p = *snap.process;
    d["process"] = {{"resident_bytes", p.resident_bytes},
                    {"peak_resident_bytes", p.peak_resident_bytes},
                    {"virtual_bytes", p.virtual_bytes},
                    {"open_fds", p.open_fds},
                    {"max_fds", p.max_fds},
                    {"cpu_seconds", p.cpu_seconds}};
  }
  if (snap.allocator)
    d["allocator"] = {{"allocated_bytes", snap.allocator->allocated_bytes},
                      {"resident_bytes", snap.allocator->resident_bytes}};
  return d;
}

json vrrp_section(const StatusSnapshot& snap) {
  json vrrp = json::array();
  for (const auto& i : snap.vrrp) {
    json drops = json::object();
    for (const auto& [reason, count] : i.drops) drops[reason] = count;
    json vips = json::array();
    for (const auto& v : i.vips) vips.push_back(v.to_string());
    vrrp.push_back({{"name", i.name},
                    {"interface", i.interface},
                    {"vrid", i.vrid},
                    {"family", std::string(net::family_name(i.family))},
                    {"state", std::string(vrrp::to_string(i.state))},
                    {"priority", i.priority_effective},
                    {"priority_configured", i.priority_configured},
                    {"since", unix_seconds(i.since)},
                    {"master", i.master_address ? json(i.master_address->to_string()) : json()},
                    {"vips", vips},
                    {"advert_interval_ms", i.advert_interval.count()},
                    {"master_adver_interval_ms", i.master_adver_interval.count()},
                    {"transitions", i.transitions},
                    {"adverts_sent", i.adverts_sent},
                    {"adverts_received", i.adverts_received},
                    {"advert_send_intervals", histogram_json(i.advert_send_intervals)},
                    {"vip_repairs", i.vip_repairs},
                    {"vip_add_errors", i.vip_add_errors},
                    {"fault_reason", i.fault_reason},
                    {"drops", drops}});
  }
  return vrrp;
}

// The snapshot's quorum counts (health::HealthyCounts, kept on the loop) when they count this
// snapshot's config; otherwise (a snapshot made without them, in tests) they are counted here
// from the checks, by the same rule.
class Counts {
 public:
  explicit Counts(const StatusSnapshot& snap)
      : snap_(snap),
        usable_(snap.health_running && snap.healthy_counts.config &&
                snap.healthy_counts.config == snap.config) {}
  // Whether the counts are the snapshot's config's: otherwise they come from the checks.
  bool usable() const { return usable_; }
  // Before each service, in config order: `checks` holds the service's checks when the counts
  // are not usable.
  void next_service(const config::Service& s, const CheckCopies& checks) {
    service_ = &s;
    checks_ = &checks;
    if (usable_) offset_ = next_offset_, next_offset_ += s.ports.size();
  }
  int healthy_service() const {
    if (!snap_.health_running) return 0;
    if (!usable_) return healthy_backends(snap_, *checks_, *service_);
    if (service_->ports.empty()) return 0;
    int n = port(0).healthy;
    for (std::size_t p = 1; p < service_->ports.size(); ++p) n = std::min(n, port(p).healthy);
    return n;
  }
  int healthy_on_port(std::size_t p) const {
    if (!snap_.health_running) return 0;
    return usable_ ? port(p).healthy
                   : healthy_backends(snap_, *checks_, *service_, service_->ports[p]);
  }
  // Whether every backend is known to be up (or unchecked) and not drained on this port,
  // without looking at the checks; false when not known.
  bool all_fine(std::size_t p) const {
    return usable_ && port(p).fine == static_cast<int>(service_->backends.size());
  }
  // Whether every backend is fine (as above) or awaiting its first check, some awaiting;
  // false when not known.
  bool fine_or_awaiting(std::size_t p) const {
    return usable_ && port(p).awaiting > 0 &&
           port(p).fine + port(p).awaiting == static_cast<int>(service_->backends.size());
  }

 private:
  const health::HealthyCounts::PortCounts& port(std::size_t p) const {
    return snap_.healthy_counts.ports[offset_ + p];
  }
  const StatusSnapshot& snap_;
  bool usable_;
  const config::Service* service_ = nullptr;
  const CheckCopies* checks_ = nullptr;
  std::size_t offset_ = 0, next_offset_ = 0;
};

struct BackendView {
  const config::Backend* backend;
  std::uint16_t port;
  const ipvs::Destination* dest;
  const ipvs::DestCounters* traffic;  // dest's counters (zero without them)
  const health::BackendHealth* health;
  std::string_view state;
  bool drained;
  // Listed by the summary: not up, drained, or missing from the kernel (without IPVS nothing
  // is in the kernel; the ipvs section says so once).
  bool needs_look;
};

BackendView backend_view(const StatusSnapshot& snap, const CheckCopies& checks,
                         const config::Service& s, std::uint16_t port, const config::Backend& b,
                         const ipvs::Service* live) {
  BackendView v{
      &b, ipvs::dest_port(s, b, port), nullptr, &ipvs::kNoDestCounters, nullptr, "", false, false};
  if (live) {
    auto d = live->destinations.find(ipvs::DestKey{b.address, v.port});
    if (d != live->destinations.end()) {
      v.dest = &d->second;
      v.traffic = &snap.kernel.counters(d->second);
    }
  }
  v.health = find_health(checks, health::check_key(s, port, b));
  v.state = s.health->type == config::HealthType::none
                ? std::string_view("unchecked")
                : health::to_string(v.health ? v.health->status : health::Status::unknown);
  v.drained = snap.drains.is_drained(s.name, b.address);
  v.needs_look = !(v.state == "up" || v.state == "unchecked") || v.drained ||
                 (v.dest == nullptr && snap.ipvs_available);
  return v;
}

void write_backend(JsonWriter& w, const BackendView& v) {
  const config::Backend& b = *v.backend;
  const health::BackendHealth* h = v.health;
  w.begin_object();
  w.field("address", b.address.to_string());
  w.field("port", v.port);
  v.dest ? w.field("weight", v.dest->weight) : w.null_field("weight");
  w.field("weight_configured", b.weight);
  w.field("health", v.state);
  w.field("drained", v.drained);
  w.field("in_kernel", v.dest != nullptr);
  const auto latency = h ? h->last_latency() : std::nullopt;
  latency ? w.field("latency_ms", latency->count() / 1000.0) : w.null_field("latency_ms");
  w.field("last_error", h ? h->last_error() : std::string_view());
  w.field("active_conns", v.traffic->active_conns);
  w.field("inactive_conns", v.traffic->inactive_conns);
  write_traffic(w, v.traffic->stats);
  w.end_object();
}

// Whether IPVS is not there (nothing to miss) or the kernel's service holds every backend.
bool all_in_kernel(const StatusSnapshot& snap, const config::Service& s, std::size_t p,
                   const ipvs::Service* live) {
  if (!snap.ipvs_available) return true;
  if (!live) return s.backends.empty();
  for (const auto& b : s.backends)
    if (!live->destinations.count(ipvs::DestKey{b.address, ipvs::dest_port(s, b, s.ports[p])}))
      return false;
  return true;
}

// Whether the summary needs to list any backend of this port: answered from the counts when
// every backend is fine and IPVS (when there) holds them all; otherwise backend by backend.
bool port_needs_look(const StatusSnapshot& snap, const CheckCopies& checks,
                     const config::Service& s, std::size_t p, const ipvs::Service* live,
                     const Counts& counts) {
  if (counts.all_fine(p)) return !all_in_kernel(snap, s, p, live);
  for (const auto& b : s.backends)
    if (backend_view(snap, checks, s, s.ports[p], b, live).needs_look) return true;
  return false;
}

const ipvs::Service* live_service(const StatusSnapshot& snap, const config::Service& s,
                                  std::uint16_t port) {
  auto it = snap.kernel.services.find(ipvs::service_key(s, port));
  return it == snap.kernel.services.end() ? nullptr : &it->second;
}

// The service's entries (one per port; one for a fwmark service): in the summary only the
// backends that need a look.
void write_entries(JsonWriter& w, const StatusSnapshot& snap, const CheckCopies& checks,
                   const config::Service& s, const Counts& counts, bool quorum_met, bool summary) {
  const std::size_t entries = s.fwmark ? std::min<std::size_t>(1, s.ports.size()) : s.ports.size();
  for (std::size_t p = 0; p < entries; ++p) {
    const std::uint16_t port = s.ports[p];
    const ipvs::Service* live = live_service(snap, s, port);
    w.begin_object();
    w.field("name", s.name);
    w.field("vip", s.vip.to_string());
    w.field("port", port);
    w.field("protocol", config::to_string(s.protocol));
    w.field("scheduler", s.scheduler);
    w.field("one_packet", live ? live->one_packet : s.one_packet);
    w.field("forward", config::to_string(s.forward));
    w.field("quorum", s.quorum);
    w.field("healthy", counts.healthy_on_port(p));
    w.field("quorum_met", quorum_met);
    w.field("in_kernel", live != nullptr);
    if (s.fwmark) {
      w.field("fwmark", *s.fwmark);
      w.field("ports_total", s.ports.size());
    }
    write_traffic(w, live ? snap.kernel.stats(*live) : ipvs::kNoStats);
    // Listed: every backend (full), those that need a look (summary; none when the counts
    // and the kernel say all are fine).
    const bool list_none = summary && !port_needs_look(snap, checks, s, p, live, counts);
    std::uint64_t active = 0, inactive = 0;
    w.key("backends");
    w.begin_array();
    for (const auto& b : s.backends) {
      if (list_none) {  // only the connection counts: no check to look up
        if (!live) break;
        auto d = live->destinations.find(ipvs::DestKey{b.address, ipvs::dest_port(s, b, port)});
        if (d != live->destinations.end()) {
          active += snap.kernel.counters(d->second).active_conns;
          inactive += snap.kernel.counters(d->second).inactive_conns;
        }
        continue;
      }
      const BackendView v = backend_view(snap, checks, s, port, b, live);
      active += v.traffic->active_conns;
      inactive += v.traffic->inactive_conns;
      if (summary && !v.needs_look) continue;
      write_backend(w, v);
    }
    w.end_array();
    w.field("active_conns", active);
    w.field("inactive_conns", inactive);
    w.field("backends_total", s.backends.size());
    w.end_object();
  }
}

// A backend whose check has not answered yet (health unknown) and that no operator drained:
// new, not a fault; it has a state within one check interval.
bool awaiting_first_check(const BackendView& v) { return v.state == "unknown" && !v.drained; }

// Where a large summary puts a service (docs/STATUS.md, "Views").
enum class Fold { listed, fine, awaiting };

// Listed when something needs a look: missing from the kernel, a backend down, drained or
// (unless awaiting) missing, or the quorum not met for any other reason than backends awaiting
// their first check. A service added by a reload is awaiting until its checks answer: 5,000
// of them, each listed with its 8 unknown backends, made the summary five times slower to
// write (93 ms on average) for the first check interval after the reload.
Fold fold_of(const StatusSnapshot& snap, const CheckCopies& checks, const config::Service& s,
             const Counts& counts, bool quorum_met, std::size_t entries) {
  bool awaiting = false;
  for (std::size_t p = 0; p < entries; ++p) {
    const ipvs::Service* live = live_service(snap, s, s.ports[p]);
    if (!live && snap.ipvs_available) return Fold::listed;
    if (counts.all_fine(p)) {
      if (all_in_kernel(snap, s, p, live)) continue;
      return Fold::listed;
    }
    // Told by the counts alone, so that the loop copies no check of a service just added
    // (summary_needs_checks): which backend awaits does not matter when all are in the kernel.
    if (counts.fine_or_awaiting(p) && all_in_kernel(snap, s, p, live)) {
      awaiting = true;
      continue;
    }
    for (const auto& b : s.backends) {
      const BackendView v = backend_view(snap, checks, s, s.ports[p], b, live);
      if (awaiting_first_check(v))
        awaiting = true;
      else if (v.needs_look)
        return Fold::listed;
    }
  }
  if (awaiting) return Fold::awaiting;
  return quorum_met ? Fold::fine : Fold::listed;
}

// The services a large summary names instead of listing.
struct FoldedServices {
  std::vector<std::string_view> fine, awaiting;
};

// One service's entries, unless the summary folds it into `services_fine` or
// `services_awaiting_checks`.
void write_service(JsonWriter& w, const StatusSnapshot& snap, const CheckCopies& checks,
                   const config::Service& s, Counts& counts, bool summary, bool fold,
                   FoldedServices& folded, const std::function<void()>& between) {
  counts.next_service(s, checks);
  const int healthy_service = counts.healthy_service();
  const bool quorum_met = !health::below_quorum(s, healthy_service);
  // A fwmark service is one IPVS service: one entry (its first port), not one per port
  // (8,304 entries for three NodePort ranges made the status too slow to render).
  const std::size_t entries = s.fwmark ? std::min<std::size_t>(1, s.ports.size()) : s.ports.size();
  if (fold) {
    switch (fold_of(snap, checks, s, counts, quorum_met, entries)) {
      case Fold::fine:
        folded.fine.push_back(s.name);
        return;
      case Fold::awaiting:
        folded.awaiting.push_back(s.name);
        return;
      case Fold::listed:
        break;
    }
  }
  write_entries(w, snap, checks, s, counts, quorum_met, summary);
  if (between) between();
}

void write_services(JsonWriter& w, const StatusSnapshot& snap, const config::Config& cfg,
                    bool summary, const std::function<void()>& between) {
  // A summary of a large config leaves out the services with nothing to look at (names only):
  // one entry per service made the summary of 10,000 services 5.8 MB to render and parse.
  const bool fold = summary && summary_folds(cfg);
  FoldedServices folded;
  Counts counts(snap);
  w.key("services");
  w.begin_array();
  // Each run's checks: all of them (full), or those of the services the counts do not show
  // fine (summary: none for a healthy table).
  for_each_run(
      snap, cfg,
      [&](const config::Service& s, std::size_t counts_offset) {
        return !summary || summary_needs_checks(snap, s, counts_offset);
      },
      [&](std::size_t first, std::size_t end, const CheckCopies& checks) {
        for (std::size_t i = first; i < end; ++i)
          write_service(w, snap, checks, cfg.services[i], counts, summary, fold, folded, between);
      });
  w.end_array();
  if (summary) {
    w.key("services_fine");
    w.begin_array();
    for (auto name : folded.fine) w.value(name);
    w.end_array();
    w.key("services_awaiting_checks");
    w.begin_array();
    for (auto name : folded.awaiting) w.value(name);
    w.end_array();
  }
}

}  // namespace

void write_status(std::string& out, const StatusSnapshot& snap, StatusView view, bool bulk,
                  const std::function<void()>& between) {
  const bool summary = view == StatusView::summary;
  static const config::Config empty;
  const config::Config& cfg = snap.config ? *snap.config : empty;
  JsonWriter w(out);
  w.begin_object();
  w.field("schema", 1);
  w.field("view", summary ? "summary" : "full");
  w.field("daemon", daemon_section(snap, cfg));
  w.field("vrrp", vrrp_section(snap));
  if (snap.rtnetlink) {
    const auto& nl = *snap.rtnetlink;
    w.field("rtnetlink", json{{"overflows", nl.overflows},
                              {"resyncs", nl.resyncs},
                              {"resync_errors", nl.resync_errors},
                              {"resync_interrupted", nl.resync_interrupted}});
  }
  if (bulk) write_services(w, snap, cfg, summary, between);
  if (bulk && !summary) {  // every check's detail: the bulk of the document at scale
    w.key("health");
    w.begin_array();
    for_each_check(snap, [&](const health::BackendKey& key, const health::BackendHealth& h) {
      write_check(w, key, h);
      if (between) between();
    });
    w.end_array();
  }
  if (snap.health_running) {
    const auto& ho = snap.half_open;
    w.field("health_checker", json{{"local_resource_errors", snap.health_local_resource_errors},
                                   {"half_open",
                                    {{"syns_sent", ho.sent},
                                     {"answers", ho.answers},
                                     {"stray", ho.stray},
                                     {"malformed", ho.malformed},
                                     {"send_errors", ho.send_errors},
                                     {"buffer_overflows", ho.buffer_overflows}}}});
  }
  json conflicts = json::array();
  for (const auto& c : snap.ipvs_conflicts) conflicts.push_back(c);
  json ipvs = {{"enabled", !cfg.services.empty()},
               {"available", snap.ipvs_available},
               {"error", snap.ipvs_error ? json(*snap.ipvs_error) : json()},
               {"operations_total", snap.ipvs_operations},
               {"operation_errors_total", snap.ipvs_operation_errors},
               {"conflicts", conflicts},
               {"repair", snap.ipvs_repair},
               {"tuning", snap.ipvs_tuning}};
  ipvs["sync"] = sync_section(snap);
  w.field("ipvs", ipvs);
  w.field("nft", snap.nft);
  w.end_object();
}

bool summary_needs_checks(const StatusSnapshot& snap, const config::Service& s,
                          std::size_t counts_offset) {
  if (!snap.health_running || !snap.healthy_counts.config ||
      snap.healthy_counts.config != snap.config ||
      counts_offset + s.ports.size() > snap.healthy_counts.ports.size())
    return true;
  // A large summary names the services awaiting their first checks without their backends.
  const bool folds = snap.config && summary_folds(*snap.config);
  const std::size_t entries = s.fwmark ? std::min<std::size_t>(1, s.ports.size()) : s.ports.size();
  for (std::size_t p = 0; p < entries; ++p) {
    // As port_needs_look without the checks: every backend fine by the counts (or, when the
    // summary folds, fine or awaiting its first check), and with IPVS every one of them in the
    // kernel; otherwise the summary lists some, with their checks.
    const auto& c = snap.healthy_counts.ports[counts_offset + p];
    const int backends = static_cast<int>(s.backends.size());
    if (c.fine != backends && !(folds && c.fine + c.awaiting == backends)) return true;
    if (!all_in_kernel(snap, s, p, live_service(snap, s, s.ports[p]))) return true;
  }
  return false;
}

namespace {

// The full document's services and checks in runs of a few hundred, each parsed on its own:
// never the tree of the whole table (1 GB at 10,000 x 8). The text itself is produced by the
// builder at the end, grouped by family as the format requires.
void build_metrics(MetricsBuilder& b, const StatusSnapshot& snap) {
  constexpr std::size_t kRun = 32;
  static const config::Config empty;
  const config::Config& cfg = snap.config ? *snap.config : empty;
  {
    std::string out;  // everything but services and checks
    write_status(out, snap, StatusView::summary, /*bulk=*/false);
    b.sections(json::parse(out));
  }
  Counts counts(snap);
  std::string out;
  for_each_run(
      snap, cfg, [](const config::Service&, std::size_t) { return true; },
      [&](std::size_t first, std::size_t end, const CheckCopies& checks) {
        out.clear();
        JsonWriter w(out);
        w.begin_array();
        for (std::size_t i = first; i < end; ++i) {
          const auto& s = cfg.services[i];
          counts.next_service(s, checks);
          write_entries(w, snap, checks, s, counts,
                        !health::below_quorum(s, counts.healthy_service()), false);
        }
        w.end_array();
        b.services(json::parse(out));
      });
  for_each_slice(snap, 8 * kRun, [&](const CheckCopies& slice) {
    out.clear();
    JsonWriter w(out);
    w.begin_array();
    for (const auto& [key, h] : slice) write_check(w, key, h);
    w.end_array();
    b.checks(json::parse(out));
  });
}

}  // namespace

std::string metrics_text(const StatusSnapshot& snap) {
  MetricsBuilder b;
  build_metrics(b, snap);
  return b.text();
}

namespace {

// The entry /metrics reads for service `s`, port index `p`: the values write_entries puts in
// the full document, taken from the snapshot without the document.
MetricsEntry metrics_entry(const StatusSnapshot& snap, const config::Service& s, std::size_t p,
                           const Counts& counts, bool quorum_met, bool backends) {
  const std::uint16_t port = s.ports[p];
  const ipvs::Service* live = live_service(snap, s, port);
  const ipvs::Stats& stats = live ? snap.kernel.stats(*live) : ipvs::kNoStats;
  MetricsEntry e{s.name,
                 s.vip.to_string(),
                 std::to_string(port),
                 std::string(config::to_string(s.protocol)),
                 0,
                 0,
                 static_cast<double>(stats.conns),
                 static_cast<double>(stats.inpkts),
                 static_cast<double>(stats.outpkts),
                 static_cast<double>(stats.inbytes),
                 static_cast<double>(stats.outbytes),
                 static_cast<double>(counts.healthy_on_port(p)),
                 quorum_met,
                 {}};
  std::uint64_t active = 0, inactive = 0;
  for (const auto& b : s.backends) {
    const std::uint16_t dport = ipvs::dest_port(s, b, port);
    const ipvs::Destination* d = nullptr;
    if (live) {
      auto it = live->destinations.find(ipvs::DestKey{b.address, dport});
      if (it != live->destinations.end()) d = &it->second;
    }
    const ipvs::DestCounters& c = d ? snap.kernel.counters(*d) : ipvs::kNoDestCounters;
    active += c.active_conns;
    inactive += c.inactive_conns;
    if (backends)
      e.backends.push_back({b.address.to_string(), std::to_string(dport),
                            static_cast<double>(c.stats.conns), static_cast<double>(c.active_conns),
                            static_cast<double>(c.inactive_conns),
                            static_cast<double>(d ? d->weight : 0)});
  }
  e.active_conns = static_cast<double>(active);
  e.inactive_conns = static_cast<double>(inactive);
  return e;
}

MetricsCheck metrics_check(const health::BackendKey& key, const health::BackendHealth& h) {
  MetricsCheck c{key.service,
                 key.port == 0 ? std::string("all") : std::to_string(key.port),
                 key.address.to_string(),
                 h.status == health::Status::up,
                 static_cast<double>(h.checks()),
                 {},
                 {},
                 h.latency.sum_seconds,
                 static_cast<double>(h.latency.total())};
  h.for_each_failure([&](std::string_view reason, std::uint64_t count) {
    c.failures.emplace_back(reason, static_cast<double>(count));
  });
  const auto cumulative = h.latency.cumulative();
  for (std::size_t i = 0; i < health::kLatencyBuckets.size(); ++i)
    c.buckets.emplace_back(health::kLatencyBuckets[i], static_cast<double>(cumulative[i]));
  return c;
}

}  // namespace

void metrics_to(TextStream& out, const StatusSnapshot& snap) {
  // The sections other than services and checks: small, through the document.
  {
    std::string doc;
    write_status(doc, snap, StatusView::summary, /*bulk=*/false);
    MetricsBuilder b;
    b.sections(json::parse(doc));
    b.text_to([&](std::string_view piece) { out.write(piece); });
  }
  // Then family by family, one pass over the snapshot each, straight into the stream: the
  // bytes metrics_text renders, never more than a chunk of them at once.
  static const config::Config empty;
  const config::Config& cfg = snap.config ? *snap.config : empty;
  for (const auto& name : MetricsFamily::entry_families()) {
    MetricsFamily family(name, out.buffer());
    const bool backends = family.wants("l4lb_ipvs_backend_connections_total") ||
                          family.wants("l4lb_ipvs_backend_current_connections") ||
                          family.wants("l4lb_ipvs_backend_weight");
    Counts counts(snap);
    // The checks only when the counts are not the config's (they count from them).
    for_each_run(
        snap, cfg, [&](const config::Service&, std::size_t) { return !counts.usable(); },
        [&](std::size_t first, std::size_t end, const CheckCopies& checks) {
          for (std::size_t i = first; i < end; ++i) {
            const auto& s = cfg.services[i];
            counts.next_service(s, checks);
            const bool quorum_met = !health::below_quorum(s, counts.healthy_service());
            const std::size_t entries =
                s.fwmark ? std::min<std::size_t>(1, s.ports.size()) : s.ports.size();
            for (std::size_t p = 0; p < entries; ++p)
              family.entry(metrics_entry(snap, s, p, counts, quorum_met, backends));
            out.flush_if_full();
          }
        });
  }
  // Whether any check of the first checked service has failures (the order of the families).
  bool first_has_failures = false;
  {
    std::optional<health::BackendKey> cursor;
    CheckCopies first;
    source_of(snap).next(cursor, 1, first);
    if (!first.empty()) {
      CheckCopies service;
      source_of(snap).services({first.front().first.service}, service);
      first_has_failures = std::any_of(service.begin(), service.end(),
                                       [](const auto& c) { return c.second.has_failures(); });
    }
  }
  for (const auto& name : MetricsFamily::check_families(first_has_failures)) {
    MetricsFamily family(name, out.buffer());
    for_each_check(snap, [&](const health::BackendKey& key, const health::BackendHealth& h) {
      family.check(metrics_check(key, h));
      out.flush_if_full();
    });
    family.finish();
    out.flush_if_full();
  }
}

std::string status_reply(const StatusSnapshot& snap, StatusView view) {
  std::string out = R"({"ok":true,"status":)";
  write_status(out, snap, view);
  out += "}\n";
  return out;
}

void status_reply_to(TextStream& out, const StatusSnapshot& snap, StatusView view) {
  out.buffer() += R"({"ok":true,"status":)";
  write_status(out.buffer(), snap, view, true, [&] { out.flush_if_full(); });
  out.buffer() += "}\n";
}

nlohmann::json status_document(const StatusSnapshot& snap, StatusView view) {
  std::string out;
  write_status(out, snap, view);
  return json::parse(out);
}

}  // namespace l4lb::daemon
