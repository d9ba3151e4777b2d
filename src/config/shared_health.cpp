#include "config/config.hpp"

namespace l4lb::config {

SharedHealth::SharedHealth() {
  // Never edited in place: edit() sees this handle is not the only owner and copies.
  static const std::shared_ptr<Health> defaults = std::make_shared<Health>();
  p_ = defaults;
}

Health& SharedHealth::edit() {
  if (p_.use_count() > 1) p_ = std::make_shared<Health>(*p_);
  return *p_;
}

}  // namespace l4lb::config
