// The streaming JSON writer behind the status document: what it writes must parse back to
// exactly the values written, whatever the bytes.
#include "daemon/json_writer.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

using l4lb::daemon::append_json_double;
using l4lb::daemon::append_json_string;
using l4lb::daemon::JsonWriter;
using nlohmann::json;

namespace {
std::string jstr(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}
std::string number(double v) {
  std::string out;
  append_json_double(out, v);
  return out;
}
}  // namespace

TEST_CASE("strings are escaped as JSON requires") {
  CHECK(jstr("plain") == R"("plain")");
  CHECK(jstr("a\"b\\c") == R"("a\"b\\c")");
  CHECK(jstr("line\nnext\ttab\r\b\f") == R"("line\nnext\ttab\r\b\f")");
  CHECK(jstr(std::string("nul\0x", 5)) == R"("nul\u0000x")");
  CHECK(jstr("\x01\x1f") == R"("\u0001\u001f")");
  CHECK(jstr("") == R"("")");
  // Valid UTF-8 passes as it is; / and DEL need no escape.
  CHECK(jstr("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 / \x7f") ==
        "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 / \x7f\"");
}

TEST_CASE("bytes that are not UTF-8 become U+FFFD, so the document stays valid") {
  CHECK(jstr("a\xFFz") == "\"a\xEF\xBF\xBDz\"");
  CHECK(jstr("\xC3") == "\"\xEF\xBF\xBD\"");                                  // truncated sequence
  CHECK(jstr("\xC0\xAF") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");                  // overlong '/'
  CHECK(jstr("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // a UTF-16 surrogate
  CHECK(jstr("\xF4\x90\x80\x80").find("\xEF\xBF\xBD") != std::string::npos);  // > U+10FFFF
}

TEST_CASE("random bytes always give JSON that parses, and valid text round-trips") {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 24, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    const std::string text = jstr(s);
    INFO("input of " << s.size() << " bytes");
    const json parsed = json::parse(text, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    // Where nlohmann accepts the bytes as UTF-8, the value is unchanged.
    const json direct = s;
    std::string dumped;
    try {
      dumped = direct.dump();
    } catch (const json::exception&) {
      continue;  // not UTF-8: replaced, checked above
    }
    CHECK(parsed.get<std::string>() == s);
    CHECK(text == dumped);
  }
}

TEST_CASE("doubles keep their value and look like floats; NaN and infinities are null") {
  CHECK(number(1.0) == "1.0");
  CHECK(number(0.0) == "0.0");
  CHECK(number(-2.0) == "-2.0");
  CHECK(number(0.1) == "0.1");
  CHECK(number(1764057600.12) == "1764057600.12");
  CHECK(std::stod(number(1e300)) == 1e300);
  CHECK(number(std::nan("")) == "null");
  CHECK(number(std::numeric_limits<double>::infinity()) == "null");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const double v =
        std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 80) - 40);
    CHECK(json::parse(number(v)).get<double>() == v);
  }
}

TEST_CASE("objects and arrays get their commas, nested trees are dumped in place") {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("a", 1);
  w.field("b", "x");
  w.key("list");
  w.begin_array();
  w.value(true);
  w.null();
  w.begin_object();
  w.end_object();
  w.begin_array();
  w.end_array();
  w.value(std::uint64_t{18446744073709551615ULL});
  w.end_array();
  w.null_field("n");
  w.field("tree", json{{"k", {1, 2}}});
  w.field("d", 2.5);
  w.end_object();
  CHECK(out == R"({"a":1,"b":"x","list":[true,null,{},[],18446744073709551615],"n":null,)"
               R"("tree":{"k":[1,2]},"d":2.5})");
  CHECK(json::parse(out)["list"][4].get<std::uint64_t>() == 18446744073709551615ULL);
}
