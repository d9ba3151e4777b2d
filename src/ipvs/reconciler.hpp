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

// One planned operation before it is made (24 bytes; an Operation is 128): it points at the
// entries of the tables it was planned from. Those tables must outlive it, and the entries it
// points at must not change until it is made. The plan worker makes its operations a batch at
// a time (Slicer), so a 90,000-operation plan never holds 90,000 Operations at once.
struct OpRef {
  Operation::Kind kind = Operation::Kind::add_service;
  const ServiceSettings* service = nullptr;
  const DestSettings* dest = nullptr;  // null for the service kinds
  Operation make() const {
    return dest ? Operation::on_dest(kind, *service, *dest) : Operation::on_service(kind, *service);
  }
};

struct RefPlan {
  std::vector<OpRef> ops;  // in reconcile()'s order
  std::vector<Conflict> conflicts;
};

// Order: add services, add destinations, edit services, edit destinations, delete
// destinations, delete services — so new capacity exists before old capacity leaves, and
// a setting change is always an edit (connections survive). A service in `current` but
// not in `owned` is never touched; if `desired` wants it, that is a conflict.
Plan reconcile(const Table& desired, const Table& current, const std::set<ServiceKey>& owned);
// The same plan, its operations not made: they point into `desired` and `current`. A
// del-dest or del-service points at `current`'s entry, which applying that very operation
// to the model removes; nothing else in the plan changes an entry another one points at.
RefPlan reconcile_refs(const Table& desired, const Table& current,
                       const std::set<ServiceKey>& owned);

}  // namespace l4lb::ipvs
