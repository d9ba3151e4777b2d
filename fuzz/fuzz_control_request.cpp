// Control requests: arbitrary bytes as the request line, through parse, validation,
// authorisation and routing (control::answer) to a set of fake handlers. Checks that every line
// gets exactly one reply, that the reply is an object with a boolean "ok" and always
// serialises, and that only a well-formed, authorised request reaches a handler.
// Run e.g. build-fuzz/fuzz/fuzz_control_request -max_total_time=60
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/control_dispatch.hpp"

using namespace l4lb;
using namespace l4lb::daemon::control;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);

  // The peer and the policy come from the input's length, so the same line is tried as root,
  // as an admin and as a plain member across runs without changing its bytes.
  static const Peer peers[] = {{0, 0, {}}, {1000, 1000, {7}}, {1001, 7, {}}, {1002, 1002, {5}}};
  static const AccessPolicy policies[] = {{}, {"ops", 7}, {"gone", std::nullopt}};
  const Peer& peer = peers[size % 4];
  const AccessPolicy& policy = policies[(size / 4) % 3];

  int handled = 0;
  Handlers handlers{
      [&](StatusView, Reply r) {
        ++handled;
        r({{"ok", true}, {"status", {{"schema", 1}}}});
      },
      [&](Reply r) {
        ++handled;
        r({{"ok", true}, {"changes", nlohmann::json::array()}});
      },
      [&](const net::Address& backend, const std::optional<std::string>& service, bool add) {
        ++handled;
        if (service && service->empty()) std::abort();  // "" must mean "every service"
        return nlohmann::json{{"ok", true},
                              {"message", std::string(add ? "drained " : "undrained ") +
                                              backend.to_string() + " " + service.value_or("*")}};
      }};

  int replies = 0;
  nlohmann::json last;
  answer(line, peer, policy, handlers, [&](nlohmann::json response) {
    ++replies;
    last = std::move(response);
  });
  if (replies != 1) std::abort();
  if (!last.is_object() || !last.contains("ok") || !last["ok"].is_boolean()) std::abort();
  (void)last.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);

  // A handler ran exactly when the line is a valid request that this peer may make.
  auto parsed = parse_request(line);
  const bool valid = std::holds_alternative<Request>(parsed);
  const bool allowed = valid && !authorise(std::get<Request>(parsed), peer, policy);
  if (handled != (allowed ? 1 : 0)) std::abort();
  if (!valid && last["ok"] != false) std::abort();
  return 0;
}
