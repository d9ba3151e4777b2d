// Property-style tests: whatever the bytes, load_text returns (never throws, never
// crashes), and its result is self-consistent.
#include <catch2/catch.hpp>
#include <random>

#include "config/loader.hpp"
#include "test_util.hpp"

using namespace l4lb::config;
using namespace l4lb::config::test;

namespace {

std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

void check_consistent(const std::string& text) {
  LoadResult r;
  REQUIRE_NOTHROW(r = load_text(text, "m.yaml"));
  CHECK(r.ok() == (r.error_count() == 0));
  for (const auto& d : r.diagnostics) {
    CHECK(d.line >= 0);
    CHECK(static_cast<std::size_t>(d.line) <= count_lines(text) + 1);
    CHECK_FALSE(d.message.empty());
    CHECK(d.message.find('\n') == std::string::npos);
  }
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

const std::vector<std::string> kTokens = {
    "{",         "}",    "[",          "]",    ":",      "- ",     "&a ",     "*a",
    "!!binary ", "~",    "'",          "\"",   "\t",     "? ",     "---\n",   "%YAML 1.2\n",
    "0x10",      "-1",   "1e9",        "",     "null",   "{}",     "[]",      "65536",
    "255",       "10ms", "::1",        "a: b", "<<: *a", "|\n  x", ">-\n  y", "\xEF\xBB\xBF",
    "\xC3\xA9",  "#",    "&b [*a, *a]"};

std::string mutate(std::string text, std::mt19937& rng) {
  auto pick = [&](std::size_t n) {
    return n == 0 ? std::size_t{0} : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  switch (pick(7)) {
    case 0:  // flip a byte to anything
      if (!text.empty()) text[pick(text.size())] = static_cast<char>(pick(256));
      break;
    case 1: {  // delete a line
      auto lines = split_lines(text);
      lines.erase(lines.begin() + static_cast<long>(pick(lines.size())));
      text = join_lines(lines);
      break;
    }
    case 2: {  // duplicate a line elsewhere
      auto lines = split_lines(text);
      auto line = lines[pick(lines.size())];
      lines.insert(lines.begin() + static_cast<long>(pick(lines.size())), line);
      text = join_lines(lines);
      break;
    }
    case 3:  // insert a YAML-ish token
      text.insert(pick(text.size() + 1), kTokens[pick(kTokens.size())]);
      break;
    case 4:  // truncate
      text.resize(pick(text.size() + 1));
      break;
    case 5: {  // shift a line's indentation
      auto lines = split_lines(text);
      auto& l = lines[pick(lines.size())];
      if (pick(2) == 0)
        l.insert(0, "  ");
      else if (l.starts_with(" "))
        l.erase(0, 1);
      text = join_lines(lines);
      break;
    }
    default: {  // replace a value after a colon with a token
      auto colon = text.find(": ", pick(text.size()));
      if (colon != std::string::npos) {
        auto end = text.find('\n', colon);
        text.replace(colon + 2, (end == std::string::npos ? text.size() : end) - colon - 2,
                     kTokens[pick(kTokens.size())]);
      }
    }
  }
  return text;
}

}  // namespace

TEST_CASE("random mutations of the example never throw and stay self-consistent") {
  const std::string base = example_text();
  std::mt19937 rng(20261125);
  int failures_seen = 0;
  for (int i = 0; i < 800; ++i) {
    std::string text = base;
    int rounds = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < rounds; ++k) text = mutate(text, rng);
    check_consistent(text);
    if (!load_text(text, "m").ok()) ++failures_seen;
  }
  // The mutations must actually exercise the error paths.
  CHECK(failures_seen > 250);
}

TEST_CASE("pathological YAML is an error, not a crash") {
  check_consistent(std::string(100000, '['));
  check_consistent(std::string(5000, '[') + std::string(5000, ']'));
  check_consistent(std::string(3000, '{') + "a: 1" + std::string(3000, '}'));
  std::string indent_ladder;
  for (int i = 0; i < 3000; ++i)
    indent_ladder += std::string(static_cast<std::size_t>(i), ' ') + "- \n";
  check_consistent(indent_ladder);
  // Billion laughs: aliases share nodes, and the loader only walks the schema.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'z'; ++c, ++prev)
    laughs += fmt::format("{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n", c, c, prev, prev,
                          prev, prev, prev, prev, prev, prev);
  laughs += "services: *z\nvrrp: [*z, *z]\n";
  check_consistent(laughs);
  check_consistent("services:\n  - &s {name: a, vip: 10.0.0.1, port: 80}\n  - *s\n");
  check_consistent("? [a, b]\n: c\n");
  check_consistent("!!binary aGVsbG8=\n");
  check_consistent("%YAML 9.9\n---\na: 1\n");
  check_consistent("a: !<tag:yaml.org,2002:str> b\n");
  check_consistent(std::string("\xEF\xBB\xBFnode_name: x\n"));
  check_consistent(std::string(kMaxConfigBytes, 'a'));
  check_consistent(std::string(kMaxConfigBytes + 1, 'a'));
}

TEST_CASE("garbage bytes of every kind") {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string text(1 + rng() % 2000, '\0');
    for (auto& c : text) c = static_cast<char>(rng());
    check_consistent(text);
  }
}
