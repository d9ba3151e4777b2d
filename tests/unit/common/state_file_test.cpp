#include "common/state_file.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace l4lb;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("l4lb-state-" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string at(const char* name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("state files: write then read gives the same bytes; no temporary is left") {
  TempDir dir;
  const auto path = dir.at("record");
  CHECK_FALSE(state_file::read(path).text);  // missing: no text, no error
  CHECK(state_file::read(path).error.empty());
  REQUIRE_FALSE(state_file::write(path, "one\n"));
  REQUIRE_FALSE(state_file::write(path, "two\n"));
  auto r = state_file::read(path);
  REQUIRE(r.text);
  CHECK(*r.text == "two\n");
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("state files: a symlink planted as the temporary is replaced, not followed") {
  TempDir dir;
  const auto path = dir.at("record");
  const auto victim = dir.at("victim");
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, path + ".tmp");
  REQUIRE_FALSE(state_file::write(path, "record"));
  CHECK(slurp(victim) == "precious");
  CHECK(slurp(path) == "record");
}

TEST_CASE("state files: a symlink, a directory or an oversized file is refused when read") {
  TempDir dir;
  const auto victim = dir.at("victim");
  std::ofstream(victim) << "not ours";
  fs::create_symlink(victim, dir.at("link"));
  auto r = state_file::read(dir.at("link"));
  CHECK_FALSE(r.text);
  CHECK_THAT(r.error, Catch::Contains("symlink"));
  fs::create_directory(dir.at("dir"));
  r = state_file::read(dir.at("dir"));
  CHECK_FALSE(r.text);
  CHECK_THAT(r.error, Catch::Contains("not a regular file"));
  r = state_file::read(victim, 3);
  CHECK_FALSE(r.text);
  CHECK_THAT(r.error, Catch::Contains("more than a state file holds"));
}

TEST_CASE("state files: a failed write keeps the previous content and says why") {
  TempDir dir;
  const auto path = dir.at("record");
  REQUIRE_FALSE(state_file::write(path, "previous"));
  fs::create_directory(path + ".tmp");  // the temporary cannot be made
  auto error = state_file::write(path, "next");
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains(path + ".tmp"));
  CHECK(slurp(path) == "previous");
  CHECK(state_file::write(dir.at("missing/record"), "x"));  // no such directory: an error
}

TEST_CASE("state files: set_aside keeps a damaged file for inspection") {
  TempDir dir;
  const auto path = dir.at("record");
  std::ofstream(path) << "garbage";
  CHECK(state_file::set_aside(path) == path + ".damaged");
  CHECK_FALSE(fs::exists(path));
  CHECK(slurp(path + ".damaged") == "garbage");
}
