#include "health/spec.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace l4lb::health {

const std::shared_ptr<const CheckParams>& default_params() {
  static const auto params = std::make_shared<const CheckParams>();
  return params;
}

std::string CheckSpec::target() const { return address.with_port(port); }

std::string CheckSpec::http_host() const {
  if (params && !params->host.empty()) return params->host;
  return address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
}

bool shares_check(const config::Service& service) {
  const config::Health& h = *service.health;
  if (h.port) return true;
  // One IPVS service for all ports: one check per backend decides it (the loader refuses
  // per_port: true with fwmark).
  if (service.fwmark) return true;
  if (h.per_port) return !*h.per_port;
  return service.ports.size() > kMaxPerPortChecks;
}

bool shares_check_by_size(const config::Service& service) {
  return !service.health->port && !service.health->per_port &&
         service.ports.size() > kMaxPerPortChecks;
}

BackendKey check_key(const config::Service& service, std::uint16_t service_port,
                     const config::Backend& backend) {
  const std::uint16_t port = shares_check(service) ? 0 : backend.port.value_or(service_port);
  return BackendKey{service.name, port, backend.address};
}

std::optional<CheckParams> make_params(const config::Service& service) {
  const config::Health& h = *service.health;
  if (h.type == config::HealthType::none) return std::nullopt;
  CheckParams p;
  p.type = h.type;
  p.source = h.source;
  p.interval = h.interval;
  p.timeout = h.timeout;
  p.rise = h.rise;
  p.fall = h.fall;
  p.send = h.send;
  p.expect = h.expect;
  p.expect_prefix = h.expect_prefix;
  p.handshake = h.handshake;
  if (p.type == config::HealthType::http) {
    p.path = h.path.empty() ? "/" : h.path;
    p.host = h.host;
    p.expect_status =
        h.expect_status.empty() ? std::vector<std::pair<int, int>>{{200, 399}} : h.expect_status;
    p.max_response_bytes = h.max_response_bytes;
  } else {
    p.path.clear();
    p.expect_status.clear();
    p.max_response_bytes = 0;
  }
  return p;
}

std::optional<CheckSpec> make_spec(const config::Service& service, std::uint16_t service_port,
                                   const config::Backend& backend,
                                   std::shared_ptr<const CheckParams> params) {
  const config::Health& h = *service.health;
  if (h.type == config::HealthType::none) return std::nullopt;
  CheckSpec s;
  s.address = h.address.value_or(backend.address);
  if (shares_check(service) && !service.ports.empty()) service_port = service.ports.front();
  if (h.port) {
    s.port = *h.port;
  } else if (backend.port) {
    s.port = *backend.port;
  } else if (service_port != 0) {
    s.port = service_port;
  } else {
    return std::nullopt;
  }
  s.params =
      params ? std::move(params) : std::make_shared<const CheckParams>(*make_params(service));
  return s;
}

CheckSpecs CheckSpecs::from_sorted(std::vector<Entry> entries) {
  assert(std::adjacent_find(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
           return !(a.first < b.first);
         }) == entries.end());
  CheckSpecs out;
  out.entries_ = std::move(entries);
  return out;
}

const CheckSpec* CheckSpecs::find(const BackendKey& key) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const Entry& e, const BackendKey& k) { return e.first < k; });
  return it != entries_.end() && it->first == key ? &it->second : nullptr;
}

const CheckSpec& CheckSpecs::at(const BackendKey& key) const {
  if (const CheckSpec* spec = find(key)) return *spec;
  throw std::out_of_range("no check " + key.service + " " + key.address.with_port(key.port));
}

