// Half-open TCP checks: a SYN sent from a raw socket; a SYN-ACK that acknowledges it means the
// port listens, a RST means it does not. The kernel answers the SYN-ACK with a RST itself (no
// socket owns our end), so the backend drops its half-open connection at once and its
// application never sees the check. A connect() check passes and fails on exactly the same
// answers, but costs both ends a whole connection: at 10,000 checks a second on loopback,
// where both ends are ours, this costs the kernel about a third as much (docs/BENCHMARKS.md).
//
// Our source ports are reserved by binding ordinary TCP sockets to them (never listening),
// so no other socket of this host uses them and the kernel sends the RST. Sequence numbers
// are random: an off-path host must guess 32 bits to fake an answer. SYNs leave in batches
// (one sendmmsg per loop turn) and answers are read in batches, through a socket filter
// that passes only segments to our ports. Reads are paced (pacer.hpp): answers trickling in
// would otherwise wake the process for every one or two of them, which at 10,000 checks a
// second cost more than everything else the checker does; the kernel's receive timestamps
// keep the measured latency exact.
//
// One HalfOpen per io_context (an Asio service); everything runs on the loop thread.
#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "common/address.hpp"
#include "health/result.hpp"
#include "health/status.hpp"
#include "health/tcp_segment.hpp"

namespace l4lb::health::detail {

class HalfOpen : public boost::asio::execution_context::service {
 public:
  using key_type = HalfOpen;
  static inline boost::asio::execution_context::id id;

  explicit HalfOpen(boost::asio::execution_context& ctx);
  ~HalfOpen() override;

  static HalfOpen& of(boost::asio::io_context& io) {
    return boost::asio::use_service<HalfOpen>(io);
  }

  // Whether half-open checks of `family` can run here. The first call opens the raw socket
  // and reserves the ports; when that fails (no CAP_NET_RAW, say) it logs why once, and the
  // caller uses connect() instead.
  bool available(net::Family family);

  // `open`: a SYN-ACK; `refused`: a RST; `bad_source`: the configured source address is not
  // one the kernel lets us send from; `error`: the SYN could not be sent. `err` is the errno of
  // the last two. Never called for a SYN that got no answer: the caller's deadline covers that.
  // `latency` is from sending the first SYN to the answer's arrival, both stamped by the
  // kernel's clock, so it stays exact although answers are read in batches (see receive()).
  enum class Outcome { open, refused, bad_source, error };
  using Done = std::function<void(Outcome, int err, Micros latency)>;

  // The address a SYN is sent from, which its checksum covers: the check's configured
  // source, or the one the kernel's routing picks (routed_source()).
  struct From {
    net::Address address;
    bool configured = false;
  };

  // The source address the kernel's routing picks for `to` (two system calls, no packet);
  // nullopt with `err` set when there is no route.
  std::optional<net::Address> routed_source(const net::Address& to, int& err);

  // Sends a SYN to `to`:`port` from `from` with the SYNs of this loop turn. Returns the
  // probe's id, or 0 when every reserved port already has a probe to this destination in
  // flight. `done` runs later on the loop, never inside start(), unless forget(id) comes
  // first. Requires available(to.family()).
  std::uint64_t start(const net::Address& to, std::uint16_t port, From from, Done done);
  // Sends the SYN of probe `id` again (a retransmission: same port and sequence number).
  void resend(std::uint64_t id);
  // Drops probe `id` (finished elsewhere: timed out or cancelled).
  void forget(std::uint64_t id);

  using Stats = HalfOpenStats;
  const Stats& stats() const { return stats_; }
  std::size_t pending() const { return probes_.size(); }

 private:
  struct Lane;
  struct Key {
    net::Address to;
    std::uint16_t dport;
    std::uint16_t sport;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Probe {
    Key key;
    std::uint32_t seq;
    From from;
    Done done;
    std::int64_t sent_ns = 0;  // CLOCK_REALTIME of the first SYN, like the kernel's stamps
  };

  void shutdown() override;
  Lane& lane(net::Family f);
  bool open_lane(Lane& lane, net::Family f);
  void queue(std::uint64_t id);
  void flush();
  void flush(Lane& lane);
  void arm(Lane& lane);
  void drain(Lane& lane);
  void receive(Lane& lane);
  void complete(std::uint64_t id, Outcome outcome, int err, Micros latency = Micros{0});

  boost::asio::io_context& io_;
  std::unique_ptr<Lane> v4_;
  std::unique_ptr<Lane> v6_;
  std::unordered_map<std::uint64_t, Probe> probes_;
  std::unordered_map<Key, std::uint64_t, KeyHash> by_key_;
  std::uint64_t next_id_ = 1;
  bool flush_posted_ = false;
  std::mt19937 random_;
  Stats stats_;
};

}  // namespace l4lb::health::detail
