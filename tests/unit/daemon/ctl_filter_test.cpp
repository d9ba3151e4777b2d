// `l4lbctl status NAME...`, `--watch [SECONDS]` and the completion names (src/ctl/filter.hpp).
#include <catch2/catch.hpp>

#include "ctl/filter.hpp"

using namespace l4lb::ctl;
using nlohmann::json;

namespace {

json sample() {
  return json::parse(R"({
    "schema": 1,
    "daemon": {"node": "lb-a", "version": "0.1.0"},
    "vrrp": [
      {"name": "ingress", "family": "ipv4", "vips": ["10.0.0.1/24"]},
      {"name": "ingress", "family": "ipv6", "vips": ["2001:db8::1/64"]},
      {"name": "gateway", "family": "ipv4", "vips": ["192.168.1.1/24"]}],
    "services": [
      {"name": "ldap", "vip": "10.0.0.1", "port": 389,
       "backends": [{"address": "192.168.1.10"}, {"address": "192.168.1.11"}]},
      {"name": "ldap", "vip": "10.0.0.1", "port": 636,
       "backends": [{"address": "192.168.1.10"}]},
      {"name": "web6", "vip": "2001:db8::1", "port": 443, "backends": [{"address": "fd00::5"}]},
      {"name": "dns", "vip": "10.9.9.9", "port": 53, "backends": []}],
    "health": [
      {"service": "ldap", "backend": "192.168.1.10"},
      {"service": "dns", "backend": "10.1.1.1"}],
    "ipvs": {"enabled": true}
  })");
}

