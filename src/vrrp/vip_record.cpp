#include "vrrp/vip_record.hpp"

#include <sstream>

#include "common/log.hpp"
#include "common/state_file.hpp"

namespace l4lb::vrrp {

void VipRecord::open(const std::string& path) {
  writer_.reset();  // what the previous file still had pending is written first
  path_ = path;
  entries_.clear();
  text_bytes_ = 0;
  if (!path_.empty()) writer_ = std::make_unique<StateWriter>(path_, "VIP ownership");
  auto file = state_file::read(path_);
  if (!file.error.empty()) {
    // Without the record a VIP left by a crash looks foreign: it is used but never removed.
    log::warning("VIP record unreadable ({}); VIPs already on the interfaces count as foreign",
                 file.error);
    return;
  }
  if (!file.text) return;
  std::istringstream in(*file.text);
  std::string line;
  int n = 0, bad = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream words(line);
    std::string ifname, prefix, extra;
    auto p = (words >> ifname >> prefix) ? net::Prefix::parse(prefix) : std::nullopt;
    if (!p || (words >> extra)) {
      ++bad;
      log::warning("{}:{}: ignoring unreadable VIP record line", path_, n);
      continue;
    }
    insert(ifname, *p);
  }
  if (bad > 0 && entries_.empty())
    log::warning("{}: moved to {}", path_, state_file::set_aside(path_));
}

bool VipRecord::insert(const std::string& ifname, const net::Prefix& p) {
  auto [it, added] = entries_.try_emplace({ifname, p});
  if (!added) return false;
  it->second = ifname + ' ' + p.to_string() + '\n';
  text_bytes_ += it->second.size();
  return true;
}

bool VipRecord::contains(const std::string& ifname, const net::Prefix& p) const {
  return entries_.count({ifname, p}) > 0;
}

void VipRecord::add(const std::string& ifname, const net::Prefix& p) {
  if (insert(ifname, p)) save();
}

void VipRecord::remove(const std::string& ifname, const net::Prefix& p) {
  auto it = entries_.find({ifname, p});
  if (it == entries_.end()) return;
  text_bytes_ -= it->second.size();
  entries_.erase(it);
  save();
}

void VipRecord::flush() {
  if (writer_) writer_->flush();
}

void VipRecord::save() const {
  if (!writer_) return;
  std::string text;
  text.reserve(text_bytes_);
  for (const auto& [key, line] : entries_) text += line;
  writer_->write(std::move(text));
}

}  // namespace l4lb::vrrp
