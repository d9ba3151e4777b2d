#include "ipvs/ownership.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/state_file.hpp"

namespace l4lb::ipvs {

using nlohmann::json;

// Written by hand rather than through a JSON DOM: the record is rewritten on every
// change of the owned set, and with 10,000 services the DOM cost ~0.5 s inside UML.
// Every value is a number or an address/name that needs no escaping.
std::string owned_to_json(const std::set<ServiceKey>& owned) {
  // Sized once (an entry is at most about 80 bytes): a buffer grown by doubling, then copied
  // into the string, touched three times the pages the record needs.
  std::string out;
  out.reserve(64 + owned.size() * 96);
  fmt::format_to(std::back_inserter(out), "{{\"version\": 1, \"services\": [");
  const char* sep = "\n ";
  for (const auto& k : owned) {
    if (k.protocol == Protocol::fwmark) {
      fmt::format_to(std::back_inserter(out), "{}{{\"fwmark\": {}, \"family\": \"{}\"}}", sep,
                     k.fwmark, net::family_name(k.family()));
    } else {
      fmt::format_to(std::back_inserter(out),
                     "{}{{\"protocol\": \"{}\", \"address\": \"{}\", \"port\": {}}}", sep,
                     to_string(k.protocol), k.address.to_string(), k.port);
    }
    sep = ",\n ";
  }
  fmt::format_to(std::back_inserter(out), "\n]}}\n");
  return out;
}

std::set<ServiceKey> owned_from_json(const std::string& text, std::string& error) {
  std::set<ServiceKey> out;
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("services") ||
      !doc["services"].is_array() || !doc.contains("version") || doc["version"] != 1) {
    error = "not a valid ownership record (expected {\"version\":1,\"services\":[...]})";
    return {};
  }
  for (const auto& e : doc["services"]) {
    if (!e.is_object()) {
      error = "ownership record: service entry is not an object";
      return {};
    }
    if (e.contains("fwmark")) {
      if (!e["fwmark"].is_number_unsigned() || !e.contains("family") || !e["family"].is_string()) {
        error = "ownership record: bad fwmark entry";
        return {};
      }
      const auto fam = e["family"].get<std::string>();
      if (fam != "ipv4" && fam != "ipv6") {
        error = "ownership record: bad family '" + fam + "'";
        return {};
      }
      out.insert(ServiceKey::mark(fam == "ipv4" ? net::Family::v4 : net::Family::v6,
                                  e["fwmark"].get<std::uint32_t>()));
      continue;
    }
    if (!e.contains("protocol") || !e["protocol"].is_string() || !e.contains("address") ||
        !e["address"].is_string() || !e.contains("port") || !e["port"].is_number_unsigned() ||
        e["port"].get<std::uint64_t>() > 65535) {
      error = "ownership record: bad service entry " + e.dump();
      return {};
    }
    const auto proto = e["protocol"].get<std::string>();
    auto addr = net::Address::parse(e["address"].get<std::string>());
    if ((proto != "tcp" && proto != "udp") || !addr) {
      error = "ownership record: bad service entry " + e.dump();
      return {};
    }
    out.insert(ServiceKey::inet(proto == "tcp" ? Protocol::tcp : Protocol::udp, *addr,
                                static_cast<std::uint16_t>(e["port"].get<std::uint64_t>())));
  }
  return out;
}

std::set<ServiceKey> load_owned(const std::string& path, std::string& error) {
  auto file = state_file::read(path);
  if (!file.error.empty()) {
    error = file.error;
    return {};
  }
  if (!file.text) return {};  // first start: nothing owned yet
  std::string e;
  auto owned = owned_from_json(*file.text, e);
  if (!e.empty()) {
    // Kept for inspection, and so that the next write does not erase the evidence.
    error = path + ": " + e + "; moved to " + state_file::set_aside(path);
    return {};
  }
  return owned;
}

bool save_owned(const std::string& path, const std::set<ServiceKey>& owned, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (auto e = state_file::write(path, owned_to_json(owned))) {
    error = *e;
    return false;
  }
  return true;
}

}  // namespace l4lb::ipvs
