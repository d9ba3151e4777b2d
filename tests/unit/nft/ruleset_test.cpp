// The rendered table: what the config asks for, in the form nft lists it.
#include "nft/ruleset.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "config/loader.hpp"
#include "config/values.hpp"

using namespace l4lb;
using namespace l4lb::nft;

namespace {

config::Config load(std::string_view yaml) {
  auto r = config::load_text(yaml, "t.yaml");
  REQUIRE(r.ok());
  return *r.config;
}

}  // namespace

TEST_CASE("port_runs: contiguous ports become one run") {
  using R = std::vector<std::pair<std::uint16_t, std::uint16_t>>;
  CHECK(port_runs({}) == R{});
  CHECK(port_runs({443, 80, 81, 82}) == R{{80, 82}, {443, 443}});
  CHECK(port_runs({5}) == R{{5, 5}});
  CHECK(port_runs({65534, 65535, 1}) == R{{1, 1}, {65534, 65535}});
}

TEST_CASE("render: no table without snat") {
  auto cfg = load("services:\n  - {name: a, vip: 10.0.0.1, port: 80, backends: [10.1.0.2]}\n");
  auto r = render(cfg);
  CHECK(r.empty());
  CHECK(r.snat_rules == 0);
  CHECK(decide(r, false, "") == Action::none);
  CHECK(decide(r, true, "table inet l4lb {\n}\n") == Action::remove);
}

TEST_CASE("render: masquerade or snat to, per family, one rule per port run") {
  auto cfg = load(R"(services:
  - {name: a, vip: 10.0.0.1, ports: [80, 443-445], snat: true, backends: [10.1.0.2]}
  - {name: b, vip: "fd00::1", port: 53, protocol: udp, snat: {source: "fd00:b::1"},
     backends: ["fd00:b::2"]}
  - {name: c, vip: 10.0.0.2, port: 25, snat: {source: 10.1.0.1}, backends: [10.1.0.2]}
  - {name: d, vip: 10.0.0.3, port: 25, backends: [10.1.0.2]}
)");
  auto r = render(cfg);
  CHECK(r.snat_rules == 4);
  CHECK(r.text ==
        "table inet l4lb {\n"
        "\tcomment \"managed by l4lbd\"\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tmeta l4proto tcp ct original ip daddr 10.0.0.1 ct original proto-dst 80 masquerade\n"
        "\t\tmeta l4proto tcp ct original ip daddr 10.0.0.1 ct original proto-dst 443-445 "
        "masquerade\n"
        "\t\tmeta l4proto udp ct original ip6 daddr fd00::1 ct original proto-dst 53 snat ip6 "
        "to fd00:b::1\n"
        "\t\tmeta l4proto tcp ct original ip daddr 10.0.0.2 ct original proto-dst 25 snat ip to "
        "10.1.0.1\n"
        "\t}\n"
        "}\n");
}

TEST_CASE("transaction: replace the table in one script; an empty ruleset deletes it") {
  Ruleset r;
  CHECK(transaction(r) == "add table inet l4lb\ndelete table inet l4lb\n");
  r.text = "table inet l4lb {\n}\n";
  CHECK(transaction(r) == "add table inet l4lb\ndelete table inet l4lb\ntable inet l4lb {\n}\n");
}

TEST_CASE("owned: l4lbd's comment marks the table as its own") {
  CHECK(owned("table inet l4lb {\n\tcomment \"managed by l4lbd\"\n}\n"));
  CHECK_FALSE(owned("table inet l4lb {\n}\n"));
  CHECK_FALSE(owned("table inet l4lb {\n\tcomment \"managed by someone\"\n}\n"));
  CHECK_FALSE(owned(""));
}

TEST_CASE("decide: compares listings whitespace-insensitively") {
  auto cfg =
      load("services:\n  - {name: a, vip: 10.0.0.1, port: 80, snat: true, backends: [10.1.0.2]}\n");
  auto r = render(cfg);
  CHECK(decide(r, false, "") == Action::replace);
  std::string spaced = r.text;
  for (auto& c : spaced)
    if (c == '\t') c = ' ';
  CHECK(decide(r, true, "\n" + spaced + "\n\n") == Action::none);
  std::string other = r.text;
  other.replace(other.find("masquerade"), 10, "snat ip to 10.9.9.9");
  CHECK(decide(r, true, other) == Action::replace);
  CHECK(decide(r, true, "table inet l4lb {\n}\n") == Action::replace);
}

TEST_CASE("render: a fwmark service's ports are marked at prerouting; SNAT covers the range") {
  auto cfg = load(R"(services:
  - {name: np, vip: 10.0.0.1, ports: [30000-32767], fwmark: true, snat: true,
     backends: [10.1.0.2]}
  - {name: np6, vip: "fd00::1", ports: [30000-30009, 30020], protocol: udp, fwmark: 7,
     backends: ["fd00:b::2"]}
)");
  auto r = render(cfg);
  CHECK(r.mark_rules == 3);
  CHECK(r.snat_rules == 1);
  const auto mark = config::auto_fwmark("np");
  CHECK(r.text ==
        "table inet l4lb {\n"
        "\tcomment \"managed by l4lbd\"\n"
        "\tchain prerouting {\n"
        "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
        "\t\tip daddr 10.0.0.1 tcp dport 30000-32767 meta mark set " +
            fmt::format("{:#010x}", mark) +
            "\n"
            "\t\tip6 daddr fd00::1 udp dport 30000-30009 meta mark set 0x00000007\n"
            "\t\tip6 daddr fd00::1 udp dport 30020 meta mark set 0x00000007\n"
            "\t}\n"
            "\n"
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\tmeta l4proto tcp ct original ip daddr 10.0.0.1 ct original proto-dst 30000-32767 "
            "masquerade\n"
            "\t}\n"
            "}\n");
}
