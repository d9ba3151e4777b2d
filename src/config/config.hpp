// The typed, validated configuration. Produced only by config::load (loader.hpp);
// every other area reads it and never parses YAML itself.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"

namespace l4lb::config {

// Where a value came from, for messages that point back into the file.
struct Location {
  int line = 0;    // 1-based; 0 = not from the file (a default)
  int column = 0;  // 1-based
};

enum class Protocol { tcp, udp };
enum class Forward { nat, dr, tun };
enum class OnFailure { remove, drain };
enum class HealthType { tcp, udp, http, none };
// How a tcp check connects: half-open (SYN, then our kernel's RST to the SYN-ACK; see
// health/half_open.hpp) or a full connect(); `automatic` is half-open whenever the check sends
// nothing and raw sockets are available.
enum class Handshake { automatic, half_open, full };

struct Health {
  HealthType type = HealthType::tcp;
  std::optional<std::uint16_t> port;  // set: one check on this port stands for every port
  // Check each port of the service on its own (true) or once per backend (false). Unset: each
  // port, unless `port` is set or the service has more than health::kMaxPerPortChecks ports.
  std::optional<bool> per_port;
  std::optional<net::Address> address;  // default: the backend's address
  std::optional<net::Address> source;   // bind to this source address
  Duration interval{2000};
  Duration timeout{1000};
  int rise = 2;
  int fall = 3;
  // tcp (optional) and udp: bytes to send after connecting / as the datagram.
  std::string send;
  // tcp (optional) and udp (optional: without it the weak "no ICMP error" check).
  std::optional<std::string> expect;
  bool expect_prefix = false;  // udp/tcp: `expect` need only be a prefix of the reply
  Handshake handshake = Handshake::automatic;  // tcp only
  // http
  std::string path = "/";
  std::string host;  // Host header; default: the backend's address
  // Each entry is an inclusive range; default 200-399.
  std::vector<std::pair<int, int>> expect_status{{200, 399}};
  std::size_t max_response_bytes = 64 * 1024;

  bool operator==(const Health&) const = default;
};

// A service's health settings, held once for every service whose settings are equal (the
// loader shares them) and read through `->`. Why: a Health is 256 bytes and a file of 10,000
// services usually names one or two kinds of check; inline, they were 2.5 MB of every config
// (the running one and a reload's next one), about 650 pages first touched at start-up.
// Immutable once shared: edit() copies first unless this handle is the only owner, so changing
// one service's settings never changes another's. A config is edited only while it is built
// (the loader, tests), before it is shared with other threads.
class SharedHealth {
 public:
  SharedHealth();  // the defaults, one instance for the whole process
  explicit SharedHealth(Health h) : p_(std::make_shared<Health>(std::move(h))) {}

  const Health& operator*() const { return *p_; }
  const Health* operator->() const { return p_.get(); }
  Health& edit();
  // Same settings (the same instance, or equal values).
  bool operator==(const SharedHealth& o) const { return p_ == o.p_ || *p_ == *o.p_; }

