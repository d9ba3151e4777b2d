// The VRRPv3 state machine of one virtual router for one address family (RFC 5798 §6.4),
// plus Fault. Pure: it is handed events and `now`, and returns what the caller must do.
// It never reads a clock; next_deadline() tells the caller when to call on_timer().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/address.hpp"
#include "common/time.hpp"

namespace l4lb::vrrp {

enum class State { initialize, backup, master, fault };
std::string_view to_string(State s);

using Micros = std::chrono::microseconds;

struct MachineParams {
  std::uint8_t vrid = 1;
  int priority = 100;  // effective priority 1..255 (255: address owner)
  Duration advert_interval{1000};
  bool preempt = true;
  Duration preempt_delay{0};
  bool accept_mode = false;  // reported; see runtime for what it governs
  net::Address primary;      // our primary address (tie-break, advert source)
};

// Everything the caller must carry out after an event, in this order:
// transition hook, leave (send priority 0 first if set, then remove VIPs),
// enter (add VIPs, then advert, then announcements), plain advert.
struct Actions {
  std::optional<std::pair<State, State>> transition;
  bool send_advert = false;         // with the current effective priority
  bool send_priority_zero = false;  // resign as Master (shutdown, fault)
  bool add_vips = false;
  bool remove_vips = false;
  bool announce = false;  // gratuitous ARP / unsolicited NA burst
  bool any() const {
    return transition || send_advert || send_priority_zero || add_vips || remove_vips || announce;
  }
};

// RFC 5798 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, in (integer)
// centiseconds; Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
Micros skew_time(int priority, std::uint16_t master_adver_interval_cs);
Micros master_down_interval(int priority, std::uint16_t master_adver_interval_cs);
std::uint16_t to_centiseconds(Duration d);  // rounded, clamped to 1..4095

class Machine {
 public:
  explicit Machine(MachineParams p);

  // Initialize --Startup--> Master (owner) or Backup. No-op unless in Initialize.
  Actions start(TimePoint now);
  // Any state --Shutdown--> Initialize; a Master resigns with priority 0.
  Actions shutdown(TimePoint now);
  // An advert that passed the codec and instance checks; `source` is the sender's primary.
  Actions on_advert(std::uint8_t priority, std::uint16_t max_adver_int_cs,
                    const net::Address& source, TimePoint now);
  // Fires whichever of this machine's timers are due at `now`.
  Actions on_timer(TimePoint now);
  // Interface (or an untracked-weight tracked interface) down/up.
  Actions set_fault(bool fault, TimePoint now);
  // Effective priority change from tracking; applies at once.
  Actions set_priority(int priority, TimePoint now);
  // In-place parameter changes (interval, preempt, delay, accept, primary, priority).
  Actions update(const MachineParams& p, TimePoint now);

  std::optional<TimePoint> next_deadline() const;

  State state() const { return state_; }
  const MachineParams& params() const { return p_; }
  std::uint16_t master_adver_interval_cs() const { return master_adver_interval_cs_; }
  Micros master_down_interval() const;
  // The Master as seen from here: ourselves in Master, the last accepted sender in Backup.
  std::optional<net::Address> master_address() const;
  std::uint64_t transitions() const { return transitions_; }

 private:
  void go(State to, Actions& a);
  void stand_down(State to, Actions& a);
  void become_master(TimePoint now, Actions& a);
  void become_backup(TimePoint now, Actions& a);
  Micros advert_interval() const;

  MachineParams p_;
  State state_ = State::initialize;
  bool fault_ = false;
  std::uint16_t master_adver_interval_cs_;
  std::optional<TimePoint> adver_timer_;
  std::optional<TimePoint> master_down_timer_;
  // preempt_delay: when we first saw a lower-priority Master we would preempt.
  std::optional<TimePoint> preempt_hold_until_;
  std::optional<net::Address> master_;
  std::uint64_t transitions_ = 0;
};

}  // namespace l4lb::vrrp
