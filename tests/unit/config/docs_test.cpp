// Every key of the schema is documented in the annotated example and in the
// reference, so neither can silently fall behind the loader.
#include <catch2/catch.hpp>
#include <regex>

#include "config/keys.hpp"
#include "test_util.hpp"

using namespace l4lb::config;
using namespace l4lb::config::test;

namespace {

bool used_as_key(const std::string& yaml, std::string_view key) {
  return std::regex_search(yaml, std::regex("(^|[\\s{,])" + std::string(key) + ":"));
}

bool in_reference(const std::string& md, std::string_view word) {
  // `key`, `section.key`, `key.subkey`, `key: ...` or `{key: ...}` inside backquotes.
  return std::regex_search(md, std::regex("[`.{]" + std::string(word) + "[`:.]"));
}

}  // namespace

TEST_CASE("every key appears in etc/l4lb.yaml and docs/CONFIG.md") {
  const std::string example = example_text();
  const std::string reference = read_file(source_dir() + "/docs/CONFIG.md");
  for (const auto& [section, keys] : key_sets()) {
    for (auto key : keys) {
      INFO(section << ": " << key);
      CHECK(used_as_key(example, key));
      CHECK(in_reference(reference, key));
    }
  }
}

TEST_CASE("every keyword value appears in docs/CONFIG.md") {
  const std::string reference = read_file(source_dir() + "/docs/CONFIG.md");
  for (auto words :
       {std::span<const std::string_view>(kSchedulers),
        std::span<const std::string_view>(kSchedulerFlags),
        std::span<const std::string_view>(kProtocols), std::span<const std::string_view>(kForwards),
        std::span<const std::string_view>(kOnFailure),
        std::span<const std::string_view>(kHealthTypes)}) {
    for (auto w : words) {
      INFO(w);
      CHECK(reference.find("`" + std::string(w) + "`") != std::string::npos);
    }
  }
}
