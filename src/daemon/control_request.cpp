#include "daemon/control_request.hpp"

#include <array>
#include <initializer_list>

namespace l4lb::daemon::control {
namespace {

using nlohmann::json;

constexpr const char* kCommands = "status, reload, drain, undrain";

std::string type_of(const json& value) {
  // nlohmann names "number" for every numeric kind; enough to say what was sent.
  return value.type_name();
}

// Fields other than those in `allowed` are refused, so a typo (`servce`) is not silently ignored.
std::optional<RequestError> only_fields(const json& object, const std::string& command,
                                        std::initializer_list<const char*> allowed) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const char* a : allowed) known |= key == a;
    if (known) continue;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return RequestError{"unknown field '" + printable(key) + "' in a '" + command +
                        "' request (fields: " + list + ")"};
  }
  return std::nullopt;
}

// The string value of `field`, absent (nullopt, no error) or an error for any other type.
std::variant<std::optional<std::string>, RequestError> string_field(const json& object,
                                                                    const char* field) {
  auto it = object.find(field);
  if (it == object.end()) return std::optional<std::string>{};
  if (!it->is_string())
    return RequestError{std::string("field '") + field + "' must be a string, got " + type_of(*it)};
  return std::optional<std::string>{it->get_ref<const std::string&>()};
}

std::variant<Request, RequestError> status_request(const json& object) {
  if (auto e = only_fields(object, "status", {"command", "view"})) return *e;
  auto view = string_field(object, "view");
  if (auto* e = std::get_if<RequestError>(&view)) return *e;
  const auto& text = std::get<std::optional<std::string>>(view);
  if (!text || *text == "full") return Request{Status{StatusView::full}};
  if (*text == "summary") return Request{Status{StatusView::summary}};
  return RequestError{"field 'view': '" + printable(*text) + "' is not a view (full, summary)"};
}

template <typename T>
std::variant<Request, RequestError> drain_request(const json& object, const std::string& command) {
  if (auto e = only_fields(object, command, {"command", "backend", "service"})) return *e;
  auto backend = string_field(object, "backend");
  if (auto* e = std::get_if<RequestError>(&backend)) return *e;
  const auto& text = std::get<std::optional<std::string>>(backend);
  if (!text)
    return RequestError{"missing field 'backend' (a string: the backend's IP address) in a '" +
                        command + "' request"};
  auto address = net::Address::parse(*text);
  if (!address)
    return RequestError{"field 'backend': '" + printable(*text) + "' is not an IP address"};
  auto service = string_field(object, "service");
  if (auto* e = std::get_if<RequestError>(&service)) return *e;
  T request{*address, std::get<std::optional<std::string>>(service)};
  // l4lbctl before this protocol sent "service": "" for "every service"; still accepted.
  if (request.service && request.service->empty()) request.service.reset();
  return Request{std::move(request)};
}

}  // namespace

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > max) out += "...";
  return out;
}

std::variant<Request, RequestError> parse_request(std::string_view line) {
  if (line.size() >= kMaxRequestBytes)
    return RequestError{"request longer than " + std::to_string(kMaxRequestBytes) + " bytes"};
  // nlohmann's parser would stop at a NUL and accept what came before it.
  if (auto nul = line.find('\0'); nul != std::string_view::npos)
    return RequestError{"request contains a NUL byte (at byte " + std::to_string(nul + 1) + ")"};
  json object;
  // Parsing is iterative and destruction too (nlohmann 3.11), so deep nesting within the size
  // limit costs memory, not stack. The exception stays inside this function.
  try {
    object = json::parse(line);
  } catch (const json::parse_error& e) {
    return RequestError{"request is not valid JSON (error at byte " + std::to_string(e.byte) + ")"};
  } catch (const json::exception&) {
    return RequestError{"request is not valid JSON"};
  }
  if (!object.is_object())
    return RequestError{"request must be a JSON object, got " + type_of(object)};
  auto command = string_field(object, "command");
  if (auto* e = std::get_if<RequestError>(&command)) return *e;
  const auto& name = std::get<std::optional<std::string>>(command);
  if (!name)
    return RequestError{std::string("missing field 'command' (a string: ") + kCommands + ")"};
  if (*name == "status") return status_request(object);
  if (*name == "reload") {
    if (auto e = only_fields(object, *name, {"command"})) return *e;
    return Request{Reload{}};
  }
  if (*name == "drain") return drain_request<Drain>(object, *name);
  if (*name == "undrain") return drain_request<Undrain>(object, *name);
  return RequestError{"unknown command '" + printable(*name) + "' (commands: " + kCommands + ")"};
}

const char* command_name(const Request& request) {
  static constexpr std::array<const char*, 4> names = {"status", "reload", "drain", "undrain"};
  return names[request.index()];
}

bool is_mutating(const Request& request) { return !std::holds_alternative<Status>(request); }

}  // namespace l4lb::daemon::control
