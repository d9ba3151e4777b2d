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
  for (const char* folded : {"services_fine", "services_awaiting_checks"})
    if (out.status.contains(folded)) out.status[folded] = json::array();
  if (status.contains("health")) out.status["health"] = std::move(health);
  for (const auto& n : names)
    if (!found.count(n) &&
        std::find(out.unknown.begin(), out.unknown.end(), n) == out.unknown.end())
      out.unknown.push_back(n);
  return out;
}

namespace {

std::size_t skip_space(std::string_view t, std::size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r')) ++i;
  return i;
}

// The end (one past) of the JSON value that starts at t[i], found by its brackets and
// strings alone (no parse); npos when the text ends first.
std::size_t value_end(std::string_view t, std::size_t i) {
  std::size_t depth = 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '"') {
      for (++i; i < t.size() && t[i] != '"'; i += t[i] == '\\' ? 2 : 1) {
      }
      if (i >= t.size()) return std::string_view::npos;
      if (depth == 0) return i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;  // the end of the enclosing container: a scalar ended
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && c == ',') {
      return i;
    }
  }
  return depth == 0 ? i : std::string_view::npos;
}

// Whether `element` may hold `value` as a string: its JSON text is there, or the element has
// escapes (which could spell it another way: "\u0064ns"). An empty name matches a missing one,
// as in filter_status.
bool contains_string(std::string_view element, const std::string& value) {
  return value.empty() || element.find('\\') != std::string_view::npos ||
         element.find(json(value).dump()) != std::string_view::npos;
}

}  // namespace

json parse_for_names(std::string_view text, const std::vector<std::string>& names) {
  // The top-level object's members are cut out by their brackets; vrrp, services and health
  // elements are parsed only when their text holds a name (or a named instance's VIP) as a
  // string, then checked on the parsed value. Anything unexpected: parse it all.
  auto whole = [&] { return json::parse(text, nullptr, false); };
  const std::set<std::string> wanted(names.begin(), names.end());
  std::set<std::string> vips;  // of the named instances, as vrrp[] goes by
  std::set<std::string> kept;  // services kept
  bool vrrp_seen = false, services_seen = false;
  json doc = json::object();
  std::size_t i = skip_space(text, 0);
  if (i >= text.size() || text[i] != '{') return whole();
  i = skip_space(text, i + 1);
  while (i < text.size() && text[i] != '}') {
    const std::size_t key_end = value_end(text, i);
    if (key_end == std::string_view::npos || text[i] != '"') return whole();
    const json key = json::parse(text.substr(i, key_end - i), nullptr, false);
    i = skip_space(text, key_end);
    if (!key.is_string() || i >= text.size() || text[i] != ':') return whole();
    i = skip_space(text, i + 1);
    const std::size_t end = value_end(text, i);
    if (end == std::string_view::npos) return whole();
    const std::string section = key.get<std::string>();
    if (doc.contains(section)) return whole();  // a repeated member: as the parser decides
    const std::string_view value = text.substr(i, end - i);
    if ((section == "vrrp" || section == "services" || section == "health") && !value.empty() &&
        value.front() == '[') {
      json kept_elements = json::array();
      std::size_t j = skip_space(value, 1);
      while (j < value.size() && value[j] != ']') {
        const std::size_t e = value_end(value, j);
        if (e == std::string_view::npos || e == j) return whole();  // no element here
        const std::string_view element = value.substr(j, e - j);
        bool maybe = false;
        if (section == "vrrp") {
          maybe = true;  // a few instances: parse them all
        } else if (section == "services") {
          for (const auto& n : wanted) maybe |= contains_string(element, n);
          for (const auto& v : vips) maybe |= contains_string(element, v);
          maybe |= !vrrp_seen;  // services before the instances: VIPs not known yet
        } else {
          maybe = !services_seen;
          for (const auto& n : kept) maybe |= contains_string(element, n);
        }
        if (maybe) {
          json parsed = json::parse(element, nullptr, false);
          if (parsed.is_discarded()) return whole();
          bool keep = true;
          if (section == "vrrp" && wanted.count(string_at(parsed, "name")))
            for (const auto& v : array_at(parsed, "vips"))
              if (v.is_string()) vips.insert(strip_prefix(v.get<std::string>()));
          if (section == "services") {
            const std::string name = string_at(parsed, "name");
            keep = !vrrp_seen || wanted.count(name) || vips.count(string_at(parsed, "vip"));
            if (keep) kept.insert(name);
          }
          if (section == "health")
            keep = !services_seen || kept.count(string_at(parsed, "service")) > 0;
          if (keep) kept_elements.push_back(std::move(parsed));
        }
        j = skip_space(value, e);
        if (j < value.size() && value[j] == ',') j = skip_space(value, j + 1);
      }
      if (section == "vrrp") vrrp_seen = true;
      if (section == "services") services_seen = true;
      doc[section] = std::move(kept_elements);
    } else {
      json parsed = json::parse(value, nullptr, false);
      if (parsed.is_discarded()) return whole();
      doc[section] = std::move(parsed);
    }
    i = skip_space(text, end);
    if (i < text.size() && text[i] == ',') i = skip_space(text, i + 1);
  }
  if (i >= text.size()) return whole();
  return doc;
}

std::vector<std::string> completion_names(const json& status, std::string_view what) {
  std::set<std::string> names;
  if (what == "instances") {
    for (const auto& i : array_at(status, "vrrp")) names.insert(string_at(i, "name"));
  } else if (what == "services") {
    for (const auto& s : array_at(status, "services")) names.insert(string_at(s, "name"));
    for (const char* folded : {"services_fine", "services_awaiting_checks"})
      for (const auto& n : array_at(status, folded))  // left out of a large summary
        if (n.is_string()) names.insert(n.get<std::string>());
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
