// How l4lbd sets up its allocator before any thread starts, and gives memory back.
//
// l4lbd is linked with jemalloc (CMake's L4LB_JEMALLOC, on by default; off under the
// sanitizers), with the settings of jemalloc_conf.cpp. Why: glibc's malloc gives back only
// the free memory at an arena's top. A reload is hundreds of thousands of small blocks made
// beside the config it replaces; once it is done most of them are free, in holes under
// blocks still alive, and stay resident. malloc_trim(0) would give the holes back, but it
// walks and madvises every arena while holding its lock, the loop's included: 20-94 ms of CPU
// a call on a VM where madvise is dear, the loop up to 157 ms late (docs/BENCHMARKS.md, "Stop
// 19"), so it ran only once reloads had settled. jemalloc gives back freed pages wherever they
// are, from a thread of its own, within a second of their being freed. Measured in the
// stability bench's reload storm (10,000 <-> 15,000 services x 8, reloads every 5 s, status
// and scrapes; docs/BENCHMARKS.md, "Stop 22"), interleaved runs of one commit: 90-94 MiB at
// 10,000 services with glibc, 69-75 MiB with jemalloc so set; after the storm 84-86 against
// 68-71 MiB. Preloaded with its defaults (10 s decays, MADV_FREE, 8 arenas) it did worse
// than glibc (stop 19): the settings are the point.
//
// Without jemalloc (glibc), tune_allocator() gives every allocation of 128 KiB or more a
// mapping of its own, returned to the system when freed. Why: the large transient buffers (a
// status reply or a /metrics text of tens of MiB, an IPVS dump, a snapshot's check list) would
// otherwise be carved from the arenas once glibc's dynamic threshold has risen (it grows to
// 32 MiB after the first large free), and the arena keeps the peak as resident memory.

#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace l4lb::daemon {

// Returns the warning to log when the allocator could not be set up so, else nothing.
const char* tune_allocator();

// "jemalloc 5.3.0-0-g..." or "glibc malloc", for the start-up log.
std::string allocator_name();

// What the allocator holds against what is in use: the difference between the process's
// resident size and `allocated_bytes` is the allocator's keeping (free pages not given back
// yet, partly used pages, its own metadata) plus what it does not see (the mapped files, the
// check nodes' pool, the threads' stacks). Read by the render worker for each status and
// scrape (a few microseconds).
struct AllocatorStats {
  std::uint64_t allocated_bytes = 0;  // in blocks the daemon has allocated and not freed
  std::uint64_t resident_bytes = 0;   // the allocator's pages in memory, its metadata included
};
// With jemalloc only (its "stats.allocated" and "stats.resident", refreshed); nothing with
// glibc, whose own figures (mallinfo2) lock every arena to add them up.
std::optional<AllocatorStats> allocator_stats();

// From now on the calling thread allocates from a jemalloc arena of its own, whose free pages
// are kept (never purged). For the VRRP thread, which runs SCHED_RR: with one arena for every
// thread (jemalloc_conf.cpp) it took the arena's locks that the nice +10 workers hold, and a
// worker preempted while holding one (jemalloc's locks do not inherit priority) held it too;
// jemalloc's purging thread never touches an arena that keeps its pages, so none of its
// madvise calls (up to 10 ms on this VM) waits on the thread's pages either. The VRRP thread's
// own allocations are a few KiB (adverts, status copies). Returns the error, or nothing; with
// glibc's malloc the error says that nothing was done.
std::optional<std::string> use_own_arena();

// Gives free memory back to the system now and returns how long it took: jemalloc's pages
// past their decay time not yet purged (arena.<all>.decay), or glibc's arenas' holes
// (malloc_trim(0)). The daemon calls it once reloads have settled (Daemon::kTrimAfterQuiet),
// never on the loop or the VRRP thread: glibc's trim takes milliseconds and holds each arena's
// lock while it walks it.
double release_free_memory();

}  // namespace l4lb::daemon
