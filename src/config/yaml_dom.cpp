#include "config/yaml_dom.hpp"

#include <fmt/format.h>
#include <yaml.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <unordered_map>

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

struct Event {
  yaml_event_t e;
  Event() = default;
  ~Event() { yaml_event_delete(&e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

}  // namespace

// Builds the tree from libyaml's event stream.
class Composer {
 public:
  Composer(Document& doc, const StreamedList* stream) : doc_(doc), stream_(stream) {}

  std::optional<SyntaxError> run(std::string_view text) {
    // About one node per 9 bytes in a typical file (10,000 services x 8 backends: 390,000
    // nodes in 3.3 MB): reserving room for one per 6 avoids copying the tree at every
    // doubling; pages reserved but not used are never touched.
    const std::size_t guess = std::min<std::size_t>(text.size() / 6 + 16, kMaxExpandedNodes);
    doc_.nodes_.reserve(guess);
    doc_.children_.reserve(guess);
    // The scalars' text is never longer than the file's: folding, escapes and line breaks all
    // shrink it, and an alias copies none. Half the file was too little for that file (its
    // keys are scalars too: 1.8 MB), and the doubling copied all of it once more.
    doc_.scalars_.reserve(text.size());
    Parser parser;
    yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    int documents = 0;
    for (;;) {
      Event ev;
      if (!yaml_parser_parse(&parser.p, &ev.e)) return syntax_error(parser.p);
      const yaml_event_t& e = ev.e;
      switch (e.type) {
        case YAML_STREAM_END_EVENT:
          return std::nullopt;
        case YAML_DOCUMENT_START_EVENT:
          if (++documents > 1)
            return SyntaxError{location_of(e.start_mark),
                               "a second YAML document starts here; l4lb reads exactly one "
                               "(remove the '---' or '...' separators)"};
          break;
        case YAML_ALIAS_EVENT: {
          std::string name(reinterpret_cast<const char*>(e.data.alias.anchor));
          auto it = anchors_.find(name);
          if (it == anchors_.end())
            return SyntaxError{location_of(e.start_mark),
                               fmt::format("YAML alias '*{}' refers to no earlier complete "
                                           "'&{}' anchor",
                                           name, name)};
          const std::uint64_t weight = it->second.weight;
          expanded_ += weight;
          if (expanded_ > kMaxExpandedNodes)
            return SyntaxError{
                location_of(e.start_mark),
                fmt::format("YAML alias '*{}' expands the document beyond {} nodes ('&{}' has {} "
                            "nodes with its aliases, copied at every use); write the repeated "
                            "parts out or nest aliases less",
                            name, kMaxExpandedNodes, name, weight)};
          attach(it->second.id);
          add_weight(weight);
          item_done(it->second.id);
          break;
        }
        case YAML_SCALAR_EVENT: {
          const std::string_view value(reinterpret_cast<const char*>(e.data.scalar.value),
                                       e.data.scalar.length);
          if (doc_.scalars_.size() + value.size() > std::numeric_limits<std::uint32_t>::max())
            return SyntaxError{location_of(e.start_mark), "the document's text is too large"};
          auto id = add(Document::Kind::scalar, e.start_mark);
          auto& n = doc_.nodes_[id];
          n.first = static_cast<std::uint32_t>(doc_.scalars_.size());
          n.count = static_cast<std::uint32_t>(value.size());
          doc_.scalars_.append(value);
          n.plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
          n.null = n.plain && (value.empty() || value == "~" || value == "null" ||
                               value == "Null" || value == "NULL");
          name_anchor(e.data.scalar.anchor, id);
          attach(id);
          add_weight(1);
          item_done(id);
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          if (open_.size() >= kMaxDepth)
            return SyntaxError{location_of(e.start_mark),
                               fmt::format("YAML nesting is deeper than {} levels", kMaxDepth)};
          bool seq = e.type == YAML_SEQUENCE_START_EVENT;
          auto id = add(seq ? Document::Kind::sequence : Document::Kind::mapping, e.start_mark);
          const bool streamed = seq && is_streamed_value();
          attach(id);
          const yaml_char_t* anchor =
              seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor;
          // Named when complete, so an alias cannot point into its own ancestor (a cycle).
          open_.push_back({id, anchor ? std::string(reinterpret_cast<const char*>(anchor)) : "", 1,
                           pending_.size()});
          if (streamed) start_stream(id);
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          if (!open_.empty()) {
            const Open done = open_.back();
            open_.pop_back();
            // Its children, collected on pending_ while it was open, move to the tree's array
            // in one piece.
            auto& n = doc_.nodes_[done.id];
            n.first = static_cast<std::uint32_t>(doc_.children_.size());
            n.count = static_cast<std::uint32_t>(pending_.size() - done.base);
            doc_.children_.insert(doc_.children_.end(),
                                  pending_.begin() + static_cast<std::ptrdiff_t>(done.base),
                                  pending_.end());
            pending_.resize(done.base);
            add_weight(done.weight);
            if (!done.anchor.empty()) {
              anchors_[done.anchor] = {done.id, done.weight};
              ++anchors_named_;
            }
            if (list_.active && done.id == list_.id) list_.active = false;  // the list ends
            item_done(done.id);
          }
          break;
        default:  // stream start, document end
          break;
      }
    }
  }

 private:
  struct Open {
    std::uint32_t id;
    std::string anchor;
    std::uint64_t weight;  // nodes so far with aliases expanded, itself included
    std::size_t base;      // where its children start on pending_
  };

  std::uint32_t add(Document::Kind kind, const yaml_mark_t& mark) {
    auto id = static_cast<std::uint32_t>(doc_.nodes_.size());
    Document::NodeData n;
    const Location at = location_of(mark);
    n.line = static_cast<std::uint32_t>(at.line);
    n.column = static_cast<std::uint32_t>(at.column) & 0x0fffffffU;
    n.kind = static_cast<std::uint32_t>(kind);
    doc_.nodes_.push_back(n);
    ++expanded_;
    return id;
  }
  // Collections add their weight to the parent when they close; scalars and aliases (complete
  // already) when they are attached.
  void add_weight(std::uint64_t w) {
    if (!open_.empty()) open_.back().weight += w;
  }
  void attach(std::uint32_t id) {
    if (open_.empty()) {
      doc_.root_ = id;
      doc_.has_root_ = true;
    } else {
      pending_.push_back(id);
    }
  }
  void name_anchor(const yaml_char_t* anchor, std::uint32_t id) {
    if (!anchor) return;
    anchors_[reinterpret_cast<const char*>(anchor)] = {id, 1};
    ++anchors_named_;
  }

  // The collection about to be attached is the value of the streamed top-level key: the root
  // mapping is the only open collection and holds an odd number of children (its key last).
  bool is_streamed_value() const {
    if (!stream_ || list_.done || open_.size() != 1) return false;
    const Open& root = open_.back();
    if (doc_.nodes_[root.id].type() != Document::Kind::mapping) return false;
    if ((pending_.size() - root.base) % 2 != 1) return false;
    const auto& key = doc_.nodes_[pending_.back()];
    return key.type() == Document::Kind::scalar && doc_.text(key) == stream_->key;
  }
  void start_stream(std::uint32_t list) {
    list_.active = list_.done = true;  // only the first such key (a second is a duplicate)
    list_.key = pending_[pending_.size() - 2];
    list_.id = list;
    mark();
  }
  void mark() {
    list_.nodes = doc_.nodes_.size();
    list_.children = doc_.children_.size();
    list_.scalars = doc_.scalars_.size();
    list_.anchors = anchors_named_;
  }
  // `id` is complete; if it is an item of the streamed list, hand it over and drop it.
  void item_done(std::uint32_t id) {
    if (!list_.active || open_.empty() || open_.back().id != list_.id) return;
    stream_->each(Node(&doc_, list_.key), Node(&doc_, list_.id), Node(&doc_, id), list_.index++);
    pending_.pop_back();  // not a child of the list
    if (anchors_named_ == list_.anchors) {
      // Nothing in it can be named by a later alias: its nodes go. Capacity stays, and the next
      // item reuses the same pages.
      doc_.nodes_.resize(list_.nodes);
      doc_.children_.resize(list_.children);
      doc_.scalars_.resize(list_.scalars);
    }
    mark();
  }

  Document& doc_;
  const StreamedList* stream_ = nullptr;
  struct {
    bool active = false;  // inside the streamed list
    bool done = false;    // it has been found (only one is streamed)
    std::uint32_t key = 0, id = 0;
    std::size_t index = 0;
    std::size_t nodes = 0, children = 0, scalars = 0, anchors = 0;  // sizes before this item
  } list_;
  std::size_t anchors_named_ = 0;
  std::vector<Open> open_;
  std::vector<std::uint32_t> pending_;  // children of the open collections, innermost last
  std::uint64_t expanded_ = 0;          // the whole document's, so far
  // An anchored node and its size with aliases expanded (what each alias of it adds).
  struct Anchored {
    std::uint32_t id = 0;
    std::uint64_t weight = 1;
  };
  std::unordered_map<std::string, Anchored> anchors_;
};

std::variant<Document, SyntaxError> Document::parse(std::string_view text,
                                                    const StreamedList* stream) {
  Document doc;
  if (auto error = Composer(doc, stream).run(text)) return *error;
  return doc;
}

bool Node::IsNull() const {
  if (!doc_) return true;
  return doc_->node(id_).null;
}

bool Node::IsScalar() const {
  return doc_ && doc_->node(id_).type() == Document::Kind::scalar && !IsNull();
}
bool Node::IsSequence() const { return doc_ && doc_->node(id_).type() == Document::Kind::sequence; }
bool Node::IsMap() const { return doc_ && doc_->node(id_).type() == Document::Kind::mapping; }

std::string_view Node::Scalar() const {
  if (!doc_ || doc_->node(id_).type() != Document::Kind::scalar) return {};
  return doc_->text(doc_->node(id_));
}

Location Node::location() const { return doc_ ? doc_->node(id_).at() : Location{}; }

std::size_t Node::size() const {
  if (IsSequence()) return doc_->node(id_).count;
  if (IsMap()) return doc_->node(id_).count / 2;
  return 0;
}

Node Node::item(std::size_t i) const {
  return IsSequence() && i < size() ? Node(doc_, doc_->child(doc_->node(id_), i)) : Node{};
}
Node Node::key(std::size_t i) const {
  return IsMap() && i < size() ? Node(doc_, doc_->child(doc_->node(id_), 2 * i)) : Node{};
}
Node Node::value(std::size_t i) const {
  return IsMap() && i < size() ? Node(doc_, doc_->child(doc_->node(id_), 2 * i + 1)) : Node{};
}

}  // namespace l4lb::config::yaml
