#include "config/yaml_dom.hpp"

#include <fmt/format.h>

#include <cstring>

namespace l4lb::config::yaml {
namespace {

Location location_of(const yaml_mark_t& m) {
  return {static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1};
}

SyntaxError syntax_error(const yaml_parser_t& p) {
  std::string message = fmt::format("YAML syntax error: {}", p.problem ? p.problem : "unknown");
  if (p.context)
    message += fmt::format(" ({} at line {}, column {})", p.context, p.context_mark.line + 1,
                           p.context_mark.column + 1);
  // Reader errors (bad encoding) carry an offset rather than a mark.
  Location at = p.error == YAML_READER_ERROR ? Location{} : location_of(p.problem_mark);
  return {at, std::move(message)};
}

struct Parser {
  yaml_parser_t p;
  Parser() { yaml_parser_initialize(&p); }
  ~Parser() { yaml_parser_delete(&p); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
};

}  // namespace

bool Node::IsNull() const {
  if (!node_) return true;
  if (node_->type != YAML_SCALAR_NODE || node_->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  std::string_view s = Scalar();
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::string_view Node::Scalar() const {
  if (!node_ || node_->type != YAML_SCALAR_NODE) return {};
  return {reinterpret_cast<const char*>(node_->data.scalar.value), node_->data.scalar.length};
}

Location Node::location() const { return node_ ? location_of(node_->start_mark) : Location{}; }

std::size_t Node::size() const {
  if (IsSequence())
    return static_cast<std::size_t>(node_->data.sequence.items.top -
                                    node_->data.sequence.items.start);
  if (IsMap())
    return static_cast<std::size_t>(node_->data.mapping.pairs.top -
                                    node_->data.mapping.pairs.start);
  return 0;
}

Node Node::at(int id) const {
  // libyaml numbers nodes from 1.
  if (id < 1 || id > doc_->nodes.top - doc_->nodes.start) return {};
  return Node(doc_, doc_->nodes.start + (id - 1));
}

Node Node::item(std::size_t i) const {
  return i < size() && IsSequence() ? at(node_->data.sequence.items.start[i]) : Node{};
}
Node Node::key(std::size_t i) const {
  return i < size() && IsMap() ? at(node_->data.mapping.pairs.start[i].key) : Node{};
}
Node Node::value(std::size_t i) const {
  return i < size() && IsMap() ? at(node_->data.mapping.pairs.start[i].value) : Node{};
}

void Document::Deleter::operator()(yaml_document_t* d) const {
  yaml_document_delete(d);
  delete d;
}

std::variant<Document, SyntaxError> Document::parse(std::string_view text) {
  Parser parser;
  yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  yaml_parser_set_encoding(&parser.p, YAML_UTF8_ENCODING);
  Document result;
  auto* doc = new yaml_document_t;
  std::memset(doc, 0, sizeof *doc);
  // On failure yaml_parser_load has already released the document's contents.
  if (!yaml_parser_load(&parser.p, doc)) {
    delete doc;
    return syntax_error(parser.p);
  }
  result.doc_.reset(doc);
  yaml_document_t next;
  std::memset(&next, 0, sizeof next);
  if (!yaml_parser_load(&parser.p, &next)) return syntax_error(parser.p);
  bool more = yaml_document_get_root_node(&next) != nullptr;
  yaml_mark_t second_at = next.start_mark;
  yaml_document_delete(&next);
  if (more)
    return SyntaxError{location_of(second_at),
                       "a second YAML document starts here; l4lb reads exactly one (remove the "
                       "'---' or '...' separators)"};
  return result;
}

Node Document::root() const {
  const yaml_node_t* root = yaml_document_get_root_node(doc_.get());
  return Node(doc_.get(), root);
}

}  // namespace l4lb::config::yaml
