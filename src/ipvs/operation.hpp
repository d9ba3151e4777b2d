// One IPVS change: exactly one netlink message. The reconciler produces them, kernels
// apply them, and results refer back to them.
#pragma once

#include <string>
#include <vector>

#include "ipvs/table.hpp"

namespace l4lb::ipvs {

// Light on purpose: a full reconcile of a large table creates one per destination.
struct Operation {
  enum class Kind { add_service, edit_service, del_service, add_dest, edit_dest, del_dest };
  Kind kind = Kind::add_service;
  ServiceSettings service;
  DestSettings dest;  // for the *_dest kinds

  static Operation on_service(Kind k, const ServiceSettings& s) { return {k, s, {}}; }
  static Operation on_dest(Kind k, const ServiceSettings& s, const DestSettings& d) {
    return {k, s, d};
  }
  bool is_service_op() const {
    return kind == Kind::add_service || kind == Kind::edit_service || kind == Kind::del_service;
  }
  // "add-service tcp 10.0.0.1:80 rr", "edit-dest tcp 10.0.0.1:80 -> 10.1.0.1:8080 masq weight 0"
  std::string to_string() const;
};

std::string_view to_string(Operation::Kind k);

// An operation the kernel did not apply. A batch's answer lists only these: a plan of 90,000
// operations that all succeed allocates nothing for its answers (one result per operation was
// 160 KB a 4,096-operation piece, a fresh mapping faulted in at every piece).
struct OpFailure {
  std::size_t index = 0;  // into the operations sent
  int error = 0;          // a positive errno from the kernel; EIO: no answer, outcome unknown
  std::string message;    // the refusal in the operator's words
};

// What the kernel refusal means for this operation, in the operator's words.
std::string explain_error(const Operation& op, int error);

}  // namespace l4lb::ipvs
