// CPU scheduling of the event loop (config `realtime_priority`). The loop sends the VRRP
// adverts; on a node whose CPUs are busy with other processes, normal scheduling can delay it
// by tens of milliseconds (docs/BENCHMARKS.md, "VRRP timing under load"), longer than a short
// advert interval allows. SCHED_RR lets it preempt them. Only the loop thread: workers
// (rendering, reload parsing, dumps) and notify scripts run at normal scheduling.
#pragma once

#include <optional>
#include <string>

namespace l4lb::daemon {

// Puts the calling thread under SCHED_RR at `priority` (1-99), or back under SCHED_OTHER (0).
// SCHED_RESET_ON_FORK is set with SCHED_RR, so every thread and process created afterwards
// starts at normal scheduling. Returns an error message (errno and what to change) on failure.
std::optional<std::string> set_thread_scheduling(int priority);

// The calling thread's policy and priority as `SCHED_RR 10` or `SCHED_OTHER`.
std::string thread_scheduling();

}  // namespace l4lb::daemon
