#include "config/values.hpp"

#include <array>
#include <catch2/catch.hpp>

using namespace l4lb;
using namespace l4lb::config;

TEST_CASE("durations in the units the issue names") {
  CHECK(parse_duration("100ms").value == Duration{100});
  CHECK(parse_duration("2s").value == Duration{2000});
  CHECK(parse_duration("1.5s").value == Duration{1500});
  CHECK(parse_duration("1m").value == Duration{60000});
  CHECK(parse_duration("1h").value == Duration{3600000});
  CHECK(parse_duration("1m30s").value == Duration{90000});
  CHECK(parse_duration("0").value == Duration{0});
  CHECK(parse_duration("0s").value == Duration{0});
  CHECK(parse_duration(".5s").value == Duration{500});
  CHECK(parse_duration("40.95s").value == Duration{40950});
}

TEST_CASE("malformed durations say why") {
  CHECK(parse_duration("5").error == "'5' needs a unit: ms, s, m or h (e.g. 5s or 5ms)");
  CHECK(parse_duration("-1s").error == "'-1s' is negative; durations cannot be");
  CHECK(parse_duration("1.5ms").error == "'1.5ms' is not a whole number of milliseconds");
  CHECK(parse_duration("fast").error == "'fast' is not a duration (use e.g. 100ms, 2s, 1.5s, 1m)");
  for (auto bad : {"", "s", "1x", "1.s", "1 s", "1s ", "ms", "1e3ms", "1.2.3s", "99999999999999h"})
    CHECK_FALSE(parse_duration(bad));
}

TEST_CASE("durations format back to their shortest exact spelling") {
  CHECK(format_duration(Duration{0}) == "0s");
  CHECK(format_duration(Duration{10}) == "10ms");
  CHECK(format_duration(Duration{1500}) == "1.5s");
  CHECK(format_duration(Duration{40950}) == "40.95s");
  CHECK(format_duration(Duration{2000}) == "2s");
  CHECK(format_duration(Duration{120000}) == "2m");
  CHECK(format_duration(Duration{7200000}) == "2h");
  for (long ms : {1L, 10L, 999L, 1001L, 61500L, 3600001L})
    CHECK(parse_duration(format_duration(Duration{ms})).value == Duration{ms});
}

TEST_CASE("integers and booleans are strict") {
  CHECK(parse_int("42").value == 42);
  CHECK(parse_int("-60").value == -60);
  CHECK(parse_int("+7").value == 7);
  for (auto bad : {"", "-", "0x10", "1.0", "1e3", " 1", "12a", "9999999999999999999"})
    CHECK_FALSE(parse_int(bad));
  CHECK(parse_bool("true") == true);
  CHECK(parse_bool("No") == false);
  CHECK(parse_bool("OFF") == false);
  CHECK_FALSE(parse_bool("1").has_value());
  CHECK_FALSE(parse_bool("tRue").has_value());
}

TEST_CASE("port ranges: single, range, reversed, too large, out of range") {
  CHECK(parse_port_range("389").value == std::pair<std::uint16_t, std::uint16_t>{389, 389});
  CHECK(parse_port_range("58978-58979").value ==
        std::pair<std::uint16_t, std::uint16_t>{58978, 58979});
  CHECK(parse_port_range("58979-58978").error ==
        "port range '58979-58978' is reversed (write 58978-58979)");
  CHECK(parse_port_range("1000-60000").error ==
        "port range '1000-60000' has 59001 ports; the limit is 1000 per range");
  CHECK(parse_port_range("1-1000"));
  CHECK_FALSE(parse_port_range("1-1001"));
  CHECK(parse_port_range("0").error == "port 0 is out of range 1..65535");
  CHECK(parse_port_range("65536").error == "port 65536 is out of range 1..65535");
  for (auto bad : {"", "-", "80-", "-80", "a-b", "80-81-82", "http"})
    CHECK_FALSE(parse_port_range(bad));
}

TEST_CASE("HTTP status ranges") {
  CHECK(parse_status_range("200").value == std::pair{200, 200});
  CHECK(parse_status_range("200-399").value == std::pair{200, 399});
  CHECK(parse_status_range("399-200").error ==
        "status range '399-200' is reversed (write 200-399)");
  CHECK(parse_status_range("600").error == "HTTP status 600 is out of range 100..599");
  CHECK_FALSE(parse_status_range("2xx"));
}

TEST_CASE("host:port for metrics.listen") {
  auto v4 = parse_host_port("127.0.0.1:9465");
  REQUIRE(v4);
  CHECK(v4.value->address.to_string() == "127.0.0.1");
  CHECK(v4.value->port == 9465);
  auto v6 = parse_host_port("[::1]:9465");
  REQUIRE(v6);
  CHECK(v6.value->address.is_v6());
  CHECK(parse_host_port("::1:9465").error ==
        "'::1:9465': an IPv6 address needs brackets, e.g. [::1]:9465");
  CHECK(parse_host_port("localhost:9465").error ==
        "'localhost' is not an IP address (names are not resolved; use e.g. 127.0.0.1)");
  CHECK(parse_host_port("[127.0.0.1]:80").error ==
        "'[127.0.0.1]:80': brackets are only for IPv6 addresses");
  for (auto bad :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "[::1]", "[::1]:x"})
    CHECK_FALSE(parse_host_port(bad));
}

TEST_CASE("interface names follow the kernel's rules") {
  CHECK(valid_interface_name("eth0"));
  CHECK(valid_interface_name("bond0.100"));
  CHECK(valid_interface_name("abcdefghijklmno"));  // 15
  CHECK_FALSE(valid_interface_name("abcdefghijklmnop"));
  for (auto bad : {"", ".", "..", "a/b", "a:b", "a b", "a\tb"})
    CHECK_FALSE(valid_interface_name(bad));
}

TEST_CASE("did you mean: typos, transpositions, keepalived names, nothing for far words") {
  constexpr std::array<std::string_view, 5> keys{"name", "priority", "vrid", "vips",
                                                 "advert_interval"};
  CHECK(edit_distance("prority", "priority") == 1);
  CHECK(edit_distance("vird", "vrid") == 1);  // one transposition
  CHECK(edit_distance("", "abc") == 3);
  CHECK(suggest("prority", keys) == "priority");
  CHECK(suggest("vird", keys) == "vrid");
  CHECK(suggest("VIPS", keys) == "vips");
  CHECK(suggest("advert_int", keys) == "advert_interval");  // keepalived spelling
  CHECK(suggest("virtual_router_id", keys) == "vrid");      // keepalived spelling
  CHECK_FALSE(suggest("interface", keys).has_value());
  CHECK_FALSE(suggest("zzzz", keys).has_value());
  CHECK_FALSE(suggest(std::string(1000, 'a'), keys).has_value());
  CHECK(did_you_mean("nmae", keys) == "; did you mean 'name'?");
  CHECK(did_you_mean("xyzzy", keys).empty());
}
