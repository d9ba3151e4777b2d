#include "daemon/control_dispatch.hpp"

#include <exception>
#include <memory>

namespace l4lb::daemon::control {

nlohmann::json error_reply(const std::string& message) {
  return {{"ok", false}, {"error", message}};
}

void answer(std::string_view line, const Peer& peer, const AccessPolicy& policy,
            const Handlers& handlers, Reply reply) {
  // A handler that throws after replying must not reply twice; one that throws before must
  // still get its error reply out.
  auto replied = std::make_shared<bool>(false);
  Reply once(
      [replied, reply](nlohmann::json response) {
        if (*replied) return;
        *replied = true;
        reply(std::move(response));
      },
      [replied, reply]() -> TextFanout::Reader {
        if (*replied) return [](TextFanout::Event, const TextStream::Chunk&) { return false; };
        *replied = true;
        return reply.stream();
      });
  try {
    auto parsed = parse_request(line);
    if (auto* e = std::get_if<RequestError>(&parsed)) return once(error_reply(e->message));
    const Request& request = std::get<Request>(parsed);
    if (auto denied = authorise(request, peer, policy)) return once(error_reply(*denied));
    if (const auto* s = std::get_if<Status>(&request)) return handlers.status(s->view, once);
    if (std::holds_alternative<Reload>(request)) return handlers.reload(once);
    if (const auto* d = std::get_if<Drain>(&request))
      return once(handlers.drain(d->backend, d->service, true));
    const auto& u = std::get<Undrain>(request);
    return once(handlers.drain(u.backend, u.service, false));
  } catch (const std::exception& e) {
    once(error_reply(std::string("internal error: ") + e.what()));
  } catch (...) {
    once(error_reply("internal error"));
  }
}

}  // namespace l4lb::daemon::control
