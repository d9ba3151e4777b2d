// Frees large objects on a background thread instead of the caller's. Dropping the last
// reference to a multi-megabyte status document on the event loop cost it 8 ms in one handler
// (perf, test_stability at 2,000 services): free() of a large block is a munmap, and unmapping
// megabytes of pages is work the loop must not do. make_reaped() gives a shared_ptr whose
// last release, wherever it happens, hands the object to the reaper thread.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace l4lb::reaper {

// Runs `destroy` on the reaper thread (started on first use, lives as long as the process).
void defer(std::function<void()> destroy);

template <typename T, typename... Args>
std::shared_ptr<const T> make_reaped(Args&&... args) {
  return std::shared_ptr<const T>(new T(std::forward<Args>(args)...),
                                  [](const T* p) { defer([p] { delete p; }); });
}

// The same for an object its owners still change.
template <typename T, typename... Args>
std::shared_ptr<T> make_reaped_mutable(Args&&... args) {
  return std::shared_ptr<T>(new T(std::forward<Args>(args)...),
                            [](T* p) { defer([p] { delete p; }); });
}

// Frees `value` (moved from) on the reaper thread: a container of 10,000 nodes the loop is
// done with.
template <typename T>
void dispose(T&& value) {
  auto* p = new std::decay_t<T>(std::forward<T>(value));
  defer([p] { delete p; });
}

}  // namespace l4lb::reaper
