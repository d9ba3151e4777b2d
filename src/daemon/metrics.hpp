// Prometheus text exposition (format 0.0.4), rendered from the same status document that
// `l4lbctl status --json` returns, so the two can never disagree. Pure.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace l4lb::daemon {

// The whole document at once.
std::string render_metrics(const nlohmann::json& status);

// The same, fed in pieces, so that a large table never exists as one document tree: the
// sections other than services and health once, then the services[] and health[] arrays in
// runs of any size (each family's samples stay together in the output).
class MetricsBuilder {
 public:
  MetricsBuilder();
  ~MetricsBuilder();
  void sections(const nlohmann::json& status);  // ignores its services and health
  void services(const nlohmann::json& services);
  void checks(const nlohmann::json& health);
  std::string text();  // once, at the end
  // The same text in pieces, in order (once, at the end, instead of text()): each family's
  // samples are freed as soon as they are handed on, so the text never exists twice.
  void text_to(const std::function<void(std::string_view)>& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace l4lb::daemon
