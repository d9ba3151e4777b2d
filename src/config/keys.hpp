// Every key and keyword of the schema, in one place: the parsers check against
// these, and a test checks that etc/l4lb.yaml and docs/CONFIG.md document each.
// Internal to the config library.
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace l4lb::config {

inline constexpr std::array<std::string_view, 8> kTopKeys{
    "node_name", "vrrp",    "services", "state_dir",
    "control",   "metrics", "ipvs",     "remove_services_on_exit"};
inline constexpr std::array<std::string_view, 4> kIpvsKeys{"timeouts", "sysctls", "sync_daemon",
                                                           "reconcile_interval"};
inline constexpr std::array<std::string_view, 8> kSyncDaemonKeys{
    "instance", "interface", "sync_id", "group", "port", "ttl", "maxlen", "backup_on_master"};
inline constexpr std::array<std::string_view, 3> kIpvsTimeoutKeys{"tcp", "tcpfin", "udp"};
// The /proc/sys/net/ipv4/vs entries l4lbd may write (all booleans, 0 or 1); see CONFIG.md.
inline constexpr std::array<std::string_view, 3> kIpvsSysctls{"conntrack", "expire_nodest_conn",
                                                              "expire_quiescent_template"};
inline constexpr std::array<std::string_view, 3> kControlKeys{"socket", "group", "admin_group"};
inline constexpr std::array<std::string_view, 1> kMetricsKeys{"listen"};
inline constexpr std::array<std::string_view, 17> kHealthKeys{
    "type",          "port",    "address", "source",        "interval",
    "timeout",       "rise",    "fall",    "send",          "expect",
    "expect_prefix", "path",    "host",    "expect_status", "max_response_bytes",
    "handshake",     "per_port"};
inline constexpr std::array<std::string_view, 4> kHealthTypes{"tcp", "udp", "http", "none"};
// In the order of config::Handshake.
inline constexpr std::array<std::string_view, 3> kHandshakes{"auto", "half-open", "full"};
inline constexpr std::array<std::string_view, 1> kTcpKeys{"handshake"};
inline constexpr std::array<std::string_view, 9> kCommonKeys{
    "type", "port", "per_port", "address", "source", "interval", "timeout", "rise", "fall"};
inline constexpr std::array<std::string_view, 3> kPayloadKeys{"send", "expect", "expect_prefix"};
inline constexpr std::array<std::string_view, 4> kHttpKeys{"path", "host", "expect_status",
                                                           "max_response_bytes"};
inline constexpr std::array<std::string_view, 18> kServiceKeys{"name",
                                                               "vip",
                                                               "port",
                                                               "ports",
                                                               "protocol",
                                                               "scheduler",
                                                               "scheduler_flags",
                                                               "one_packet",
                                                               "forward",
                                                               "snat",
                                                               "fwmark",
                                                               "persistence",
                                                               "persistence_netmask",
                                                               "on_failure",
                                                               "quorum",
                                                               "wait_first_check",
                                                               "health",
                                                               "backends"};
inline constexpr std::array<std::string_view, 1> kSnatKeys{"source"};
inline constexpr std::array<std::string_view, 5> kBackendKeys{"address", "port", "weight",
                                                              "upper_threshold", "lower_threshold"};
inline constexpr std::array<std::string_view, 2> kProtocols{"tcp", "udp"};
// The schedulers the Linux 6.1 IPVS modules provide (ip_vs_<name>.ko).
inline constexpr std::array<std::string_view, 13> kSchedulers{
    "rr", "wrr", "lc", "wlc", "sh", "mh", "sed", "nq", "dh", "lblc", "lblcr", "fo", "ovf"};
inline constexpr std::array<std::string_view, 2> kSchedulerFlags{"sh-fallback", "sh-port"};
inline constexpr std::array<std::string_view, 3> kForwards{"nat", "dr", "tun"};
inline constexpr std::array<std::string_view, 2> kOnFailure{"remove", "drain"};
inline constexpr std::array<std::string_view, 14> kInstanceKeys{
    "name",    "interface",     "vrid",        "priority",      "advert_interval",
    "preempt", "preempt_delay", "accept_mode", "unicast",       "vips",
    "track",   "garp",          "notify",      "notify_timeout"};
inline constexpr std::array<std::string_view, 2> kUnicastKeys{"source", "peers"};
inline constexpr std::array<std::string_view, 2> kTrackKeys{"interfaces", "services"};
inline constexpr std::array<std::string_view, 2> kTrackInterfaceKeys{"name", "weight"};
inline constexpr std::array<std::string_view, 2> kTrackServiceKeys{"service", "weight"};
inline constexpr std::array<std::string_view, 3> kGarpKeys{"repeat", "interval", "refresh"};

// (section, keys) for every mapping in the schema.
inline std::vector<std::pair<std::string_view, std::span<const std::string_view>>> key_sets() {
  return {{"top level", kTopKeys},
          {"control", kControlKeys},
          {"metrics", kMetricsKeys},
          {"ipvs", kIpvsKeys},
          {"ipvs.timeouts", kIpvsTimeoutKeys},
          {"ipvs.sysctls", kIpvsSysctls},
          {"ipvs.sync_daemon", kSyncDaemonKeys},
          {"vrrp instance", kInstanceKeys},
          {"unicast", kUnicastKeys},
          {"track", kTrackKeys},
          {"track.interfaces item", kTrackInterfaceKeys},
          {"track.services item", kTrackServiceKeys},
          {"garp", kGarpKeys},
          {"service", kServiceKeys},
          {"snat", kSnatKeys},
          {"backend", kBackendKeys},
          {"health", kHealthKeys}};
}

}  // namespace l4lb::config
