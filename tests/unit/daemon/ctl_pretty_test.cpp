// l4lbctl's indentation of the daemon's JSON text: the same text as nlohmann's dump(2).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "ctl/pretty.hpp"

using l4lb::ctl::indent_json;
using nlohmann::json;

namespace {
std::string indented(std::string_view text) {
  std::string out;
  indent_json(out, text);
  return out;
}

json random_value(std::mt19937& rng, int depth) {
  switch (depth > 3 ? rng() % 4 : rng() % 7) {
    case 0:
      return nullptr;
    case 1:
      return static_cast<int>(rng() % 2000) - 1000;
    case 2:
      return std::ldexp(static_cast<double>(rng() % 100000), -static_cast<int>(rng() % 20));
    case 3: {
      static const char* strings[] = {"",
                                      "plain",
                                      "with \"quotes\"",
                                      "braces {[,:]}",
                                      "back\\slash\\",
                                      "nl\nand\ttab",
                                      "caf\xC3\xA9"};
      return strings[rng() % 7];
    }
    case 4:
      return rng() % 2 == 0;
    case 5: {
      json a = json::array();
      for (std::size_t n = rng() % 4; n > 0; --n) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (std::size_t n = rng() % 4; n > 0; --n)
        o["k" + std::to_string(rng() % 10) + (rng() % 3 ? "" : ":{,}")] =
            random_value(rng, depth + 1);
      return o;
    }
  }
}
}  // namespace

TEST_CASE("indent_json writes what dump(2) writes, from the compact text") {
  CHECK(indented(R"({"a":1,"b":[],"c":{},"d":[1,{"e":"x,y:{"}]})") ==
        json::parse(R"({"a":1,"b":[],"c":{},"d":[1,{"e":"x,y:{"}]})").dump(2));
  CHECK(indented("[]") == "[]");
  CHECK(indented(R"("s")") == R"("s")");
  CHECK(indented(R"({ "a" : [ ] , "b" : 2 })") == "{\n  \"a\": [],\n  \"b\": 2\n}");
  std::mt19937 rng(11);
  for (int i = 0; i < 500; ++i) {
    const json v = random_value(rng, 0);
    INFO(v.dump());
    CHECK(indented(v.dump()) == v.dump(2));
  }
}
