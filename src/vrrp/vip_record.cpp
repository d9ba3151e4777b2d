#include "vrrp/vip_record.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/log.hpp"

namespace l4lb::vrrp {

void VipRecord::open(const std::string& path) {
  path_ = path;
  entries_.clear();
  std::ifstream in(path_);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream words(line);
    std::string ifname, prefix;
    if (!(words >> ifname >> prefix)) continue;
    auto p = net::Prefix::parse(prefix);
    if (!p) {
      log::warning("{}:{}: ignoring unreadable VIP record line", path_, n);
      continue;
    }
    entries_.emplace(ifname, *p);
  }
}

bool VipRecord::contains(const std::string& ifname, const net::Prefix& p) const {
  return entries_.count({ifname, p}) > 0;
}

void VipRecord::add(const std::string& ifname, const net::Prefix& p) {
  if (entries_.emplace(ifname, p).second) save();
}

void VipRecord::remove(const std::string& ifname, const net::Prefix& p) {
  if (entries_.erase({ifname, p})) save();
}

void VipRecord::save() const {
  if (path_.empty()) return;
  // A few lines on the state dir (tmpfs under /run): written whole, then renamed into place.
  std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& [ifname, p] : entries_) out << ifname << ' ' << p.to_string() << '\n';
    if (!out) {
      log::warning("cannot write {}: VIP ownership not recorded", tmp);
      return;
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0)
    log::warning("cannot rename {}: VIP ownership not recorded", tmp);
}

}  // namespace l4lb::vrrp
