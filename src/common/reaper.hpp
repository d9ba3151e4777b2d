// Frees large objects on a background thread instead of the caller's. Dropping the last
// reference to a multi-megabyte status document on the event loop cost it 8 ms in one handler
// (perf, test_stability at 2,000 services): free() of a large block is a munmap, and unmapping
// megabytes of pages is work the loop must not do. make_reaped() gives a shared_ptr whose
// last release, wherever it happens, hands the object to the reaper thread.
#pragma once

#include <functional>
#include <memory>
#include <utility>

namespace l4lb::reaper {

// Runs `destroy` on the reaper thread (started on first use, lives as long as the process).
void defer(std::function<void()> destroy);

template <typename T, typename... Args>
std::shared_ptr<const T> make_reaped(Args&&... args) {
  return std::shared_ptr<const T>(new T(std::forward<Args>(args)...),
                                  [](const T* p) { defer([p] { delete p; }); });
}

}  // namespace l4lb::reaper
