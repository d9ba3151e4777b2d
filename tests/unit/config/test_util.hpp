// Helpers shared by the config tests.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace l4lb::config::test {

inline std::string source_dir() {
  if (const char* dir = std::getenv("L4LB_SOURCE_DIR")) return dir;
  return L4LB_DEFAULT_SOURCE_DIR;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string example_text() { return read_file(source_dir() + "/etc/l4lb.yaml"); }

// Every diagnostic of loading `yaml` as "t.yaml", one string each.
inline std::vector<std::string> diagnostics(std::string_view yaml) {
  std::vector<std::string> out;
  for (const auto& d : load_text(yaml, "t.yaml").diagnostics) out.push_back(d.to_string());
  return out;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// A small valid config the rule tests start from.
inline constexpr std::string_view kBase = R"(vrrp:
  - name: v4
    interface: eth1
    vrid: 51
    vips: [10.0.0.1/24]
services:
  - name: web
    vip: 10.0.0.1
    port: 80
    backends: [{address: 192.168.1.1}]
)";

}  // namespace l4lb::config::test
