#include "vrrp/vip_record.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

using namespace l4lb;

TEST_CASE("VIP record survives a restart and ignores garbage") {
  auto dir = std::filesystem::temp_directory_path() / ("vrrp-rec-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "vrrp-vips").string();
  auto p1 = *net::Prefix::parse("10.0.0.100/24");
  auto p2 = *net::Prefix::parse("2001:db8::1/64");
  {
    vrrp::VipRecord r;
    r.open(path);
    CHECK_FALSE(r.contains("eth0", p1));
    r.add("eth0", p1);
    r.add("eth0", p2);
    r.flush();  // written in the background; flush waits for the disk
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "eth0 10.0.0.100/24\neth0 2001:db8::1/64\n");
    r.remove("eth0", p2);
  }  // what is pending is written when the record goes
  {
    vrrp::VipRecord r;
    r.open(path);
    CHECK(r.contains("eth0", p1));
    CHECK_FALSE(r.contains("eth1", p1));
    CHECK_FALSE(r.contains("eth0", p2));
  }
  std::ofstream(path, std::ios::app) << "eth0 not-an-address\njunk\n\neth1 10.0.0.7/32\n";
  vrrp::VipRecord r;
  r.open(path);
  CHECK(r.contains("eth0", p1));
  CHECK(r.contains("eth1", *net::Prefix::parse("10.0.0.7/32")));
  vrrp::VipRecord none;  // no state dir: works in memory, writes nothing
  none.open("");
  none.add("eth0", p1);
  CHECK(none.contains("eth0", p1));
  std::filesystem::remove_all(dir);
}
