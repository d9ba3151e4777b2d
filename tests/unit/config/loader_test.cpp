#include "config/loader.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "config/reporter.hpp"
#include "config/text_check.hpp"
#include "test_util.hpp"

using namespace l4lb;
using namespace l4lb::config;
using namespace l4lb::config::test;
using Catch::Matchers::Contains;

TEST_CASE("the shipped etc/l4lb.yaml loads with no errors and no warnings") {
  auto r = load_text(example_text(), "etc/l4lb.yaml", "lb-x");
  INFO(joined(diagnostics(example_text())));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  CHECK(summary(*r.config) ==
        "ok: 2 vrrp instances, 6 services (11 virtual services), 12 backends");
}

TEST_CASE("the example's values arrive typed") {
  auto r = load_text(example_text(), "l4lb.yaml", "ignored");
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.node_name == "lb-a");
  REQUIRE(c.vrrp.size() == 2);
  const auto& v4 = c.vrrp[0];
  CHECK(v4.name == "ipa-v4");
  CHECK(v4.interface == "eth1");
  CHECK(v4.vrid == 51);
  CHECK(v4.priority == 150);
  CHECK(v4.advert_interval == Duration{100});
  CHECK(v4.preempt);
  CHECK_FALSE(v4.accept_mode);
  REQUIRE(v4.unicast);
  CHECK(v4.unicast->source.to_string() == "10.232.35.41");
  REQUIRE(v4.unicast->peers.size() == 1);
  CHECK(v4.unicast->peers[0].to_string() == "10.232.35.31");
  REQUIRE(v4.vips.size() == 1);
  CHECK(v4.vips[0].to_string() == "10.232.35.199/24");
  REQUIRE(v4.track_interfaces.size() == 2);
  CHECK(v4.track_interfaces[0].name == "eth0");
  CHECK(v4.track_interfaces[0].weight == -50);
  CHECK(v4.track_interfaces[1].name == "eth2");
  CHECK_FALSE(v4.track_interfaces[1].weight.has_value());
  REQUIRE(v4.track_services.size() == 1);
  CHECK(v4.track_services[0].service == "ipa-ldap");
  CHECK(v4.track_services[0].weight == -60);
  CHECK(v4.garp.repeat == 5);
  CHECK(v4.garp.interval == Duration{10});
  CHECK(v4.notify == "/usr/local/sbin/l4lb-notify");
  CHECK(v4.location.line > 0);
  CHECK(c.vrrp[1].vips[0].address.is_v6());
  CHECK_FALSE(c.vrrp[1].unicast.has_value());

  REQUIRE(c.services.size() == 6);
  const auto& web = c.services[0];
  CHECK(web.name == "ipa-web");
  CHECK(web.ports == std::vector<std::uint16_t>{80, 443});
  CHECK(web.scheduler == "rr");
  CHECK(web.health->type == HealthType::http);
  CHECK(web.health->path == "/ipa/ui/");
  CHECK(web.health->expect_status == std::vector<std::pair<int, int>>{{200, 399}});
  const auto& ldap = c.services[1];
  CHECK(ldap.scheduler == "sh");
  CHECK(ldap.sh_fallback);
  CHECK_FALSE(ldap.sh_port);
  CHECK(ldap.on_failure == OnFailure::drain);
  const auto& krb_udp = c.services[3];
  CHECK(krb_udp.protocol == Protocol::udp);
  CHECK(krb_udp.persistence == Duration{60000});
  CHECK(krb_udp.persistence_netmask == 32);
  CHECK(krb_udp.health->type == HealthType::udp);
  CHECK(krb_udp.health->send == "l4lb-probe");
  CHECK_FALSE(krb_udp.health->expect.has_value());
  const auto& ldap6 = c.services[4];
  CHECK(ldap6.vip.is_v6());
  CHECK(ldap6.backends[0].port == 1389);
  CHECK(ldap6.health->source->to_string() == "2001:db8:35::41");
  CHECK(c.services[5].ports == std::vector<std::uint16_t>{443, 80});
  CHECK(c.services[5].health->type == HealthType::none);
  CHECK(c.state_dir == "/run/l4lb");
  CHECK(c.control.socket == "/run/l4lb/l4lbd.sock");
  CHECK(c.metrics.listen == "127.0.0.1:9465");
  CHECK_FALSE(c.remove_services_on_exit);
  CHECK(c.realtime_priority == 0);
}

