// The namespace-wide IPVS settings: which timeouts to send (pure), and the sysctl writer
// against a real directory standing in for /proc/sys/net/ipv4/vs.
#include "ipvs/tuning.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "ipvs/fake_kernel.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/l4lb-tuning-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  void put(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
  std::string get(const std::string& name) const {
    std::ifstream in(path / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

config::IpvsTimeouts timeouts(std::optional<std::uint32_t> tcp, std::optional<std::uint32_t> fin,
                              std::optional<std::uint32_t> udp) {
  config::IpvsTimeouts t;
  t.tcp = tcp;
  t.tcpfin = fin;
  t.udp = udp;
  return t;
}

}  // namespace

TEST_CASE("timeouts_to_set: only configured values that differ, 0 for the rest") {
  const Timeouts kernel{900, 120, 300};
  CHECK_FALSE(timeouts_to_set({}, kernel));  // nothing configured: never touched
  CHECK_FALSE(timeouts_to_set(timeouts(900, 120, 300), kernel));
  CHECK(timeouts_to_set(timeouts(std::nullopt, std::nullopt, 30), kernel) == Timeouts{0, 0, 30});
  CHECK(timeouts_to_set(timeouts(3600, 120, 30), kernel) == Timeouts{3600, 0, 30});
  CHECK(timeouts_to_set(timeouts(900, 60, std::nullopt), kernel) == Timeouts{0, 60, 0});
}

TEST_CASE("parse_sysctl_value: one integer and a newline") {
  CHECK(parse_sysctl_value("1\n") == 1);
  CHECK(parse_sysctl_value("0") == 0);
  CHECK(parse_sysctl_value("-3\n") == -3);
  CHECK_FALSE(parse_sysctl_value(""));
  CHECK_FALSE(parse_sysctl_value("\n"));
  CHECK_FALSE(parse_sysctl_value("1 2\n"));
  CHECK_FALSE(parse_sysctl_value("on\n"));
  CHECK_FALSE(parse_sysctl_value("99999999999\n"));
}

TEST_CASE("apply_sysctls writes what differs, reads it back, and reports each failure") {
  TempDir d;
  d.put("conntrack", "0\n");
  d.put("expire_nodest_conn", "1\n");
  fs::create_directory(d.path / "expire_quiescent_template");  // cannot be written as a file
  const std::map<std::string, int> want{
      {"conntrack", 1}, {"expire_nodest_conn", 1}, {"expire_quiescent_template", 1}};
  auto out = apply_sysctls(want, d.path.string());
  REQUIRE(out.size() == 3);
  CHECK(out[0].name == "conntrack");
  CHECK(out[0].value == 1);
  CHECK(out[0].error.empty());
  CHECK(d.get("conntrack") == "1\n");
  CHECK(out[1].name == "expire_nodest_conn");
  CHECK(out[1].value == 1);
  CHECK(out[1].error.empty());
  CHECK(out[2].name == "expire_quiescent_template");
  CHECK_FALSE(out[2].value);
  CHECK(out[2].error.find("cannot write " + (d.path / "expire_quiescent_template").string()) == 0);

  // Read only: a value changed behind our back is reported, not rewritten.
  d.put("conntrack", "0\n");
  auto read = read_sysctls({{"conntrack", 1}}, d.path.string());
  REQUIRE(read.size() == 1);
  CHECK(read[0].value == 0);
  CHECK(read[0].error == (d.path / "conntrack").string() + " is 0, configured 1");
  CHECK(d.get("conntrack") == "0\n");

  // No IPVS in the namespace: the directory is missing.
  auto missing = apply_sysctls({{"conntrack", 1}}, (d.path / "nope").string());
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].error.find("module ip_vs not loaded?") != std::string::npos);
}

TEST_CASE("apply_tuning: timeouts through the kernel, only when configured and different") {
  TempDir d;
  d.put("conntrack", "0\n");
  FakeKernel k;
  config::Ipvs want;
  auto st = apply_tuning(want, &k, "unused", d.path.string());
  CHECK_FALSE(st.timeouts_configured);
  CHECK(k.set_timeouts_calls == 0);
  CHECK(st.sysctls.empty());
  CHECK(d.get("conntrack") == "0\n");

  want.timeouts.udp = 30;
  want.sysctls["conntrack"] = 1;
  st = apply_tuning(want, &k, "unused", d.path.string());
  CHECK(k.set_timeouts_calls == 1);
  CHECK(k.kernel_timeouts() == Timeouts{900, 120, 30});  // tcp and tcpfin untouched
  REQUIRE(st.timeouts);
  CHECK(*st.timeouts == Timeouts{900, 120, 30});
  CHECK(st.timeouts_error.empty());
  CHECK(d.get("conntrack") == "1\n");
  CHECK(describe(st) == "timeouts tcp 900s tcpfin 120s udp 30s, conntrack=1");

  st = apply_tuning(want, &k, "unused", d.path.string());  // already right: no request
  CHECK(k.set_timeouts_calls == 1);

  // Changed behind our back: read_tuning reports it, apply_tuning repairs it.
  k.kernel_timeouts().udp = 300;
  st = read_tuning(want, &k, "unused", d.path.string());
  CHECK(st.timeouts_error ==
        "the kernel's timeouts (tcp 900s tcpfin 120s udp 300s) are not the configured ones");
  st = apply_tuning(want, &k, "unused", d.path.string());
  CHECK(k.set_timeouts_calls == 2);
  CHECK(st.timeouts_error.empty());

  // The kernel refuses (beyond INT_MAX jiffies): the error is kept, sysctls still applied.
  want.timeouts.tcp = 4000000;
  d.put("conntrack", "0\n");
  st = apply_tuning(want, &k, "unused", d.path.string());
  CHECK(st.timeouts_error == "Invalid argument");
  CHECK_FALSE(st.timeouts);
  CHECK(d.get("conntrack") == "1\n");

  // No IPVS at all.
  st = apply_tuning(want, nullptr, "IPVS unavailable: module ip_vs not loaded", d.path.string());
  CHECK(st.timeouts_error == "IPVS unavailable: module ip_vs not loaded");
  CHECK(describe(st) == "timeouts unknown, conntrack=1");
}
