// The minimal, safely ordered list of operations that turns the kernel's table into the
// desired one, touching only services l4lbd owns. Pure.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "ipvs/operation.hpp"
#include "ipvs/table.hpp"

namespace l4lb::ipvs {

struct Conflict {
  ServiceKey key;
  std::string reason;
  std::string to_string() const;
};

struct Plan {
  std::vector<Operation> ops;
  std::vector<Conflict> conflicts;
};

// Order: add services, add destinations, edit services, edit destinations, delete
// destinations, delete services — so new capacity exists before old capacity leaves, and
// a setting change is always an edit (connections survive). A service in `current` but
// not in `owned` is never touched; if `desired` wants it, that is a conflict.
Plan reconcile(const Table& desired, const Table& current, const std::set<ServiceKey>& owned);

}  // namespace l4lb::ipvs
