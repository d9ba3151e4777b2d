#include "ipvs/drift.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace l4lb::ipvs {

std::string_view to_string(DriftKind k) {
  switch (k) {
    case DriftKind::missing_service:
      return "missing_service";
    case DriftKind::missing_destination:
      return "missing_destination";
    case DriftKind::service_settings:
      return "service_settings";
    case DriftKind::destination_settings:
      return "destination_settings";
    case DriftKind::extra_destination:
      return "extra_destination";
  }
  return "unknown";
}

std::string DriftItem::to_string() const {
  return fmt::format("{} {}{}{}", ipvs::to_string(kind), service.to_string(),
                     detail.empty() ? "" : ": ", detail);
}

std::size_t Drift::count(DriftKind k) const {
  return static_cast<std::size_t>(
      std::count_if(items.begin(), items.end(), [k](const DriftItem& i) { return i.kind == k; }));
}

Drift detect_drift(const Table& model, const Table& kernel, const std::set<ServiceKey>& owned) {
  Drift drift;
  detect_drift_slice(model, kernel, owned, std::nullopt, owned.size(), drift);
  return drift;
}

std::optional<ServiceKey> detect_drift_slice(const Table& model, const Table& kernel,
                                             const std::set<ServiceKey>& owned,
                                             const std::optional<ServiceKey>& from,
                                             std::size_t max_services, Drift& drift) {
  auto add = [&](DriftKind k, const ServiceKey& key, std::string detail) {
    drift.items.push_back({k, key, std::move(detail)});
  };
  auto it = from ? owned.lower_bound(*from) : owned.begin();
  for (std::size_t n = 0; it != owned.end(); ++it, ++n) {
    if (n == max_services) return *it;
    const ServiceKey& key = *it;
    auto want = model.services.find(key);
    if (want == model.services.end()) continue;  // claimed, not (yet) created: nothing to miss
    auto have = kernel.services.find(key);
    if (have == kernel.services.end()) {
      add(DriftKind::missing_service, key, "");
      continue;
    }
    const Service& w = want->second;
    const Service& h = have->second;
    if (!w.same_settings(h))
      add(DriftKind::service_settings, key,
          fmt::format("{} -> {}", w.settings_string(), h.settings_string()));
    // Both maps are ordered by DestKey: one merge pass.
    auto wi = w.destinations.begin();
    auto hi = h.destinations.begin();
    while (wi != w.destinations.end() || hi != h.destinations.end()) {
      if (hi == h.destinations.end() || (wi != w.destinations.end() && wi->first < hi->first)) {
        add(DriftKind::missing_destination, key, wi->second.address.with_port(wi->second.port));
        ++wi;
      } else if (wi == w.destinations.end() || hi->first < wi->first) {
        add(DriftKind::extra_destination, key, hi->second.to_string());
        ++hi;
      } else {
        if (!wi->second.same_settings(hi->second))
          add(DriftKind::destination_settings, key,
              fmt::format("{} -> {}", wi->second.to_string(), hi->second.to_string()));
        ++wi;
        ++hi;
      }
    }
  }
  return std::nullopt;
}

std::chrono::milliseconds retry_backoff(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap) {
  if (attempt == 0) return std::chrono::milliseconds(0);
  std::chrono::milliseconds d = base;
  for (unsigned i = 1; i < attempt && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

}  // namespace l4lb::ipvs