std::vector<std::string> names_of(const json& arr, const char* key) {
  std::vector<std::string> out;
  for (const auto& e : arr) out.push_back(e[key].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("no names: the document is unchanged") {
  auto r = filter_status(sample(), {});
  CHECK(r.status == sample());
  CHECK(r.unknown.empty());
}

TEST_CASE("a service name keeps that service's virtual services and health, no instance") {
  auto r = filter_status(sample(), {"ldap"});
  CHECK(r.unknown.empty());
  CHECK(r.status["vrrp"].empty());
  CHECK(names_of(r.status["services"], "name") == std::vector<std::string>{"ldap", "ldap"});
  CHECK(names_of(r.status["health"], "service") == std::vector<std::string>{"ldap"});
  CHECK(r.status["daemon"] == sample()["daemon"]);
  CHECK(r.status["ipvs"] == sample()["ipvs"]);
}

TEST_CASE("an instance name keeps every family of it and the services on its VIPs") {
  auto r = filter_status(sample(), {"ingress"});
  CHECK(r.unknown.empty());
  CHECK(names_of(r.status["vrrp"], "family") == std::vector<std::string>{"ipv4", "ipv6"});
  CHECK(names_of(r.status["services"], "name") == std::vector<std::string>{"ldap", "ldap", "web6"});
}

TEST_CASE("several names add up; unknown names are reported once each") {
  auto r = filter_status(sample(), {"gateway", "dns", "nope", "nope"});
  CHECK(names_of(r.status["vrrp"], "name") == std::vector<std::string>{"gateway"});
  CHECK(names_of(r.status["services"], "name") == std::vector<std::string>{"dns"});
  CHECK(r.unknown == std::vector<std::string>{"nope"});
}

TEST_CASE("a document of another shape is filtered without throwing") {
  auto r =
      filter_status(json::parse(R"({"vrrp": 5, "services": [1, "x", {"name": 3}]})"), {"ldap"});
  CHECK(r.status["vrrp"].empty());
  CHECK(r.status["services"].empty());
  CHECK(r.unknown == std::vector<std::string>{"ldap"});
  CHECK(filter_status(json("text"), {"a"}).status == json("text"));
}

TEST_CASE("completion names are unique and sorted") {
  const auto s = sample();
  CHECK(completion_names(s, "instances") == std::vector<std::string>{"gateway", "ingress"});
  CHECK(completion_names(s, "services") == std::vector<std::string>{"dns", "ldap", "web6"});
  CHECK(completion_names(s, "backends") ==
        std::vector<std::string>{"192.168.1.10", "192.168.1.11", "fd00::5"});
  CHECK(completion_names(s, "other").empty());
  CHECK(completion_names(json::array(), "services").empty());
  auto folded = s;  // a large summary names the services that are fine
  folded["services_fine"] = {"alpha", "ldap", 7};
  folded["services_awaiting_checks"] = {"beta"};  // and those awaiting their first checks
  CHECK(completion_names(folded, "services") ==
        std::vector<std::string>{"alpha", "beta", "dns", "ldap", "web6"});
}

TEST_CASE("--watch takes a period or leaves the word to the names") {
  CHECK(parse_watch_arg("").seconds == kDefaultWatchSeconds);
  CHECK(parse_watch_arg("5").seconds == 5.0);
  CHECK(parse_watch_arg("0.5").seconds == 0.5);
  auto named = parse_watch_arg("ldap");
  CHECK(named.name == "ldap");
  CHECK(named.seconds == kDefaultWatchSeconds);
  CHECK(named.error.empty());
  CHECK_FALSE(parse_watch_arg("0").error.empty());
  CHECK_FALSE(parse_watch_arg("1e9").error.empty());
  CHECK_FALSE(parse_watch_arg("nan").error.empty());
  CHECK(parse_watch_arg("5s").name == "5s");
}

TEST_CASE("parsing for names keeps what the filter keeps, and drops the rest early") {
  const json doc = sample();
  // The daemon's order (vrrp, services, health); dump() sorts keys, services before vrrp.
  std::string text = "{";
  for (const auto& [key, value] : doc.items())
    if (key != "vrrp" && key != "services" && key != "health")
      text += json(key).dump() + ":" + value.dump() + ",";
  text += R"("vrrp":)" + doc["vrrp"].dump() + R"(,"services":)" + doc["services"].dump() +
          R"(,"health":)" + doc["health"].dump() + "}";
  for (const std::vector<std::string>& names :
       {std::vector<std::string>{"ldap"}, {"ingress"}, {"gateway", "dns"}, {"nope"}, {"web6"}}) {
    INFO(json(names).dump());
    // The sorted dump (services first) and an indented one: whitespace between tokens.
    for (const std::string& t : {text, doc.dump(), json::parse(text).dump(2)}) {
      const json parsed = parse_for_names(t, names);
      CHECK(filter_status(parsed, names).status == filter_status(doc, names).status);
      CHECK(filter_status(parsed, names).unknown == filter_status(doc, names).unknown);
    }
  }
  // In the daemon's order only what the name needs is kept: one service and its checks.
  const json one = parse_for_names(text, {"dns"});
  CHECK(one["services"].size() < doc["services"].size());
  for (const auto& s : one["services"]) CHECK(s["name"] == "dns");
  for (const auto& h : one["health"]) CHECK(h["service"] == "dns");
  CHECK(parse_for_names("not json", {"a"}).is_discarded());
  CHECK(parse_for_names(R"({"vrrp":[],"services":[}]})", {"a"}).is_discarded());  // no loop
  CHECK(parse_for_names(R"({"vrrp":[],"services":[{"name":"x"},,]})", {"a"}).is_discarded());
  for (std::size_t cut : {1ul, text.size() / 3, text.size() / 2, text.size() - 1})
    CHECK(parse_for_names(text.substr(0, cut), {"dns"}).is_discarded());  // truncated
  CHECK(parse_for_names(R"({"vrrp": [], "services": [1, "x", {"name": "dns"}, {"name": "web"}],
                              "n": null})",
                        {"dns"}) == json::parse(R"({"vrrp": [], "services": [{"name": "dns"}],
                                                   "n": null})"));
}
