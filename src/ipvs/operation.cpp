#include "ipvs/operation.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace l4lb::ipvs {

std::string_view to_string(Operation::Kind k) {
  switch (k) {
    case Operation::Kind::add_service:
      return "add-service";
    case Operation::Kind::edit_service:
      return "edit-service";
    case Operation::Kind::del_service:
      return "del-service";
    case Operation::Kind::add_dest:
      return "add-dest";
    case Operation::Kind::edit_dest:
      return "edit-dest";
    case Operation::Kind::del_dest:
      return "del-dest";
  }
  return "?";
}

std::string Operation::to_string() const {
  switch (kind) {
    case Kind::add_service:
    case Kind::edit_service:
      return fmt::format("{} {} {}", ipvs::to_string(kind), service.key.to_string(),
                         service.settings_string());
    case Kind::del_service:
      return fmt::format("{} {}", ipvs::to_string(kind), service.key.to_string());
    case Kind::add_dest:
    case Kind::edit_dest:
      return fmt::format("{} {} -> {}", ipvs::to_string(kind), service.key.to_string(),
                         dest.to_string());
    case Kind::del_dest:
      return fmt::format("{} {} -> {}", ipvs::to_string(kind), service.key.to_string(),
                         dest.address.with_port(dest.port));
  }
  return "?";
}

std::string explain_error(const Operation& op, int error) {
  using K = Operation::Kind;
  const bool svc = op.is_service_op();
  switch (error) {
    case ENOENT:
      // The kernel answers ENOENT for a scheduler it cannot find on add/edit service,
      // and for a missing destination on edit/del dest.
      if (op.kind == K::add_service || op.kind == K::edit_service) {
        return fmt::format(
            "scheduler '{}' not available in the kernel (module ip_vs_{} not loaded?)",
            op.service.scheduler, op.service.scheduler);
      }
      return "no such destination in the kernel";
    case ESRCH:
      return svc ? "no such virtual service in the kernel"
                 : "virtual service does not exist in the kernel";
    case EEXIST:
      return svc ? "virtual service already exists in the kernel (not created by l4lbd?)"
                 : "destination already exists in the kernel";
    case ERANGE:
      return "value out of range for the kernel (weight above 2147483647, or lower threshold above "
             "upper threshold)";
    case EINVAL:
      return svc ? "the kernel refused the service parameters (invalid)"
                 : "the kernel refused the destination (not a unicast address it can forward "
                   "to, e.g. broadcast or link-local, or another address family without tun)";
    case EPERM:
      return "no CAP_NET_ADMIN";
    case EAFNOSUPPORT:
      return "address family not supported by the kernel's IPVS";
    case EPROTONOSUPPORT:
      return "protocol not supported by the kernel's IPVS";
    case ENOMEM:
      return "the kernel is out of memory";
    default:
      return std::strerror(error);
  }
}

}  // namespace l4lb::ipvs