 private:
  std::shared_ptr<Health> p_;  // never null
};

struct Backend {
  net::Address address;
  std::optional<std::uint16_t> port;  // single-port services only
  std::uint32_t weight = 1;
  std::uint32_t upper_threshold = 0;  // 0 = unlimited
  std::uint32_t lower_threshold = 0;
  Location location;
};

// Source NAT of the traffic IPVS forwards to a service's backends (nftables, in l4lbd's own
// table; src/nft/), so that backends need no route back to the clients.
struct Snat {
  std::optional<net::Address> source;  // none: masquerade (the outgoing interface's address)
  bool operator==(const Snat&) const = default;
};

struct Service {
  std::string name;
  net::Address vip;
  std::vector<std::uint16_t> ports;  // expanded: each port is one IPVS virtual service
  Protocol protocol = Protocol::tcp;
  std::string scheduler = "wlc";
  bool sh_fallback = false;
  bool sh_port = false;
  bool one_packet = false;  // udp only: schedule every datagram on its own (IPVS "ops")
  Forward forward = Forward::nat;
  std::optional<Snat> snat;  // nat only
  // Set: all ports are ONE IPVS fwmark service (persistence spans them), and l4lbd's nftables
  // table marks the VIP's packets to those ports with this mark.
  std::optional<std::uint32_t> fwmark;
  Duration persistence{0};                          // 0 = not persistent
  std::optional<std::uint8_t> persistence_netmask;  // prefix length; default /32 or /128
  OnFailure on_failure = OnFailure::remove;
  int quorum = 1;
  bool wait_first_check = true;  // backends join only after their first passing check
  SharedHealth health;
  Location health_location;  // of the `health` block; none when the defaults apply
  std::vector<Backend> backends;
  Location location;
};

struct TrackInterface {
  std::string name;
  std::optional<int> weight;  // none: FAULT while down
  Location location;
};

struct TrackService {
  std::string service;
  int weight = 0;  // added to the priority while the service is below quorum
  Location location;
};

struct Garp {
  int repeat = 5;
  Duration interval{10};
  Duration refresh{0};  // 0 = no periodic refresh
};

struct Unicast {
  net::Address source;
  std::vector<net::Address> peers;
};

struct VrrpInstance {
  std::string name;
  std::string interface;
  std::uint8_t vrid = 0;
  std::uint8_t priority = 100;
  Duration advert_interval{1000};
  bool preempt = true;
  Duration preempt_delay{0};
  bool accept_mode = false;
  std::optional<Unicast> unicast;
  std::vector<net::Prefix> vips;
  std::vector<TrackInterface> track_interfaces;
  std::vector<TrackService> track_services;
  Garp garp;
  std::optional<std::string> notify;
  Duration notify_timeout{5000};
  Location location;
};

struct Metrics {
  std::optional<std::string> listen;  // "127.0.0.1:9465", "[::1]:9465"; none = off
};

// Settings IPVS holds for the whole network namespace (shared with anything else using IPVS
// there). Each is applied only when configured; unset ones leave the kernel's value alone.
struct IpvsTimeouts {
  std::optional<std::uint32_t> tcp, tcpfin, udp;  // seconds
  bool operator==(const IpvsTimeouts&) const = default;
  bool empty() const { return !tcp && !tcpfin && !udp; }
};

// The kernel's IPVS connection-sync daemon, driven by one VRRP instance's state
// (ipvs/sync.hpp has the policy): sync master on that instance's MASTER, backup otherwise.
struct SyncDaemon {
  std::string instance;   // a vrrp instance name
  std::string interface;  // multicast interface
  std::uint8_t sync_id = 0;
  net::Address group = *net::Address::parse("224.0.0.81");  // the kernel's default
  std::uint16_t port = 8848;                                // the kernel's default
  std::uint8_t ttl = 1;
  std::uint16_t maxlen = 0;  // 0: the kernel's default (what fits the interface MTU)
  bool backup_on_master = true;
  Location location;
  bool operator==(const SyncDaemon& o) const {
    return instance == o.instance && interface == o.interface && sync_id == o.sync_id &&
           group == o.group && port == o.port && ttl == o.ttl && maxlen == o.maxlen &&
           backup_on_master == o.backup_on_master;
  }
};

struct Ipvs {
  IpvsTimeouts timeouts;
  // How often the kernel's table is checked for drift on owned services (0: never; checks
  // after failed operations still run).
  std::chrono::milliseconds reconcile_interval{10000};
  // /proc/sys/net/ipv4/vs/<name> = value, for the allow-listed names (keys.hpp kIpvsSysctls).
  std::map<std::string, int> sysctls;
  std::optional<SyncDaemon> sync_daemon;
  bool operator==(const Ipvs&) const = default;
};

struct Control {
  std::string socket = "/run/l4lb/l4lbd.sock";
  std::string group = "l4lb";  // socket group (0660); missing group: root only
  // Members may reload, drain and undrain; none: only root may (status needs only `group`).
  std::optional<std::string> admin_group;
};

struct Config {
  std::string node_name;  // default: hostname
  std::vector<VrrpInstance> vrrp;
  std::vector<Service> services;
  std::string state_dir = "/run/l4lb";
  Control control;
  Metrics metrics;
  Ipvs ipvs;
  // On SIGTERM: leave IPVS services in place (default) so a restart adopts them.
  bool remove_services_on_exit = false;
  // SCHED_RR priority (1-99) of the VRRP thread, which sends the adverts; the event loop runs
  // one below it. 0 keeps normal scheduling. Workers and child processes always run at normal
  // scheduling.
  int realtime_priority = 0;
};

std::string_view to_string(Protocol p);
std::string_view to_string(Forward f);
std::string_view to_string(OnFailure o);
std::string_view to_string(HealthType t);
std::string_view to_string(Handshake h);

}  // namespace l4lb::config