TEST_CASE("realtime_priority: 0-99, anything else is an error at its position") {
  auto r = load_text(std::string(kBase) + "realtime_priority: 10\n", "t.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->realtime_priority == 10);
  for (const char* bad : {"100", "-1", "high", "[1]"}) {
    auto d = diagnostics(std::string(kBase) + "realtime_priority: " + bad + "\n");
    INFO(bad);
    REQUIRE(d.size() == 1);
    CHECK(d[0].find("t.yaml:") == 0);
  }
}

TEST_CASE("defaults fill what the file leaves out") {
  auto r = load_text(kBase, "t.yaml", "node-7");
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.node_name == "node-7");
  CHECK(c.vrrp[0].priority == 100);
  CHECK(c.vrrp[0].advert_interval == Duration{1000});
  CHECK(c.vrrp[0].preempt);
  const auto& s = c.services[0];
  CHECK(s.protocol == Protocol::tcp);
  CHECK(s.scheduler == "wlc");
  CHECK(s.forward == Forward::nat);
  CHECK(s.quorum == 1);
  CHECK(s.health->type == HealthType::tcp);
  CHECK(s.health->interval == Duration{2000});
  CHECK(s.backends[0].weight == 1);
  CHECK(s.backends[0].location.line == 10);
  CHECK_FALSE(c.metrics.listen.has_value());
}

TEST_CASE("whole-file problems are one clear error each") {
  auto only = [](std::string_view text) {
    auto r = load_text(text, "f.yaml");
    CHECK_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    return r.diagnostics[0].to_string();
  };
  CHECK(only("") ==
        "f.yaml: error: the file is empty; expected a mapping with 'vrrp:' and 'services:'");
  CHECK(only("# nothing\n\n") ==
        "f.yaml: error: the file is empty; expected a mapping with 'vrrp:' and 'services:'");
  CHECK(only("- a\n- b\n") ==
        "f.yaml:1:1: error: the top level must be a mapping (keys such as 'vrrp:' and "
        "'services:'), got a list");
  CHECK(only("just words\n") ==
        "f.yaml:1:1: error: the top level must be a mapping (keys such as 'vrrp:' and "
        "'services:'), got 'just words'");
  CHECK(only("vrrp: [\n") ==
        "f.yaml:2:1: error: YAML syntax error: did not find expected node content (while parsing "
        "a flow node at line 2, column 1)");
  CHECK(only("a: 1\n---\nb: 2\n") ==
        "f.yaml:2:1: error: a second YAML document starts here; l4lb reads exactly one (remove "
        "the '---' or '...' separators)");
  // yaml-cpp 0.7's LoadAll loops forever on these (found by fuzz_config); libyaml reports them.
  CHECK(only("- name: iess\n  interface:ce: eth1\n,") ==
        "f.yaml:3:1: error: YAML syntax error: did not find expected '-' indicator (while parsing "
        "a block collection at line 1, column 1)");
  CHECK(only(",\n") ==
        "f.yaml:1:1: error: YAML syntax error: did not find expected node content (while parsing "
        "a block node at line 1, column 1)");
  CHECK(only("null\n") ==
        "f.yaml:1:1: error: the top level must be a mapping (keys such as 'vrrp:' and "
        "'services:'), got nothing readable");
  CHECK(only(std::string_view("vrrp: []\n\0\0", 11)) ==
        "f.yaml:2:1: error: the file contains a NUL byte; it is binary, not YAML text");
  CHECK(only("node_name: caf\xC3\xA9\xFF\n") ==
        "f.yaml:1:16: error: invalid UTF-8 (byte 0xff); the config must be UTF-8 text");
  CHECK(only("node_name: \x01\n") ==
        "f.yaml:1:12: error: control character 0x01 is not allowed in YAML text");
  CHECK(only("a: \xED\xA0\x80\n") ==  // a UTF-16 surrogate encoded as UTF-8
        "f.yaml:1:4: error: invalid UTF-8 (byte 0xed); the config must be UTF-8 text");
}

TEST_CASE("a file over kMaxConfigBytes is rejected before parsing") {
  std::string big(10 * 1024 * 1024, '#');
  auto r = load_text(big, "big.yaml");
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].to_string() ==
        fmt::format("big.yaml: error: the file is 10485760 bytes; the limit is {} bytes",
                    kMaxConfigBytes));
}

