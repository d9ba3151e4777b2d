// libFuzzer: whatever libnftables prints for l4lbd's table (the kernel's listing, read back every
// 10 s) must be normalised, checked for l4lbd's comment and compared, never crash.
#include <cstdint>
#include <string>

#include "nft/ruleset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1 << 20) return 0;
  const std::string listing(reinterpret_cast<const char*>(data), size);
  (void)l4lb::nft::normalise(listing);
  (void)l4lb::nft::owned(listing);
  const l4lb::nft::Ruleset nothing{};
  (void)l4lb::nft::decide(nothing, true, listing);
  (void)l4lb::nft::decide(nothing, false, listing);
  return 0;
}
