// Which VIPs this daemon added, kept in state_dir so that a restarted l4lbd (after a crash,
// when nothing removed them) recognises its own addresses: it keeps them while it becomes
// Master again and removes them as soon as another Master is seen, and it still never
// touches a VIP somebody else put on the interface.
#pragma once

#include <set>
#include <string>
#include <utility>

#include "common/address.hpp"

namespace l4lb::vrrp {

class VipRecord {
 public:
  // Without a path (no state_dir) nothing is persisted.
  void open(const std::string& path);
  bool contains(const std::string& ifname, const net::Prefix& p) const;
  void add(const std::string& ifname, const net::Prefix& p);
  void remove(const std::string& ifname, const net::Prefix& p);

 private:
  void save() const;
  std::string path_;
  std::set<std::pair<std::string, net::Prefix>> entries_;
};

}  // namespace l4lb::vrrp
