// The record of which virtual services l4lbd created (<state_dir>/ipvs-owned.json), so a
// restart adopts them instead of rebuilding, and never touches anyone else's.
#pragma once

#include <set>
#include <string>

#include "ipvs/table.hpp"

namespace l4lb::ipvs {

inline constexpr const char* kOwnedFileName = "ipvs-owned.json";

// A missing file is an empty set (first start). A malformed one is an error (`error`
// set, empty set returned): l4lbd then owns nothing and touches nothing it finds.
std::set<ServiceKey> load_owned(const std::string& path, std::string& error);
// Atomic: written to a temporary file in the same directory, fsync'd, renamed over.
bool save_owned(const std::string& path, const std::set<ServiceKey>& owned, std::string& error);

// JSON text form, exposed for tests.
std::string owned_to_json(const std::set<ServiceKey>& owned);
std::set<ServiceKey> owned_from_json(const std::string& text, std::string& error);

}  // namespace l4lb::ipvs
