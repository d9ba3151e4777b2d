// yaml::StreamedList: the items of one top-level list handed over one at a time must be the
// same trees the whole document holds, whatever the style, anchors and aliases.
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "config/yaml_dom.hpp"

using namespace l4lb::config;
using namespace l4lb::config::yaml;

namespace {

// A node written out with its kinds and positions, so two trees compare as text.
std::string dump(const Node& n) {
  const auto at = n.location();
  std::string pos = "@" + std::to_string(at.line) + ":" + std::to_string(at.column);
  if (n.IsNull()) return "~" + pos;
  if (n.IsScalar()) return "'" + std::string(n.Scalar()) + "'" + pos;
  std::string out = (n.IsMap() ? "{" : "[") + pos;
  for (std::size_t i = 0; i < n.size(); ++i)
    out += n.IsMap() ? " " + dump(n.key(i)) + ": " + dump(n.value(i)) : " " + dump(n.item(i));
  return out + (n.IsMap() ? " }" : " ]");
}

Document parse(std::string_view text, const StreamedList* stream = nullptr) {
  auto parsed = Document::parse(text, stream);
  REQUIRE(std::holds_alternative<Document>(parsed));
  return std::get<Document>(std::move(parsed));
}

// The whole tree's items of `key` against the streamed ones.
void same_items(std::string_view text, std::string_view key = "services") {
  const Document whole = parse(text);
  std::vector<std::string> want;
  const Node root = whole.root();
  for (std::size_t i = 0; i < root.size(); ++i)
    if (root.key(i).Scalar() == key) {
      if (root.value(i).IsSequence())
        for (std::size_t k = 0; k < root.value(i).size(); ++k)
          want.push_back(dump(root.value(i).item(k)));
      break;
    }
  std::vector<std::string> got;
  std::vector<std::size_t> indexes;
  const StreamedList stream{key, [&](Node k, Node list, Node item, std::size_t index) {
                              CHECK(k.Scalar() == key);
                              CHECK(list.IsSequence());
                              got.push_back(dump(item));
                              indexes.push_back(index);
                            }};
  const Document streamed = parse(text, &stream);
  CHECK(got == want);
  for (std::size_t i = 0; i < indexes.size(); ++i) CHECK(indexes[i] == i);
  // The list itself stays, empty; everything else is as in the whole tree.
  const Node sroot = streamed.root();
  REQUIRE(sroot.size() == root.size());
  for (std::size_t i = 0; i < root.size(); ++i) {
    CHECK(dump(sroot.key(i)) == dump(root.key(i)));
    if (root.key(i).Scalar() == key && root.value(i).IsSequence() && !got.empty())
      CHECK(sroot.value(i).size() == 0);
  }
}

}  // namespace

TEST_CASE("a streamed list's items are the whole tree's items") {
  same_items("services:\n  - name: a\n    port: 1\n  - name: b\n    backends: [x, {address: y}]\n");
  same_items("services: [{name: a}, plain, [nested, list], ~, \"quoted\"]\n");
  same_items("vrrp: [{name: v}]\nservices:\n  - {name: a}\nafter: {k: v}\n");
  // An item that names an anchor stays in the tree for the alias that follows.
  same_items("services:\n  - {name: a, health: &h {type: tcp}}\n  - {name: b, health: *h}\n");
  same_items("services:\n  - &whole {name: a}\n  - *whole\n  - {name: c, copy: *whole}\n");
  // An anchor before the list, used inside it.
  same_items("pool: &p [10.0.0.1, 10.0.0.2]\nservices:\n  - {name: a, backends: *p}\n");
  // Only a list is streamed; a mapping or a scalar under the key is left in the tree.
  same_items("services: {name: a}\n");
  same_items("services: none\n");
  same_items("services: []\n");
  same_items("other: [1, 2]\n");
}

TEST_CASE("only the first top-level list of that name is streamed") {
  std::size_t calls = 0;
  const StreamedList stream{"services", [&](Node, Node, Node, std::size_t) { ++calls; }};
  const Document d = parse("services: [a, b]\nservices: [c]\nnested: {services: [d]}\n", &stream);
  CHECK(calls == 2);
  CHECK(d.root().value(1).size() == 1);  // the duplicate (an error for the loader) is kept
  CHECK(d.root().value(2).value(0).size() == 1);
}
