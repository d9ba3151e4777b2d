#include "health/probe.hpp"

#include "health/probe_base.hpp"

namespace l4lb::health {

namespace detail {

boost::asio::ip::address to_asio(const net::Address& a) {
  if (a.is_v4()) {
    boost::asio::ip::address_v4::bytes_type b;
    std::copy(a.data(), a.data() + 4, b.begin());
    return boost::asio::ip::address_v4(b);
  }
  boost::asio::ip::address_v6::bytes_type b;
  std::copy(a.data(), a.data() + 16, b.begin());
  return boost::asio::ip::address_v6(b);
}

namespace {

class InvalidProbe : public ProbeBase<InvalidProbe> {
 public:
  using ProbeBase::ProbeBase;
  void start() { launch(); }
  void begin() { fail_later(reason::socket, "health type none has no probe"); }
  void close() {}
};

}  // namespace
}  // namespace detail

std::shared_ptr<Probe> start_probe(boost::asio::io_context& io, const CheckSpec& spec,
                                   ProbeDone done, std::shared_ptr<ProbeMemory> memory) {
  switch (spec.params->type) {
    case config::HealthType::tcp:
      return detail::start_tcp(io, spec, std::move(done), std::move(memory));
    case config::HealthType::udp:
      return detail::start_udp(io, spec, std::move(done));
    case config::HealthType::http:
      return detail::start_http(io, spec, std::move(done));
    case config::HealthType::none:
      break;
  }
  auto p = std::make_shared<detail::InvalidProbe>(io, spec, std::move(done));
  p->start();
  return p;
}

}  // namespace l4lb::health
