// Prometheus text exposition (format 0.0.4), rendered from the same status document that
// `l4lbctl status --json` returns, so the two can never disagree. Pure.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

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

// One entry of the status document's "services" (a service and port), and one of its
// "health" checks, as /metrics reads them: what MetricsFamily takes straight from a snapshot,
// and what the document is read into, so that both render the same bytes.
struct MetricsBackend {
  std::string address, port;
  double conns_total, active_conns, inactive_conns, weight;
};
struct MetricsEntry {
  std::string service, vip, port, protocol;
  double active_conns, inactive_conns, conns_total, packets_in, packets_out, bytes_in, bytes_out;
  double healthy;
  bool quorum_met;
  std::vector<MetricsBackend> backends;
};
struct MetricsCheck {
  std::string service, port, backend;  // port: "all" for a check shared by the ports
  bool up;
  double checks;
  std::vector<std::pair<std::string, double>> failures;  // by reason
  std::vector<std::pair<double, double>> buckets;        // upper bound, cumulative count
  double sum, count;
};

// One family of the services' and checks' samples at a time, appended to `out` as it goes
// (HELP and TYPE before its first sample): a streamed scrape renders the text family by
// family in several passes over the snapshot, so that no family is ever held whole. Checks
// come in key order (a service's checks together), as MetricsBuilder sums them.
class MetricsFamily {
 public:
  MetricsFamily(std::string_view family, std::string& out);
  ~MetricsFamily();
  bool wants(std::string_view family) const;  // entries may skip what no family here reads
  void entry(const MetricsEntry& e);
  void check(const MetricsCheck& c);
  void finish();  // after the last check
  // The families, in the order MetricsBuilder's text has them (after the other sections').
  static const std::vector<std::string>& entry_families();
  static std::vector<std::string> check_families(bool first_service_has_failures);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace l4lb::daemon
