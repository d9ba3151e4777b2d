#include "ctl/filter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace l4lb::ctl {
namespace {

using nlohmann::json;

const json& array_at(const json& doc, const char* key) {
  static const json empty = json::array();
  if (!doc.is_object()) return empty;
  auto it = doc.find(key);
  return it != doc.end() && it->is_array() ? *it : empty;
}

std::string string_at(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "10.0.0.1/24" -> "10.0.0.1": services name their VIP without a prefix length.
std::string strip_prefix(const std::string& vip) { return vip.substr(0, vip.find('/')); }

}  // namespace

FilteredStatus filter_status(const json& status, const std::vector<std::string>& names) {
  FilteredStatus out{status, {}};
  if (names.empty() || !status.is_object()) return out;
  const std::set<std::string> wanted(names.begin(), names.end());
  std::set<std::string> found;

  json instances = json::array();
  std::set<std::string> instance_vips;
  for (const auto& i : array_at(status, "vrrp")) {
    const std::string name = string_at(i, "name");
    if (!wanted.count(name)) continue;
    found.insert(name);
    instances.push_back(i);
    for (const auto& v : array_at(i, "vips"))
      if (v.is_string()) instance_vips.insert(strip_prefix(v.get<std::string>()));
  }

  json services = json::array();
  std::set<std::string> kept_services;
  for (const auto& s : array_at(status, "services")) {
    const std::string name = string_at(s, "name");
    const bool named = wanted.count(name) > 0;
    if (named) found.insert(name);
    if (named || instance_vips.count(string_at(s, "vip"))) {
      services.push_back(s);
      kept_services.insert(name);
    }
  }

  json health = json::array();
  for (const auto& h : array_at(status, "health"))
    if (kept_services.count(string_at(h, "service"))) health.push_back(h);

  out.status["vrrp"] = std::move(instances);
  out.status["services"] = std::move(services);
  if (status.contains("health")) out.status["health"] = std::move(health);
  for (const auto& n : names)
    if (!found.count(n) &&
        std::find(out.unknown.begin(), out.unknown.end(), n) == out.unknown.end())
      out.unknown.push_back(n);
  return out;
}

std::vector<std::string> completion_names(const json& status, std::string_view what) {
  std::set<std::string> names;
  if (what == "instances") {
    for (const auto& i : array_at(status, "vrrp")) names.insert(string_at(i, "name"));
  } else if (what == "services") {
    for (const auto& s : array_at(status, "services")) names.insert(string_at(s, "name"));
  } else if (what == "backends") {
    for (const auto& s : array_at(status, "services"))
      for (const auto& b : array_at(s, "backends")) names.insert(string_at(b, "address"));
  }
  names.erase("");
  return {names.begin(), names.end()};
}

WatchArg parse_watch_arg(const std::string& word) {
  WatchArg out;
  if (word.empty()) return out;
  char* end = nullptr;
  const double v = std::strtod(word.c_str(), &end);
  if (end == word.c_str() || *end != '\0') {
    out.name = word;
    return out;
  }
  if (!(v >= 0.1 && v <= 86400) || !std::isfinite(v))
    out.error = "--watch: SECONDS must be between 0.1 and 86400, not '" + word + "'";
  else
    out.seconds = v;
  return out;
}

}  // namespace l4lb::ctl
