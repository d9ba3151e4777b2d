// jemalloc's settings for l4lbd, read by jemalloc when it starts (before main). The
// environment's MALLOC_CONF is applied after these, so an operator can still override one.
// Why each (daemon/allocator.hpp has the measurements):
// - background_thread: freed pages are given back by jemalloc's own thread, never by the
//   loop or the VRRP thread in the middle of their work (glibc's malloc_trim did it under
//   the arena's lock, 20-94 ms on a VM where madvise is dear).
// - dirty_decay_ms:250: pages freed are kept for reuse a little while (a quarter of a second
//   to decay), then go: a reload's peak is given back long before the next reload, not kept
//   as holes for good. At 1000 the storm's 10,000-service phases held 70.8-81.0 MiB (4
//   runs), at 250 68.1-81.4, mostly under 76 (3 runs); after the storm 66-72 against 62-66.
// - muzzy_decay_ms:0: no MADV_FREE stage; such pages still count as resident until the
//   kernel wants them, which is what an operator's RSS alert sees.
// - narenas:1: one arena for every thread, so the holes one thread's work leaves (the reload
//   worker's) are filled by the others' blocks; each thread's small blocks go through its own
//   cache, so the arena's lock is rarely taken. The VRRP thread is the exception: it moves to
//   an arena of its own at start (allocator.hpp, use_own_arena).
// - tcache_max:1024: those per-thread caches hold blocks of at most 1 KiB.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
const char* malloc_conf =
    "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0,narenas:1,tcache_max:1024";
}
