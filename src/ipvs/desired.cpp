#include "ipvs/desired.hpp"

namespace l4lb::ipvs {

namespace {

Forward forward_of(config::Forward f) {
  switch (f) {
    case config::Forward::nat:
      return Forward::masq;
    case config::Forward::dr:
      return Forward::route;
    case config::Forward::tun:
      return Forward::tunnel;
  }
  return Forward::masq;
}

}  // namespace

ServiceKey service_key(const config::Service& s, std::uint16_t port) {
  if (s.fwmark) return ServiceKey::mark(s.vip.family(), *s.fwmark);
  return ServiceKey::inet(s.protocol == config::Protocol::udp ? Protocol::udp : Protocol::tcp,
                          s.vip, port);
}

std::uint16_t dest_port(const config::Service& s, const config::Backend& b, std::uint16_t port) {
  // 0 on a fwmark service's destination: IPVS keeps the port each connection was sent to.
  if (s.fwmark) return 0;
  return b.port.value_or(port);
}

Service service_settings(const config::Service& s, std::uint16_t port) {
  Service svc;
  svc.key = service_key(s, port);
  svc.scheduler = s.scheduler;
  svc.sh_fallback = s.sh_fallback;
  svc.sh_port = s.sh_port;
  svc.one_packet = s.one_packet;
  const auto ms = s.persistence.count();
  svc.persistent = ms > 0;
  // The kernel counts persistence in whole seconds; never round a short timeout to 0.
  svc.timeout = svc.persistent ? static_cast<std::uint32_t>((ms + 999) / 1000) : 0;
  const std::uint8_t host = s.vip.is_v4() ? 32 : 128;
  svc.netmask = svc.persistent ? s.persistence_netmask.value_or(host) : host;
  return svc;
}

Table desired_table(const std::vector<config::Service>& services, const BackendStateFn& state) {
  Table t;
  for (const auto& s : services) {
    for (std::uint16_t port : s.ports) {
      // A fwmark service is one IPVS service for all its ports: built once, from the first.
      if (s.fwmark && port != s.ports.front()) break;
      Service svc = service_settings(s, port);
      for (const auto& b : s.backends) {
        BackendState st = state ? state(s, port, b) : BackendState{};
        if (s.health->type == config::HealthType::none) st.health = Health::up;
        std::uint32_t weight = b.weight;
        bool present = true;
        switch (st.health) {
          case Health::up:
            break;
          case Health::down:
            if (s.on_failure == config::OnFailure::remove) present = false;
            weight = 0;
            break;
          case Health::unknown:
            if (s.wait_first_check) present = false;
            break;
        }
        if (!present) continue;
        if (st.drained) weight = 0;
        Destination d;
        d.address = b.address;
        d.port = dest_port(s, b, port);
        d.forward = forward_of(s.forward);
        d.weight = weight;
        d.upper_threshold = b.upper_threshold;
        d.lower_threshold = b.lower_threshold;
        svc.destinations[d.key()] = d;
      }
      t.services[svc.key] = std::move(svc);
    }
  }
  return t;
}

}  // namespace l4lb::ipvs