TEST_CASE("load_file: reads the file, reports unreadable ones, defaults node_name to hostname") {
  auto dir =
      std::filesystem::temp_directory_path() / ("l4lb-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() { std::filesystem::remove_all(p); }
  } cleanup{dir};

  auto path = (dir / "l4lb.yaml").string();
  {
    std::ofstream out(path);
    out << kBase;
  }
  auto r = load_file(path);
  REQUIRE(r.ok());
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  CHECK(r.config->node_name == host);

  // Larger than one read() (load_file reads 256 KiB at a time): the config after 1 MiB of
  // comments is read whole.
  auto long_path = (dir / "long.yaml").string();
  {
    std::ofstream out(long_path);
    for (int i = 0; i < 16384; ++i) out << "# " << std::string(61, 'x') << "\n";
    out << kBase;
  }
  auto long_file = load_file(long_path);
  REQUIRE(long_file.ok());
  CHECK(long_file.config->services.size() == r.config->services.size());
  CHECK_FALSE(long_file.config->services.empty());
  CHECK(long_file.config->vrrp.size() == r.config->vrrp.size());

  auto missing = load_file((dir / "nope.yaml").string());
  REQUIRE(missing.diagnostics.size() == 1);
  CHECK_THAT(missing.diagnostics[0].to_string(),
             Contains("nope.yaml: error: cannot open: No such file or directory"));

  auto is_dir = load_file(dir.string());
  REQUIRE(is_dir.diagnostics.size() == 1);
  CHECK_THAT(is_dir.diagnostics[0].to_string(), Contains("error: not a regular file"));

  auto big_path = (dir / "big.yaml").string();
  {
    std::ofstream out(big_path);
    out << std::string(10 * 1024 * 1024, '#');
  }
  auto big = load_file(big_path);
  REQUIRE(big.diagnostics.size() == 1);
  CHECK_THAT(big.diagnostics[0].to_string(), Contains("error: the file is 10485760 bytes"));
}

TEST_CASE("diagnostics come in file order and are counted by severity") {
  // The static-VIP warning is found last (a cross-check) but belongs first.
  auto r = load_text(R"(services:
  - name: s
    vip: 10.9.9.9
    port: 80
    quorum: 0
  - name: t
    vip: 10.9.9.9
    port: 81
    protocol: sctp
vrrp:
  - name: a
    interface: eth1
    vrid: 0
    vips: [10.0.0.1]
)",
                     "t.yaml");
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 3);
  CHECK(r.diagnostics[0].line == 3);
  CHECK(r.diagnostics[0].severity == Severity::warning);
  CHECK(r.diagnostics[1].line == 9);
  CHECK(r.diagnostics[2].line == 13);
  CHECK(r.error_count() == 2);
  CHECK(r.warning_count() == 1);
}

TEST_CASE("summary counts instances, services, virtual services and backends") {
  Config c;
  c.vrrp.resize(1);
  c.services.resize(1);
  c.services[0].ports = {80};
  c.services[0].backends.resize(1);
  CHECK(summary(c) == "ok: 1 vrrp instance, 1 service (1 virtual service), 1 backend");
  CHECK(summary(Config{}) == "ok: 0 vrrp instances, 0 services (0 virtual services), 0 backends");
}

TEST_CASE("more than one YAML document is refused at the second one") {
  auto line_of = [](std::string_view text) {
    auto r = load_text(text, "f");
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].message ==
          "a second YAML document starts here; l4lb reads exactly one (remove the '---' or '...' "
          "separators)");
    return r.diagnostics[0].line;
  };
  CHECK(line_of("a: 1\n---\nb: 2\n") == 2);
  CHECK(line_of("---\na: 1\n--- \n") == 3);
  CHECK(line_of("a: 1\r\n---\r\nb: 2\r\n") == 2);
  CHECK(load_text("%YAML 1.2\n---\nnode_name: x\n...\n# trailing comment\n", "f").ok());
  CHECK(load_text("# c\n\n---\nnode_name: |\n  ---x\n", "f").diagnostics.size() == 1);
}

TEST_CASE("first_content skips comments, directives and markers") {
  CHECK_FALSE(first_content("# c\n%YAML 1.2\n---\n  \n...\n"));
  CHECK(first_content("# c\n---\n  ,\n")->line == 3);
  CHECK(first_content("# c\n---\n  ,\n")->column == 3);
}

