// Operator drains (`l4lbctl drain BACKEND [--service NAME]`): weight 0 for maintenance.
// Kept across reloads (they are not config) and across restarts (saved in state_dir).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/address.hpp"

namespace l4lb::daemon {

class Drains {
 public:
  // An empty service name drains the backend in every service.
  bool add(const net::Address& backend, const std::string& service);     // false: already there
  bool remove(const net::Address& backend, const std::string& service);  // false: was not there
  bool is_drained(const std::string& service, const net::Address& backend) const;
  std::vector<std::pair<net::Address, std::string>> list() const;
  bool empty() const { return entries_.empty(); }

  std::string to_json() const;
  // Returns an error message on malformed input (the set is then left unchanged).
  std::optional<std::string> from_json(const std::string& text);

  // Load/save next to the IPVS ownership record; save is atomic (write + rename).
  std::optional<std::string> load(const std::string& state_dir);
  std::optional<std::string> save(const std::string& state_dir) const;

 private:
  std::set<std::pair<net::Address, std::string>> entries_;
};

}  // namespace l4lb::daemon
