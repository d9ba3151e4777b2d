// libFuzzer harness: any bytes into the config loader. It must return (never throw,
// never crash) and its result must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/diff.hpp"
#include "config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = l4lb::config::load_text(text, "fuzz.yaml");
  if (result.ok() != (result.error_count() == 0)) std::abort();
  for (const auto& d : result.diagnostics) {
    if (d.message.empty()) std::abort();
    (void)d.to_string();
  }
  if (result.ok()) {
    (void)l4lb::config::summary(*result.config);
    // A valid config diffed with itself has no changes.
    if (!l4lb::config::diff(*result.config, *result.config).empty()) std::abort();
  }
  return 0;
}