TEST_CASE("a flood of diagnostics is capped, keeping errors before warnings") {
  // 150 static-VIP warnings, then one error at the end of the file.
  std::string text = "services:\n";
  for (int i = 0; i < 150; ++i)
    text += fmt::format("  - {{name: s{}, vip: 10.9.0.{}, port: 80, quorum: 0}}\n", i, i + 1);
  text += "state_dir: relative\n";
  auto r = load_text(text, "f");
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == kMaxDiagnostics + 1);
  CHECK(r.error_count() == 1);
  CHECK(r.diagnostics[kMaxDiagnostics - 1].message ==
        "state_dir: 'relative' must be an absolute path");
  CHECK(r.diagnostics.back().to_string() ==
        "f: warning: 0 more error(s) and 51 more warning(s) not shown");

  // Only warnings: the file still loads, and the summary line is a warning.
  text.resize(text.find("state_dir"));
  auto w = load_text(text, "f");
  CHECK(w.ok());
  CHECK(w.error_count() == 0);
  CHECK(w.diagnostics.back().message == "0 more error(s) and 50 more warning(s) not shown");
  CHECK(w.diagnostics.back().severity == Severity::warning);
}

TEST_CASE("deep nesting and aliases are bounded") {
  auto only = [](std::string_view text) {
    auto r = load_text(text, "f.yaml");
    CHECK_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    return r.diagnostics[0].to_string();
  };
  CHECK(only(std::string(100000, '[')) ==
        "f.yaml:1:65: error: YAML nesting is deeper than 64 levels");
  CHECK(load_text(std::string(60, '[') + std::string(60, ']'), "f").diagnostics.size() == 1);
  CHECK(only("a: *nowhere\n") ==
        "f.yaml:1:4: error: YAML alias '*nowhere' refers to no earlier complete '&nowhere' anchor");
  // An alias inside its own anchor would make a cycle.
  CHECK(only("a: &x [*x]\n") ==
        "f.yaml:1:8: error: YAML alias '*x' refers to no earlier complete '&x' anchor");
  // Aliases share nodes: a valid config may reuse a block.
  auto r = load_text(R"(vrrp:
  - {name: v4, interface: eth1, vrid: 51, vips: [10.0.0.1/24]}
services:
  - name: web
    vip: 10.0.0.1
    port: 80
    health: &checks {type: tcp, interval: 5s, timeout: 2s}
    backends: &pool [10.1.0.1, 10.1.0.2]
  - name: web-tls
    vip: 10.0.0.1
    port: 443
    health: *checks
    backends: *pool
)",
                     "f");
  REQUIRE(r.ok());
  CHECK(r.config->services[1].health->interval == l4lb::Duration{5000});
  CHECK(r.config->services[1].backends.size() == 2);
}

TEST_CASE("services are read while the file is parsed; a syntax error still stands alone") {
  // The first service has an error of its own, read before the parser reaches the bad line:
  // only the syntax error is reported, as when the whole tree was built first.
  auto r = load_text(R"(services:
  - name: web
    vip: 10.0.0.1
    port: 80
    colour: blue
    backends: [10.1.0.1]
  - name: [unclosed
)",
                     "f.yaml");
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message.find("YAML syntax error") == 0);
  // A whole service repeated by an alias is a duplicate name (at the anchor's text, which the
  // alias shares).
  auto d = diagnostics(R"(services:
  - &web {name: web, vip: 10.0.0.1, port: 80, backends: [10.1.0.1]}
  - *web
)");
  REQUIRE(d.size() == 2);  // and the static-VIP warning
  CHECK(d[0] == "t.yaml:2:17: error: name: duplicate service name 'web' (first at line 2)");
}

TEST_CASE("a UTF-8 byte order mark is accepted") {
  auto r = load_text("\xEF\xBB\xBFnode_name: x\nstate_dir: rel\n", "f");
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].to_string() == "f:2:12: error: state_dir: 'rel' must be an absolute path");
  CHECK(load_text("\xEF\xBB\xBFnode_name: x\nservices: []\n", "f").ok());
}

