// A read-only tree of one YAML document, parsed with libyaml (the C reference
// parser): nodes with source positions, aliases resolved. Internal to the config
// library.
//
// Why libyaml and not yaml-cpp: on the 10,000-service x 8-backend benchmark config
// yaml-cpp 0.7 spends ~600 ms CPU parsing where libyaml's parser needs ~45 ms, and
// yaml-cpp 0.7's multi-document loader loops forever on some malformed input
// (jbeder/yaml-cpp#1040). The tree is composed here from libyaml's events rather
// than with yaml_parser_load() so that nesting depth is bounded (libyaml's scanner
// is quadratic in flow nesting: 100,000 '[' take ~45 s) and aliases are looked up
// by hash rather than by a linear scan.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.hpp"

namespace l4lb::config::yaml {

// Deeper nesting is refused; the schema itself needs 5 levels.
inline constexpr std::size_t kMaxDepth = 64;
// Aliases share nodes, but whoever reads the tree visits every alias as a whole copy: a
// "billion laughs" file of a few hundred bytes would stand for 10^9 nodes. The document as read,
// aliases expanded, may have at most this many nodes: about what the largest accepted file
// (8 MiB, two bytes a node) can hold written out literally.
inline constexpr std::uint64_t kMaxExpandedNodes = 4 * 1024 * 1024;

class Document;

class Node {
 public:
  Node() = default;  // "not there"
  Node(const Document* doc, std::uint32_t id) : doc_(doc), id_(id) {}

  bool IsDefined() const { return doc_ != nullptr; }
  // Absent, "~", "null" or an empty plain scalar.
  bool IsNull() const;
  bool IsScalar() const;
  bool IsSequence() const;
  bool IsMap() const;

  std::string_view Scalar() const;  // empty unless a scalar
  Location location() const;        // 1-based; {0, 0} when absent
  std::size_t size() const;         // items of a sequence, pairs of a mapping
  Node item(std::size_t i) const;   // sequence item
  Node key(std::size_t i) const;    // mapping pair i
  Node value(std::size_t i) const;

 private:
  const Document* doc_ = nullptr;
  std::uint32_t id_ = 0;
};

struct SyntaxError {
  Location at;
  std::string message;
};

// A list under one top-level key whose items are handed over one at a time, as each is
// complete, and then dropped from the tree (Document::parse). Why: a services list is nearly
// the whole file (10,000 services x 8 backends: 390,000 nodes, 9.6 MB of tree), and only one
// item of it needs to exist at a time; every page of tree is a page fault (about 0.3 ms each
// in the kernel lab) and part of a reload's peak memory.
struct StreamedList {
  std::string_view key;  // the first top-level key of that name, if its value is a list
  // `key` and `list` stay valid for the whole parse, `item` only during the call.
  std::function<void(Node key, Node list, Node item, std::size_t index)> each;
};

class Document {
 public:
  enum class Kind : std::uint8_t { scalar, sequence, mapping };
  // 16 bytes a node (it was 56 with a std::string each, then 20): at 10,000 services x 8
  // backends the tree has 380,000 nodes, and every page of it is a page fault (dear in the
  // kernel lab: about 0.3 ms each).
  struct NodeData {
    std::uint32_t line = 0;  // 1-based
    // 1-based; a column fits 28 bits since a file is at most kMaxConfigBytes (8 MiB).
    std::uint32_t column : 28 = 0;
    std::uint32_t kind : 2 = 0;   // a Kind
    std::uint32_t plain : 1 = 0;  // an unquoted scalar (only those can be null)
    std::uint32_t null : 1 = 0;   // a plain "", "~", "null", "Null" or "NULL"
    // A scalar: its text is scalars_[first, first + count). A collection: its children are
    // children_[first, first + count): items, or key, value, key, value, ... One array for
    // the whole tree rather than a vector (or a string) per node.
    std::uint32_t first = 0;
    std::uint32_t count = 0;
    Kind type() const { return static_cast<Kind>(kind); }
    Location at() const { return {static_cast<int>(line), static_cast<int>(column)}; }
  };
  static_assert(sizeof(NodeData) == 16);

  // The first and only document of `text`; a second document is an error too. With `stream`,
  // the items of that list go to stream->each and the list stays empty in the tree (an item
  // that defines an anchor stays in the tree, unlisted, for later aliases to find).
  static std::variant<Document, SyntaxError> parse(std::string_view text,
                                                   const StreamedList* stream = nullptr);
  Node root() const { return has_root_ ? Node(this, root_) : Node(); }
  const NodeData& node(std::uint32_t id) const { return nodes_[id]; }
  std::uint32_t child(const NodeData& n, std::size_t i) const { return children_[n.first + i]; }
  std::string_view text(const NodeData& n) const {
    return std::string_view(scalars_).substr(n.first, n.count);
  }

 private:
  friend class Composer;
  std::vector<NodeData> nodes_;
  std::vector<std::uint32_t> children_;
  std::string scalars_;  // every scalar's text, one after the other
  std::uint32_t root_ = 0;
  bool has_root_ = false;
};

}  // namespace l4lb::config::yaml
