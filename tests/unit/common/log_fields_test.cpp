// Journald fields read out of log lines, and the JOURNAL_STREAM check (src/common/log_fields.hpp).
#include "common/log_fields.hpp"

#include <catch2/catch.hpp>

using namespace l4lb::log;

TEST_CASE("the fields a line names are found wherever they stand") {
  auto f = extract_fields("health service=ldap backend=192.168.1.10 status=down");
  CHECK(f.service == "ldap");
  CHECK(f.backend == "192.168.1.10");
  CHECK(f.instance.empty());

  f = extract_fields("vrrp instance=ingress family=ipv6 state=MASTER from=BACKUP priority=150");
  CHECK(f.instance == "ingress");
  CHECK(f.service.empty());

  f = extract_fields("drain backend=fd00::5 service=web6");
  CHECK(f.backend == "fd00::5");
  CHECK(f.service == "web6");

  f = extract_fields("instance=first at the start");
  CHECK(f.instance == "first");
}

TEST_CASE("only whole keys count, the first one wins, and empty values are absent") {
  CHECK(extract_fields("subservice=x myinstance=y").service.empty());
  CHECK(extract_fields("subservice=x myinstance=y").instance.empty());
  CHECK(extract_fields("service=a service=b").service == "a");
  CHECK(extract_fields("service= backend=").service.empty());
  CHECK(extract_fields("service= backend=").backend.empty());
  CHECK(extract_fields("").service.empty());
  CHECK(extract_fields("service").service.empty());
}

TEST_CASE("JOURNAL_STREAM must name this very stream") {
  CHECK(journal_stream_matches("8:12345", 8, 12345));
  CHECK_FALSE(journal_stream_matches("8:12345", 8, 12346));
  CHECK_FALSE(journal_stream_matches("9:12345", 8, 12345));
  CHECK_FALSE(journal_stream_matches("", 8, 12345));
  CHECK_FALSE(journal_stream_matches("8", 8, 12345));
  CHECK_FALSE(journal_stream_matches("8:", 8, 0));
  CHECK_FALSE(journal_stream_matches(":12345", 0, 12345));
  CHECK_FALSE(journal_stream_matches("8:12345x", 8, 12345));
  CHECK_FALSE(journal_stream_matches("-8:12345", 8, 12345));
}