TEST_CASE("aliases may not expand the document beyond the node budget") {
  // Billion laughs: about 10^26 nodes as read, from a file of 1 KiB. Refused while composing,
  // at the first alias that crosses the budget, before anything walks the tree.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'z'; ++c, ++prev)
    laughs += fmt::format("{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n", c, c,
                          prev, prev, prev, prev, prev, prev, prev, prev, prev, prev);
  laughs += "services: *z\n";
  const auto start = std::chrono::steady_clock::now();
  auto r = load_text(laughs, "f.yaml");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  REQUIRE(r.diagnostics.size() == 1);
  // Lines a..f come to 1,234,573 nodes; &f stands for 1,111,111, so the third *f on line 7
  // (column 16) is the first alias to cross 4 Mi.
  CHECK(r.diagnostics[0].to_string() ==
        "f.yaml:7:16: error: YAML alias '*f' expands the document beyond 4194304 nodes ('&f' "
        "has 1111111 nodes with its aliases, copied at every use); write the repeated parts out "
        "or nest aliases less");

  // The budget is exact: root, key a, &a (1 + 1,000), key b and b's list are 1,005 nodes; each
  // *a adds 1,001. 4,189 of them fit (4,194,194 nodes), the 4,190th does not.
  auto with_aliases = [](int n) {
    std::string text = "a: &a [";
    for (int i = 0; i < 1000; ++i) text += i ? ", x" : "x";
    text += "]\nb: [";
    for (int i = 0; i < n; ++i) text += i ? ", *a" : "*a";
    return text + "]\n";
  };
  for (const auto& d : load_text(with_aliases(4189), "f").diagnostics)
    CHECK(d.message.find("expands the document") == std::string::npos);
  auto over = load_text(with_aliases(4190), "f");
  REQUIRE(over.diagnostics.size() == 1);
  CHECK(over.diagnostics[0].line == 2);
  CHECK(over.diagnostics[0].column == 5 + 4 * 4189);
  CHECK(over.diagnostics[0].message.starts_with("YAML alias '*a' expands the document beyond"));
}

TEST_CASE("error lists are capped in memory and in what is reported") {
  // 3,000 services with an unknown key each: 3,000 errors, only the first 100 (file order)
  // reported, the rest counted exactly.
  std::string text = "services:\n";
  for (int i = 0; i < 3000; ++i)
    text += fmt::format("  - {{name: s{}, vip: 10.9.{}.{}, port: 80, bogus: 1}}\n", i, i / 200,
                        i % 200 + 1);
  auto r = load_text(text, "f");
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == kMaxDiagnostics + 1);
  CHECK(r.diagnostics[0].line == 2);
  CHECK(r.diagnostics[kMaxDiagnostics - 1].line == static_cast<int>(kMaxDiagnostics) + 1);
  CHECK(r.diagnostics.back().severity == Severity::error);
  CHECK_THAT(r.diagnostics.back().message, Catch::Matchers::StartsWith("2900 more error(s) and "));
  CHECK(r.error_count() == kMaxDiagnostics + 1);
}

TEST_CASE("services with equal health settings share one instance; editing one copies it") {
  const std::string text = R"(services:
  - name: a
    vip: 10.0.0.1
    port: 80
    health: {type: http, path: /ok}
    backends: [{address: 10.1.0.1}]
  - name: b
    vip: 10.0.0.1
    port: 81
    health:
      type: http
      path: /ok
    backends: [{address: 10.1.0.1}]
  - name: c
    vip: 10.0.0.1
    port: 82
    health: {type: http, path: /other}
    backends: [{address: 10.1.0.1}]
  - name: d
    vip: 10.0.0.1
    port: 83
    backends: [{address: 10.1.0.1}]
  - name: e
    vip: 10.0.0.1
    port: 84
    backends: [{address: 10.1.0.1}]
)";
  INFO(joined(diagnostics(text)));
  auto r = load_text(text, "l4lb.yaml", "n");
  REQUIRE(r.ok());
  auto& s = r.config->services;
  REQUIRE(s.size() == 5);
  CHECK(&*s[0].health == &*s[1].health);  // written differently, equal values
  CHECK(&*s[0].health != &*s[2].health);
  CHECK(s[2].health->path == "/other");
  CHECK(&*s[3].health == &*s[4].health);  // the defaults
  CHECK(s[3].health->type == HealthType::tcp);
  // Each service keeps where its own block is, for messages.
  CHECK(s[0].health_location.line == 5);
  CHECK(s[1].health_location.line == 11);
  CHECK(s[3].health_location.line == 0);

  Service copy = s[0];
  copy.health.edit().path = "/changed";
  CHECK(copy.health->path == "/changed");
  CHECK(s[0].health->path == "/ok");
  CHECK(s[1].health->path == "/ok");
  CHECK(&*s[0].health == &*s[1].health);
}
