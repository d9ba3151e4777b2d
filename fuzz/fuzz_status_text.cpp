// l4lbctl's handling of the daemon's status text, and the daemon's JSON string writer:
// arbitrary bytes as the document. Checks that parse_for_names never crashes and, for a JSON
// document, keeps everything filter_status keeps; that indent_json never crashes and keeps the
// value; and that append_json_string turns any bytes into a JSON string that parses.
// Run e.g. build-fuzz/fuzz/fuzz_status_text -max_total_time=60
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ctl/filter.hpp"
#include "ctl/pretty.hpp"
#include "daemon/json_writer.hpp"

using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json whole = json::parse(text, nullptr, false);

  static const std::vector<std::vector<std::string>> name_sets = {
      {"dns"}, {"ingress"}, {"a", "b"}, {""}};
  const auto& names = name_sets[size % name_sets.size()];
  const json parsed = l4lb::ctl::parse_for_names(text, names);
  // A JSON document: the same as the filter on the whole. Anything else may lose the
  // entries it skipped (they are not validated), but must not crash.
  if (!whole.is_discarded()) {
    if (parsed.is_discarded()) std::abort();
    const auto a = l4lb::ctl::filter_status(parsed, names);
    const auto b = l4lb::ctl::filter_status(whole, names);
    if (a.status != b.status || a.unknown != b.unknown) std::abort();
  }

  std::string indented;
  l4lb::ctl::indent_json(indented, text);
  if (!whole.is_discarded() && json::parse(indented, nullptr, false) != whole) std::abort();

  std::string quoted;
  l4lb::daemon::append_json_string(quoted, text);
  const json back = json::parse(quoted, nullptr, false);
  if (!back.is_string()) std::abort();
  return 0;
}
