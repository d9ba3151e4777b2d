#include "ipvs/ownership.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;

TEST_CASE("ownership record round trip: tcp, udp, IPv6, fwmark") {
  std::set<ServiceKey> owned{ServiceKey::inet(Protocol::tcp, addr("10.0.0.1"), 80),
                             ServiceKey::inet(Protocol::udp, addr("2001:db8::1"), 53),
                             ServiceKey::mark(net::Family::v6, 7)};
  std::string error;
  auto back = owned_from_json(owned_to_json(owned), error);
  CHECK(error.empty());
  CHECK(back == owned);
}

TEST_CASE("malformed ownership records are errors, never a crash") {
  for (const char* text :
       {"", "{", "[]", "{\"services\":3}", "{\"services\":[1]}",
        "{\"services\":[{\"protocol\":\"sctp\",\"address\":\"10.0.0.1\",\"port\":1}]}",
        "{\"services\":[{\"protocol\":\"tcp\",\"address\":\"nope\",\"port\":1}]}",
        "{\"services\":[{\"protocol\":\"tcp\",\"address\":\"10.0.0.1\",\"port\":70000}]}",
        "{\"services\":[{\"protocol\":\"tcp\",\"address\":\"10.0.0.1\",\"port\":-1}]}",
        "{\"services\":[{\"fwmark\":-1,\"family\":\"ipv4\"}]}",
        "{\"services\":[{\"fwmark\":1,\"family\":\"ipx\"}]}"}) {
    std::string error;
    auto r = owned_from_json(text, error);
    INFO(text);
    CHECK_FALSE(error.empty());
    CHECK(r.empty());
  }
}

TEST_CASE("save is atomic and load tolerates a missing file") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ipvs-own-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string path = (dir / "sub" / kOwnedFileName).string();
  std::string error;
  CHECK(load_owned(path, error).empty());
  CHECK(error.empty());
  std::set<ServiceKey> owned{ServiceKey::inet(Protocol::tcp, addr("10.0.0.1"), 80)};
  REQUIRE(save_owned(path, owned, error));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(load_owned(path, error) == owned);
  std::ofstream(path) << "garbage";
  CHECK(load_owned(path, error).empty());
  CHECK_THAT(error, Catch::Contains(path));
  // The damaged record is kept aside, so the next write does not destroy the evidence.
  CHECK_THAT(error, Catch::Contains(".damaged"));
  CHECK_FALSE(fs::exists(path));
  CHECK(fs::exists(path + ".damaged"));
  // Truncated (a crash of some other writer) and foreign (another version) are damage too.
  const std::string whole = owned_to_json(owned);
  for (const std::string& text :
       {whole.substr(0, whole.size() / 2), std::string(R"({"version": 2, "services": []})"),
        std::string(R"({"services": []})")}) {
    std::ofstream(path) << text;
    error.clear();
    CHECK(load_owned(path, error).empty());
    CHECK_FALSE(error.empty());
  }
  fs::remove_all(dir);
}