namespace {

bool by_key(const CheckSpecs::Entry& a, const CheckSpecs::Entry& b) { return a.first < b.first; }
bool same_key(const CheckSpecs::Entry& a, const CheckSpecs::Entry& b) { return a.first == b.first; }

// The most checks `svc` can ask for (before duplicates are dropped).
std::size_t most_checks(const config::Service& svc) {
  return (shares_check(svc) ? std::min<std::size_t>(1, svc.ports.size()) : svc.ports.size()) *
         svc.backends.size();
}

// Appends the checks of one service to `out`, in key order, each key once (its first entry).
// `last` is the previous service's parameters, shared when equal.
void append_service_specs(const config::Service& svc, std::vector<CheckSpecs::Entry>& out,
                          std::shared_ptr<const CheckParams>& last) {
  if (svc.health->type == config::HealthType::none || svc.ports.empty()) return;
  auto params = make_params(svc);
  if (!last || !(*last == *params)) last = std::make_shared<const CheckParams>(std::move(*params));
  const std::size_t first = out.size();
  // A shared check is the same for every port: look at the first one only.
  const std::size_t ports = shares_check(svc) ? 1 : svc.ports.size();
  for (std::size_t i = 0; i < ports; ++i)
    for (const auto& b : svc.backends)
      if (auto spec = make_spec(svc, svc.ports[i], b, last))
        out.emplace_back(check_key(svc, svc.ports[i], b), std::move(*spec));
  // Keys carry the service's name, and names are unique: a key can repeat only within one
  // service. Keep the first of each (a stable sort of the service's few entries).
  auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
  if (!std::is_sorted(begin, out.end(), by_key)) std::stable_sort(begin, out.end(), by_key);
  out.erase(std::unique(begin, out.end(), same_key), out.end());
}

// The services in name order (names are unique).
std::vector<const config::Service*> by_name(const std::vector<config::Service>& services) {
  std::vector<const config::Service*> out;
  out.reserve(services.size());
  for (const auto& s : services) out.push_back(&s);
  auto less = [](const config::Service* a, const config::Service* b) { return a->name < b->name; };
  if (!std::is_sorted(out.begin(), out.end(), less)) std::sort(out.begin(), out.end(), less);
  return out;
}

// Walks two lists of entries in key order side by side: removed(old) for a key only in `olds`,
// added(young) for a key only in `youngs`, both(old, young) for a key in both, in key order.
template <typename Olds, typename Youngs, typename Removed, typename Added, typename Both>
void merge_by_key(Olds& olds, Youngs& youngs, Removed removed, Added added, Both both) {
  auto x = olds.begin();
  auto y = youngs.begin();
  while (x != olds.end() || y != youngs.end()) {
    if (y == youngs.end() || (x != olds.end() && x->first < y->first))
      removed(*x++);
    else if (x == olds.end() || y->first < x->first)
      added(*y++);
    else
      both(*x++, *y++);
  }
}

// A key in both lists: a change when the parameters differ (the next entry is moved out).
void note_changed(CheckChanges& out, const CheckSpecs::Entry& old, CheckSpecs::Entry& young) {
  if (!(old.second == young.second)) out.changed.push_back(std::move(young));
}

}  // namespace

CheckSpecs make_specs(const std::vector<config::Service>& services) {
  std::size_t most = 0;
  for (const auto& svc : services) most += most_checks(svc);
  std::vector<CheckSpecs::Entry> out;
  out.reserve(most);                        // one allocation, at the most it can take
  std::shared_ptr<const CheckParams> last;  // the previous service's: usually equal
  for (const auto& svc : services) append_service_specs(svc, out, last);
  // Services are usually listed in name order already; otherwise one sort of distinct keys.
  if (!std::is_sorted(out.begin(), out.end(), by_key)) std::sort(out.begin(), out.end(), by_key);
  return CheckSpecs::from_sorted(std::move(out));
}

