// A read-only view of one YAML document parsed by libyaml (the C reference
// parser): the node tree with source positions, aliases resolved. Internal to the
// config library.
//
// Why libyaml and not yaml-cpp: on this project's 10,000-service benchmark config
// yaml-cpp 0.7 spends ~600 ms CPU parsing where libyaml needs ~45 ms, and
// yaml-cpp 0.7's multi-document loader loops forever on some malformed input
// (jbeder/yaml-cpp#1040). libyaml's loader is iterative (no recursion on deep
// nesting) and is fuzzed continuously upstream.
#pragma once

#include <yaml.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"

namespace l4lb::config::yaml {

class Node {
 public:
  Node() = default;  // "not there"
  Node(yaml_document_t* doc, const yaml_node_t* node) : doc_(doc), node_(node) {}

  bool IsDefined() const { return node_ != nullptr; }
  // An absent value, "~", "null" or an empty plain scalar.
  bool IsNull() const;
  bool IsScalar() const { return node_ && node_->type == YAML_SCALAR_NODE && !IsNull(); }
  bool IsSequence() const { return node_ && node_->type == YAML_SEQUENCE_NODE; }
  bool IsMap() const { return node_ && node_->type == YAML_MAPPING_NODE; }

  std::string_view Scalar() const;  // empty unless a scalar
  Location location() const;        // 1-based; {0, 0} when unknown
  std::size_t size() const;         // items of a sequence, pairs of a mapping
  Node item(std::size_t i) const;   // sequence item
  Node key(std::size_t i) const;    // mapping pair i
  Node value(std::size_t i) const;

 private:
  Node at(int id) const;
  yaml_document_t* doc_ = nullptr;
  const yaml_node_t* node_ = nullptr;
};

struct SyntaxError {
  Location at;
  std::string message;
};

// Owns a parsed document; Nodes point into it.
class Document {
 public:
  // The first and only document of `text`: a second document is an error too.
  static std::variant<Document, SyntaxError> parse(std::string_view text);
  Node root() const;

 private:
  struct Deleter {
    void operator()(yaml_document_t* d) const;
  };
  std::unique_ptr<yaml_document_t, Deleter> doc_;
};

}  // namespace l4lb::config::yaml
