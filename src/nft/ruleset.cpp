#include "nft/ruleset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace l4lb::nft {

std::vector<std::pair<std::uint16_t, std::uint16_t>> port_runs(std::vector<std::uint16_t> ports) {
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  std::vector<std::pair<std::uint16_t, std::uint16_t>> runs;
  for (auto p : ports) {
    if (!runs.empty() && runs.back().second + 1 == p)
      runs.back().second = p;
    else
      runs.emplace_back(p, p);
  }
  return runs;
}

namespace {

std::string port_text(std::pair<std::uint16_t, std::uint16_t> run) {
  return run.first == run.second ? fmt::format("{}", run.first)
                                 : fmt::format("{}-{}", run.first, run.second);
}

// One rule per run of ports, in the form nft lists it (so that a listing compares equal).
void snat_rules(const config::Service& s, std::vector<std::string>& out) {
  const char* ip = s.vip.is_v6() ? "ip6" : "ip";
  std::string action = "masquerade";
  if (s.snat->source) action = fmt::format("snat {} to {}", ip, s.snat->source->to_string());
  for (auto run : port_runs(s.ports))
    out.push_back(fmt::format("meta l4proto {} ct original {} daddr {} ct original proto-dst {} {}",
                              config::to_string(s.protocol), ip, s.vip.to_string(), port_text(run),
                              action));
}

void mark_rules(const config::Service& s, std::vector<std::string>& out) {
  const char* ip = s.vip.is_v6() ? "ip6" : "ip";
  for (auto run : port_runs(s.ports))
    out.push_back(fmt::format("{} daddr {} {} dport {} meta mark set {:#010x}", ip,
                              s.vip.to_string(), config::to_string(s.protocol), port_text(run),
                              *s.fwmark));
}

}  // namespace

Ruleset render(const config::Config& cfg) {
  Ruleset r;
  std::vector<std::string> snat, marks;
  for (const auto& s : cfg.services) {
    if (s.snat && s.forward == config::Forward::nat) snat_rules(s, snat);
    if (s.fwmark) mark_rules(s, marks);
  }
  r.snat_rules = snat.size();
  r.mark_rules = marks.size();
  if (snat.empty() && marks.empty()) return r;
  std::string t = fmt::format("table {} {} {{\n", kFamily, kName);
  t += fmt::format("\tcomment \"{}\"\n", kComment);
  auto chain = [&](const char* name, const char* head, const std::vector<std::string>& rules) {
    if (rules.empty()) return;
    if (t.ends_with("}\n")) t += "\n";  // nft prints a blank line between
    t += fmt::format("\tchain {} {{\n\t\t{}\n", name, head);
    for (const auto& rule : rules) t += "\t\t" + rule + "\n";
    t += "\t}\n";
  };
  chain("prerouting", "type filter hook prerouting priority mangle; policy accept;", marks);
  chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", snat);
  t += "}\n";
  r.text = std::move(t);
  return r;
}

std::string transaction(const Ruleset& want) {
  std::string t = fmt::format("add table {0} {1}\ndelete table {0} {1}\n", kFamily, kName);
  return t + want.text;
}

std::string normalise(const std::string& listing) {
  std::istringstream in(listing);
  std::string line, out;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    auto e = line.find_last_not_of(" \t\r");
    out += line.substr(b, e - b + 1);
    out += '\n';
  }
  return out;
}

bool owned(const std::string& listing) {
  const std::string line = fmt::format("comment \"{}\"\n", kComment);
  return normalise(listing).find("\n" + line) != std::string::npos;
}

Action decide(const Ruleset& want, bool live_present, const std::string& live_text) {
  if (want.empty()) return live_present ? Action::remove : Action::none;
  if (!live_present) return Action::replace;
  return normalise(live_text) == normalise(want.text) ? Action::none : Action::replace;
}

}  // namespace l4lb::nft
