// Which VIPs this daemon added, kept in state_dir so that a restarted l4lbd (after a crash,
// when nothing removed them) recognises its own addresses: it keeps them while it becomes
// Master again and removes them as soon as another Master is seen, and it still never
// touches a VIP somebody else put on the interface.
//
// The file is written in the background (common/state_writer.hpp): the VRRP thread never waits
// for the disk. A crash in the milliseconds between an add and its write leaves that VIP out
// of the record, and the next run then treats it as foreign (used, never removed), as a crash
// between the add and a synchronous write did, in a window a little wider.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/address.hpp"
#include "common/state_writer.hpp"

namespace l4lb::vrrp {

class VipRecord {
 public:
  // Without a path (no state_dir) nothing is persisted.
  void open(const std::string& path);
  bool contains(const std::string& ifname, const net::Prefix& p) const;
  void add(const std::string& ifname, const net::Prefix& p);
  void remove(const std::string& ifname, const net::Prefix& p);
  // Waits until the file holds every change made so far (shutdown).
  void flush();

 private:
  bool insert(const std::string& ifname, const net::Prefix& p);  // false: already there
  void save() const;
  std::string path_;
  std::unique_ptr<StateWriter> writer_;  // none without a path
  // Each entry with its line of the file, made once: the file is written whole at every
  // change, and formatting every address again made a takeover of 1,024 VIPs quadratic.
  std::map<std::pair<std::string, net::Prefix>, std::string> entries_;
  std::size_t text_bytes_ = 0;  // the lines' total length
};

}  // namespace l4lb::vrrp
