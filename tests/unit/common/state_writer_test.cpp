#include "common/state_writer.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace l4lb;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("state-writer-" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("state writer: the latest text wins, and flush waits until it is on disk") {
  TempDir dir;
  const auto file = dir.path / "record";
  StateWriter w(file.string(), "test record");
  for (int i = 0; i < 1000; ++i) w.write("text " + std::to_string(i) + "\n");
  w.flush();
  CHECK(slurp(file) == "text 999\n");
  // Each write is a whole file (state_file::write), so at most one per text was needed; a
  // burst is coalesced into fewer (how many depends on the disk).
  CHECK(w.writes() >= 1);
  CHECK(w.writes() <= 1000);
  w.write("again\n");
  w.flush();
  CHECK(slurp(file) == "again\n");
}

TEST_CASE("state writer: what is pending at destruction is written") {
  TempDir dir;
  const auto file = dir.path / "record";
  {
    StateWriter w(file.string(), "test record");
    w.write("last words\n");
  }
  CHECK(slurp(file) == "last words\n");
}

TEST_CASE("state writer: a failed write is logged and counted, and the next one still runs") {
  TempDir dir;
  const auto file = dir.path / "missing-dir" / "record";
  StateWriter w(file.string(), "test record");
  w.write("lost\n");
  w.flush();  // returns: the failure was logged
  CHECK(w.writes() == 1);
  CHECK_FALSE(std::filesystem::exists(file));
  std::filesystem::create_directories(file.parent_path());
  w.write("kept\n");
  w.flush();
  CHECK(slurp(file) == "kept\n");
}

TEST_CASE("state writer: flush with nothing given returns at once") {
  TempDir dir;
  StateWriter w((dir.path / "record").string(), "test record");
  w.flush();
  CHECK(w.writes() == 0);
}
