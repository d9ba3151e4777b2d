// One run of one check against one backend: the I/O adapter under the Monitor.
// Asynchronous on the caller's io_context; the whole run is bounded by spec.timeout.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "health/result.hpp"
#include "health/spec.hpp"

namespace l4lb::health {

class Probe {
 public:
  virtual ~Probe() = default;
  // Stops the run: sockets close, and the completion callback is never called.
  virtual void cancel() = 0;
};

using ProbeDone = std::function<void(const ProbeResult&)>;

// What a check remembers between its runs, for its probes: the source address the kernel's
// routing picked for the target (a half-open TCP check builds its checksum over it). A
// probe that fails in a way a route change could explain forgets it.
struct ProbeMemory {
  std::optional<net::Address> routed_source;
};

// Starts a probe of the kind spec.params->type says (tcp, udp or http; `none` is a programming
// error and fails with reason "socket"). `done` is called exactly once, never from inside
// start_probe, unless cancel() comes first.
//
//   tcp:  connect; with `send`, write it; with `expect`, read until the stream's first
//         expect.size() bytes are known and compare (with expect_prefix off, further bytes in
//         the same reply make it a mismatch). Closed with RST, so a check leaves no TIME_WAIT
//         (10,000 checks a second would otherwise hold ~600,000 of them).
//   udp:  connected socket, send `send` as one datagram. With `expect`: the first reply
//         must match (exactly, or as prefix). Without `expect` (the weak check): up when no
//         ICMP error (ECONNREFUSED) arrives within the timeout, or on any reply — a silent
//         host that drops everything passes it, and so does a closed port whose ICMP
//         errors are rate-limited (Linux sends about one per second per destination after a
//         burst of 6, net.ipv4.icmp_ratelimit), e.g. when several such checks share a source
//         address. Prefer `expect` wherever the service can answer.
//   http: GET path with Host, via Boost.Beast; the status must be in expect_status; header
//         and body together may not exceed max_response_bytes ("too_large"); with
//         `expect`, the body must match it like tcp's. A never-ending body is cut by the
//         size limit or the timeout, whichever comes first.
// `memory` may be null (every run looks everything up afresh).
std::shared_ptr<Probe> start_probe(boost::asio::io_context& io, const CheckSpec& spec,
                                   ProbeDone done, std::shared_ptr<ProbeMemory> memory = nullptr);

}  // namespace l4lb::health
