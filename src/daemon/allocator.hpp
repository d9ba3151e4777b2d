// How l4lbd sets up glibc's allocator before any thread starts.
#pragma once

namespace l4lb::daemon {

// Every allocation of 128 KiB or more gets its own mapping, returned to the system when freed.
//
// Why: the large transient buffers (the YAML tree at start and on reload, a status reply or a
// /metrics text of tens of MiB, an IPVS dump, a snapshot's check list) would otherwise be
// carved from the arenas once glibc's dynamic threshold has risen (it grows to 32 MiB after
// the first large free), and the arena keeps the peak as resident memory. The render worker
// used to give it back with malloc_trim(0), which walks and madvises every arena while holding
// its lock, the main arena (the loop's) included: measured at 10,000 x 8, up to 118 ms a call,
// a stall for the loop's next malloc. With a fixed threshold no trim is needed: resident size
// after three full status replies and two scrapes, 126 -> 126 and 140 MiB (the trim left
// 155 and 121 MiB).
// Returns the error to log when glibc refused, else nothing.
const char* tune_allocator();

// Gives the arenas' free pages back to the system (malloc_trim(0)) and returns how long it took.
//
// Why, after a reload: the fixed threshold keeps large buffers out of the arenas, but a reload
// is also hundreds of thousands of small blocks (the next config, the check diff, the plan, the
// change list) made on the reload worker, in that thread's own arena, beside the blocks of the
// config it replaces. Once the reload is done most of them are free, in holes under blocks still
// alive, and glibc gives back only the free memory at an arena's top: at 10,000 x 8, reloads
// alternating between 10,000 and 15,000 services left the reload worker's arena at 45-57 MB
// resident for 7-12 MB in use (docs/BENCHMARKS.md, "Stop 17: memory"), so the daemon grew from
// 50 to 110 MiB after four reloads (72 MiB with the trim). Never on the loop or the VRRP
// thread: the call takes milliseconds (2-14 ms measured there) and holds each arena's lock
// while it walks it, the main arena's (the loop's) for about 3 ms at that size (perf, the
// madvise calls into [heap]). glibc cannot trim one arena alone; what would make the trim
// unnecessary is a smaller peak on the reload worker. Runs at nice 0 for the call. The daemon
// calls it once reloads have settled, not after each (Daemon::kTrimAfterQuiet): on a VM where
// madvise is dear the same trim took 20-94 ms of CPU and the loop ran up to 157 ms late.
double release_free_memory();

}  // namespace l4lb::daemon
