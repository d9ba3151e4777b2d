// Each tests/unit/config/corpus/NAME.yaml is a broken config; NAME.txt holds the
// exact diagnostics expected, one per line, as `l4lbd --check-config` prints them.
// Run with L4LB_UPDATE_CORPUS=1 to write the .txt files (then review the diff).
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/loader.hpp"
#include "test_util.hpp"

using namespace l4lb::config;
using namespace l4lb::config::test;
namespace fs = std::filesystem;

TEST_CASE("corpus of broken configs: exact messages") {
  fs::path dir = fs::path(source_dir()) / "tests/unit/config/corpus";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 20);
  const bool update = std::getenv("L4LB_UPDATE_CORPUS") != nullptr;
  for (const auto& yaml : files) {
    auto result = load_text(read_file(yaml.string()), yaml.filename().string());
    std::string actual;
    for (const auto& d : result.diagnostics) actual += d.to_string() + "\n";
    fs::path expected_path = yaml;
    expected_path.replace_extension(".txt");
    if (update) {
      std::ofstream(expected_path, std::ios::binary) << actual;
      continue;
    }
    INFO("corpus file " << yaml.filename().string());
    CHECK(actual == read_file(expected_path.string()));
    // Every corpus file is broken: it must not yield a config.
    CHECK_FALSE(result.ok());
  }
}
