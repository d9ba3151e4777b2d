#include "daemon/drains.hpp"

#include <nlohmann/json.hpp>

#include "common/state_file.hpp"

namespace l4lb::daemon {

bool Drains::add(const net::Address& backend, const std::string& service) {
  return entries_.emplace(backend, service).second;
}

bool Drains::remove(const net::Address& backend, const std::string& service) {
  return entries_.erase({backend, service}) > 0;
}

bool Drains::is_drained(const std::string& service, const net::Address& backend) const {
  return entries_.count({backend, std::string{}}) > 0 || entries_.count({backend, service}) > 0;
}

std::vector<std::pair<net::Address, std::string>> Drains::list() const {
  return {entries_.begin(), entries_.end()};
}

std::string Drains::to_json() const {
  auto arr = nlohmann::json::array();
  for (const auto& [address, service] : entries_)
    arr.push_back({{"backend", address.to_string()}, {"service", service}});
  return nlohmann::json{{"drains", arr}}.dump(2) + "\n";
}

std::optional<std::string> Drains::from_json(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("drains") ||
      !doc["drains"].is_array())
    return "not a drains document";
  decltype(entries_) parsed;
  for (const auto& entry : doc["drains"]) {
    if (!entry.is_object() || !entry.contains("backend") || !entry["backend"].is_string())
      return "drain entry without a backend";
    auto address = net::Address::parse(entry["backend"].get<std::string>());
    if (!address) return "drain entry with a malformed address";
    std::string service;
    if (entry.contains("service") && entry["service"].is_string())
      service = entry["service"].get<std::string>();
    parsed.emplace(*address, service);
  }
  entries_ = std::move(parsed);
  return std::nullopt;
}

std::optional<std::string> Drains::load(const std::string& state_dir) {
  const std::string path = state_dir + "/drains.json";
  auto file = state_file::read(path);
  if (!file.error.empty()) return file.error;
  if (!file.text) return std::nullopt;  // no drains saved yet
  if (auto error = from_json(*file.text))
    return path + ": " + *error + "; moved to " + state_file::set_aside(path);
  return std::nullopt;
}

std::optional<std::string> Drains::save(const std::string& state_dir) const {
  return state_file::write(state_dir + "/drains.json", to_json());
}

}  // namespace l4lb::daemon