CheckChanges diff_checks(const std::vector<config::Service>& from,
                         const std::vector<config::Service>& to) {
  const auto a = by_name(from), b = by_name(to);
  // Room for the most each list can take: reserved, not touched, so not resident beyond what
  // is written (each list is one mapping of its own above 128 KiB).
  std::size_t removed_most = 0, added_most = 0, changed_most = 0;
  for (const auto* s : a) removed_most += most_checks(*s);
  for (const auto* s : b) added_most += most_checks(*s);
  changed_most = std::min(removed_most, added_most);
  CheckChanges out;
  out.removed.reserve(removed_most);
  out.added.reserve(added_most);
  out.changed.reserve(changed_most);
  std::vector<CheckSpecs::Entry> old_checks, new_checks;  // one service's, reused
  std::shared_ptr<const CheckParams> last_old, last_new;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    old_checks.clear();
    new_checks.clear();
    // Service names order the keys, so walking the services in name order emits every list in
    // key order.
    const int order = i == a.size() ? 1 : j == b.size() ? -1 : a[i]->name.compare(b[j]->name);
    if (order <= 0) append_service_specs(*a[i++], old_checks, last_old);
    if (order >= 0) append_service_specs(*b[j++], new_checks, last_new);
    merge_by_key(
        old_checks, new_checks, [&](auto& old) { out.removed.push_back(std::move(old.first)); },
        [&](auto& young) { out.added.push_back(std::move(young)); },
        [&](auto& old, auto& young) { note_changed(out, old, young); });
  }
  return out;
}

std::uint64_t key_hash(const BackendKey& key) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::uint8_t byte) {
    h ^= byte;
    h *= 1099511628211ull;
  };
  for (char c : key.service) mix(static_cast<std::uint8_t>(c));
  mix(0);  // separator: ("ab", x) and ("a", "b"+x) must differ
  mix(static_cast<std::uint8_t>(key.port >> 8));
  mix(static_cast<std::uint8_t>(key.port & 0xff));
  mix(static_cast<std::uint8_t>(key.address.family()));
  for (std::size_t i = 0; i < key.address.size(); ++i) mix(key.address.data()[i]);
  // Final avalanche (splitmix64) so that addresses differing in the last byte spread out.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

Duration start_offset(const BackendKey& key, Duration interval) {
  if (interval.count() <= 0) return Duration{0};
  return Duration{
      static_cast<Duration::rep>(key_hash(key) % static_cast<std::uint64_t>(interval.count()))};
}

TimePoint next_start(TimePoint previous_start, TimePoint finished, Duration interval) {
  if (interval.count() <= 0) interval = Duration{1};
  TimePoint next = previous_start + interval;
  if (next >= finished) return next;
  // Overran: the first slot on the original grid after `finished`.
  const auto behind = finished - previous_start;
  const auto slots = (behind + interval - Clock::duration{1}) / interval;
  return previous_start + slots * interval;
}

CheckChanges diff_specs(const CheckSpecs& from, CheckSpecs to_specs) {
  // Two passes: the first counts, so that the removed and changed lists are allocated once at
  // their size; the second moves the added entries to the front of `to`'s own array, which
  // becomes the added list (no second array of them beside it: at start every check is added).
  std::vector<CheckSpecs::Entry> to = std::move(to_specs).release();
  std::size_t removed = 0, changed = 0;
  merge_by_key(
      from, to, [&](const auto&) { ++removed; }, [](const auto&) {},
      [&](const auto& old, const auto& young) { changed += !(old.second == young.second); });
  CheckChanges out;
  out.removed.reserve(removed);
  out.changed.reserve(changed);
  auto kept = to.begin();  // the end of the added entries moved so far
  merge_by_key(
      from, to, [&](const auto& old) { out.removed.push_back(old.first); },
      [&](auto& young) {
        if (&*kept != &young) *kept = std::move(young);
        ++kept;
      },
      [&](const auto& old, auto& young) { note_changed(out, old, young); });
  to.erase(kept, to.end());
  // A reload that adds few checks to many keeps a small list, not the whole array.
  if (to.size() < to.capacity() / 2) to.shrink_to_fit();
  out.added = std::move(to);
  return out;
}

}  // namespace l4lb::health
