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

}  // namespace l4lb::daemon
