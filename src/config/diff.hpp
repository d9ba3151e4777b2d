// What changed between two valid configs, for the reload transaction.
// Pure. Items are matched by name (VRRP instances, services) and by address
// (backends inside a service).
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace l4lb::config {

enum class Change { added, removed, changed };

struct ItemChange {
  Change change;
  std::string name;                 // instance or service name; "service/backend" for backends
  std::vector<std::string> fields;  // for `changed`: which keys differ ("priority", "ports", ...)
};

struct ConfigDiff {
  std::vector<ItemChange> vrrp;
  std::vector<ItemChange> services;
  std::vector<ItemChange> backends;
  std::vector<std::string> global_fields;  // node_name, state_dir, control, metrics ...

  bool empty() const;
  std::vector<std::string> describe() const;  // one human line per change
};

// Removed items come in old-file order, then added and changed ones in new-file
// order. Backends are compared only inside services present in both configs (an
// added or removed service brings or takes all its backends); a backend whose port
// changes is a removal plus an addition. Positions in the file never count as a change.
ConfigDiff diff(const Config& old_config, const Config& new_config);

}  // namespace l4lb::config
