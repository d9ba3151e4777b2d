// The control protocol's requests (docs/CONTROL.md): one line of untrusted bytes from the
// control socket becomes a typed request or a clear error. This is the only place that looks
// into the request's JSON; everything after it works on the typed values, so a field of the
// wrong type can never throw on the event loop. Pure: no I/O, no clock.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/address.hpp"

namespace l4lb::daemon::control {

// The request line limit, newline included; the server stops reading beyond it.
constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// How much of the status document to render (docs/STATUS.md, "Views"): everything, or what an
// operator looks at first, which stays cheap at 10,000 services.
enum class StatusView { full, summary };
struct Status {
  StatusView view = StatusView::full;
};
struct Reload {};
// drain / undrain: `backend` in `service`, or in every service when `service` is absent.
struct Drain {
  net::Address backend;
  std::optional<std::string> service;
};
struct Undrain {
  net::Address backend;
  std::optional<std::string> service;
};
using Request = std::variant<Status, Reload, Drain, Undrain>;

struct RequestError {
  std::string message;  // names the field and what was expected; safe to send back
};

// `line` is one request without its newline. Accepts exactly the documented fields: unknown
// fields, wrong types, missing fields and anything but a JSON object are errors.
std::variant<Request, RequestError> parse_request(std::string_view line);

// "status", "reload", "drain", "undrain".
const char* command_name(const Request& request);
// Whether the request changes the daemon's state (needs the admin permission).
bool is_mutating(const Request& request);

// At most `max` bytes of untrusted text for an error message: printable ASCII kept, anything
// else as '?', so the reply is always valid UTF-8.
std::string printable(std::string_view text, std::size_t max = 64);

}  // namespace l4lb::daemon::control
