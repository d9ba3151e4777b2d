// l4lbd's own nftables table, as text: the pure half of the nft module. The table holds the
// netfilter rules IPVS services need beside their IPVS entries: source NAT of the traffic
// IPVS forwards to a service's backends (`snat:`), and the marks that send a port range to
// its IPVS fwmark service (`fwmark:`). Everything here is a function of the config;
// the adapter (nftables.hpp) sends it to the kernel and reads it back.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace l4lb::nft {

// One table for both families (inet), owned by l4lbd alone: nothing else is ever read,
// changed or deleted, and the name is reserved for l4lbd (docs/CONFIG.md).
inline constexpr const char* kFamily = "inet";
inline constexpr const char* kName = "l4lb";
// The table's comment: how a restarted l4lbd knows a table of that name is its own. A table
// `inet l4lb` without it belongs to someone else and is never changed or deleted.
inline constexpr const char* kComment = "managed by l4lbd";

struct Ruleset {
  // The table exactly as `nft list table inet l4lb` prints it (tabs, one rule a line);
  // empty when the config needs no table at all.
  std::string text;
  std::size_t snat_rules = 0;
  std::size_t mark_rules = 0;
  bool empty() const { return text.empty(); }
};

// Contiguous runs of a sorted or unsorted port list: {80, 81, 82, 443} -> {80-82, 443}.
std::vector<std::pair<std::uint16_t, std::uint16_t>> port_runs(std::vector<std::uint16_t> ports);

// The table the config asks for. SNAT rules sit in a nat chain at postrouting and match the
// connection's ORIGINAL destination (client -> VIP:port) in conntrack, which IPVS leaves in
// place when it forwards (it rewrites only the reply direction), so exactly the connections
// IPVS took for that service are translated, whatever backend they went to. Mark rules sit in
// a filter chain at prerouting (priority mangle, before IPVS sees the packet at local-in) and
// set the service's mark on packets to the VIP and its ports.
Ruleset render(const config::Config& cfg);

// The nft script that makes the kernel's table `want`, as ONE transaction: create the table
// if missing, delete it, and define it afresh. nftables commits a script atomically, so
// packets see either the old rules or the new, never a mix or an empty table; established
// connections keep their NAT bindings (conntrack), which new rules never rewrite. An empty
// `want` deletes the table (and does nothing if there is none).
std::string transaction(const Ruleset& want);

// Pure: the listing with each line trimmed and blank lines dropped, for comparing what the
// kernel prints with what was rendered.
std::string normalise(const std::string& listing);

// Pure: whether a listing of `inet l4lb` carries l4lbd's comment.
bool owned(const std::string& listing);

// Pure: what to do given the wanted table and the live one (`live_present` false: no table).
enum class Action { none, replace, remove };
Action decide(const Ruleset& want, bool live_present, const std::string& live_text);

}  // namespace l4lb::nft
