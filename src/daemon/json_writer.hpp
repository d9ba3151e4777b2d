// A JSON writer that appends straight to a string: no document tree. The status document of
// 10,000 services x 8 backends is tens of MB of small values; built as an nlohmann::json tree
// it cost seconds and ~10x its size in memory on the render thread. Commas and nesting are
// tracked here, so callers write keys and values in order. Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace l4lb::daemon {

// `text` as a JSON string literal, quotes included: ", \ and control characters escaped;
// bytes that are not valid UTF-8 become U+FFFD (as nlohmann's dump with
// error_handler_t::replace), so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view text);
// A double as JSON: shortest round-trip form, always with a '.' or exponent (1.0, not 1), so
// that readers in any language see a float; NaN and infinities (not JSON) as null.
void append_json_double(std::string& out, double v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  // The next value is this member of the object being written.
  void key(std::string_view k) {
    comma();
    append_json_string(out_, k);
    out_ += ':';
    after_key_ = true;
  }

  void null() { put("null"); }
  void value(bool v) { put(v ? "true" : "false"); }
  void value(std::string_view v) {
    comma();
    append_json_string(out_, v);
  }
  void value(const std::string& v) { value(std::string_view(v)); }
  void value(const char* v) { value(std::string_view(v)); }
  void value(double v) {
    comma();
    append_json_double(out_, v);
  }
  template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) void value(T v) {
    comma();
    out_ += std::to_string(v);
  }
  // A small tree (a section built as nlohmann::json), dumped in place.
  void value(const nlohmann::json& j) {
    comma();
    out_ += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  template <class T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }
  void null_field(std::string_view k) {
    key(k);
    null();
  }

 private:
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void put(const char* literal) {
    comma();
    out_ += literal;
  }
  void open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    first_.pop_back();
    out_ += c;
  }

  std::string& out_;
  std::vector<bool> first_;  // per open object/array: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace l4lb::daemon
