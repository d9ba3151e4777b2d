#include "vrrp/machine.hpp"

#include <algorithm>

namespace l4lb::vrrp {

std::string_view to_string(State s) {
  switch (s) {
    case State::initialize:
      return "INITIALIZE";
    case State::backup:
      return "BACKUP";
    case State::master:
      return "MASTER";
    case State::fault:
      return "FAULT";
  }
  return "?";
}

Micros skew_time(int priority, std::uint16_t mai_cs) {
  // Integer centiseconds, as RFC 5798 §6.1 defines it (and FRR computes it). At a 10 ms
  // interval this is 0 for every priority: a Backup that hears priority 0 takes over at once.
  return Micros{std::int64_t{(256 - priority) * mai_cs / 256} * 10'000};
}

Micros master_down_interval(int priority, std::uint16_t mai_cs) {
  return Micros{std::int64_t{3} * mai_cs * 10'000} + skew_time(priority, mai_cs);
}

std::uint16_t to_centiseconds(Duration d) {
  auto cs = (d.count() + 5) / 10;
  return static_cast<std::uint16_t>(std::clamp<long long>(cs, 1, 4095));
}

Machine::Machine(MachineParams p)
    : p_(p), master_adver_interval_cs_(to_centiseconds(p.advert_interval)) {}

Micros Machine::advert_interval() const {
  return Micros{std::int64_t{to_centiseconds(p_.advert_interval)} * 10'000};
}

Micros Machine::master_down_interval() const {
  return vrrp::master_down_interval(p_.priority, master_adver_interval_cs_);
}

std::optional<net::Address> Machine::master_address() const {
  if (state_ == State::master) return p_.primary;
  if (state_ == State::backup) return master_;
  return std::nullopt;
}

void Machine::go(State to, Actions& a) {
  if (to == state_) return;
  a.transition = {a.transition ? a.transition->first : state_, to};
  if (a.transition->first == a.transition->second) a.transition.reset();
  state_ = to;
  ++transitions_;
}

void Machine::become_master(TimePoint now, Actions& a) {
  master_down_timer_.reset();
  preempt_hold_until_.reset();
  master_adver_interval_cs_ = to_centiseconds(p_.advert_interval);
  a.add_vips = true;
  a.send_advert = true;
  a.announce = true;
  adver_timer_ = now + advert_interval();
  go(State::master, a);
}

void Machine::become_backup(TimePoint now, Actions& a) {
  adver_timer_.reset();
  master_down_timer_ = now + master_down_interval();
  go(State::backup, a);
}

Actions Machine::start(TimePoint now) {
  Actions a;
  if (state_ != State::initialize) return a;
  if (fault_) {
    go(State::fault, a);
    return a;
  }
  if (p_.priority >= 255) {
    become_master(now, a);
  } else {
    master_adver_interval_cs_ = to_centiseconds(p_.advert_interval);
    master_.reset();
    become_backup(now, a);
  }
  return a;
}

// Leaving service (shutdown, Fault): a Master hands over at once with priority 0 and gives up
// its VIPs; every timer and what we knew of the Master is dropped.
void Machine::stand_down(State to, Actions& a) {
  if (state_ == State::master) {
    a.send_priority_zero = true;
    a.remove_vips = true;
  }
  adver_timer_.reset();
  master_down_timer_.reset();
  preempt_hold_until_.reset();
  master_.reset();
  go(to, a);
}

Actions Machine::shutdown(TimePoint) {
  Actions a;
  stand_down(State::initialize, a);
  return a;
}

Actions Machine::on_advert(std::uint8_t priority, std::uint16_t mai_cs, const net::Address& source,
                           TimePoint now) {
  Actions a;
  if (mai_cs == 0) mai_cs = 1;  // the codec drops these; never divide the world by zero
  if (state_ == State::backup) {
    if (priority == 0) {
      // The Master resigned: take over after Skew_Time only (§6.4.2).
      master_down_timer_ = now + skew_time(p_.priority, master_adver_interval_cs_);
      return a;
    }
    if (!p_.preempt || priority >= p_.priority) {
      master_adver_interval_cs_ = mai_cs;
      master_down_timer_ = now + master_down_interval();
      master_ = source;
      preempt_hold_until_.reset();
      return a;
    }
    // A lower-priority Master that we will preempt; preempt_delay holds us back for a while.
    if (p_.preempt_delay.count() > 0) {
      if (!preempt_hold_until_) preempt_hold_until_ = now + p_.preempt_delay;
      if (now < *preempt_hold_until_) {
        master_adver_interval_cs_ = mai_cs;
        master_ = source;
        master_down_timer_ = std::min(now + master_down_interval(), *preempt_hold_until_);
      }
    }
    return a;  // discarded (§6.4.2): Master_Down_Timer will fire
  }
  if (state_ == State::master) {
    if (priority == 0) {
      a.send_advert = true;
      adver_timer_ = now + advert_interval();
      return a;
    }
    if (priority > p_.priority || (priority == p_.priority && p_.primary < source)) {
      adver_timer_.reset();
      master_adver_interval_cs_ = mai_cs;
      master_ = source;
      a.remove_vips = true;
      master_down_timer_ = now + master_down_interval();
      go(State::backup, a);
    }
    return a;
  }
  return a;  // Initialize and Fault ignore adverts
}

Actions Machine::on_timer(TimePoint now) {
  Actions a;
  if (state_ == State::backup && master_down_timer_ && now >= *master_down_timer_) {
    become_master(now, a);
  } else if (state_ == State::master && adver_timer_ && now >= *adver_timer_) {
    a.send_advert = true;
    adver_timer_ = now + advert_interval();
  }
  return a;
}

Actions Machine::set_fault(bool fault, TimePoint now) {
  Actions a;
  if (fault == fault_) return a;
  fault_ = fault;
  if (fault) {
    if (state_ == State::initialize) return a;  // start() will enter Fault
    stand_down(State::fault, a);
    return a;
  }
  if (state_ != State::fault) return a;
  // Fault cleared: back through Initialize, as a fresh Startup.
  state_ = State::initialize;
  Actions s = start(now);
  s.transition = {State::fault, state_};
  return s;
}

Actions Machine::set_priority(int priority, TimePoint now) {
  Actions a;
  priority = std::clamp(priority, 1, 255);
  if (priority == p_.priority) return a;
  p_.priority = priority;
  if (state_ == State::master) {
    // Tell the Backups at once; one with a higher priority now preempts us.
    a.send_advert = true;
    adver_timer_ = now + advert_interval();
  }
  return a;
}

Actions Machine::update(const MachineParams& p, TimePoint now) {
  Actions a = set_priority(p.priority, now);
  bool interval_changed = p.advert_interval != p_.advert_interval;
  p_ = p;
  if (interval_changed && state_ == State::master) {
    master_adver_interval_cs_ = to_centiseconds(p_.advert_interval);
    a.send_advert = true;
    adver_timer_ = now + advert_interval();
  }
  return a;
}

std::optional<TimePoint> Machine::next_deadline() const {
  if (state_ == State::master) return adver_timer_;
  if (state_ == State::backup) return master_down_timer_;
  return std::nullopt;
}

}  // namespace l4lb::vrrp
