// The control protocol's parser, authorisation and routing (docs/CONTROL.md): every command,
// every wrong type, missing and unknown fields, non-objects and oversized input.
#include "daemon/control_request.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "daemon/control_access.hpp"
#include "daemon/control_dispatch.hpp"

using namespace l4lb;
using namespace l4lb::daemon::control;

namespace {

Request ok(const std::string& line) {
  auto r = parse_request(line);
  if (auto* e = std::get_if<RequestError>(&r)) FAIL_CHECK(line << " -> " << e->message);
  REQUIRE(std::holds_alternative<Request>(r));
  return std::get<Request>(r);
}

std::string error(const std::string& line) {
  auto r = parse_request(line);
  REQUIRE(std::holds_alternative<RequestError>(r));
  return std::get<RequestError>(r).message;
}

net::Address ip(const char* text) { return *net::Address::parse(text); }

}  // namespace

TEST_CASE("every command parses to its typed request") {
  CHECK(std::holds_alternative<Status>(ok(R"({"command":"status"})")));
  CHECK(std::holds_alternative<Reload>(ok(R"({"command":"reload"})")));
  CHECK(std::holds_alternative<Status>(ok(" { \"command\" : \"status\" } \r")));

  auto d = std::get<Drain>(ok(R"({"command":"drain","backend":"10.0.0.1"})"));
  CHECK(d.backend == ip("10.0.0.1"));
  CHECK_FALSE(d.service);
  d = std::get<Drain>(ok(R"({"command":"drain","backend":"2001:db8::5","service":"web"})"));
  CHECK(d.backend == ip("2001:db8::5"));
  CHECK(d.service == std::optional<std::string>("web"));
  // What l4lbctl sent before this protocol for "every service".
  d = std::get<Drain>(ok(R"({"command":"drain","backend":"10.0.0.1","service":""})"));
  CHECK_FALSE(d.service);

  auto u = std::get<Undrain>(ok(R"({"service":"db","backend":"10.0.0.2","command":"undrain"})"));
  CHECK(u.backend == ip("10.0.0.2"));
  CHECK(u.service == std::optional<std::string>("db"));

  CHECK(std::string(command_name(ok(R"({"command":"undrain","backend":"::1"})"))) == "undrain");
  CHECK_FALSE(is_mutating(Request{Status{}}));
  CHECK(is_mutating(Request{Reload{}}));
  CHECK(is_mutating(Request{Drain{}}));
  CHECK(is_mutating(Request{Undrain{}}));
}

TEST_CASE("a field of the wrong type names the field and the expected type") {
  CHECK(error(R"({"command":1})") == "field 'command' must be a string, got number");
  CHECK(error(R"({"command":null})") == "field 'command' must be a string, got null");
  CHECK(error(R"({"command":["status"]})") == "field 'command' must be a string, got array");
  CHECK(error(R"({"command":{"a":1}})") == "field 'command' must be a string, got object");
  CHECK(error(R"({"command":true})") == "field 'command' must be a string, got boolean");
  CHECK(error(R"({"command":"drain","backend":5})") ==
        "field 'backend' must be a string, got number");
  CHECK(error(R"({"command":"undrain","backend":false})") ==
        "field 'backend' must be a string, got boolean");
  CHECK(error(R"({"command":"drain","backend":"10.0.0.1","service":[1]})") ==
        "field 'service' must be a string, got array");
  CHECK(error(R"({"command":"drain","backend":"10.0.0.1","service":2.5})") ==
        "field 'service' must be a string, got number");
}

TEST_CASE("missing fields, bad values and unknown commands") {
  CHECK(error("{}") == "missing field 'command' (a string: status, reload, drain, undrain)");
  CHECK(error(R"({"command":"drain"})") ==
        "missing field 'backend' (a string: the backend's IP address) in a 'drain' request");
  CHECK(error(R"({"command":"undrain","service":"web"})") ==
        "missing field 'backend' (a string: the backend's IP address) in a 'undrain' request");
  CHECK(error(R"({"command":"drain","backend":"web1"})") ==
        "field 'backend': 'web1' is not an IP address");
  CHECK(error(R"({"command":"drain","backend":""})") == "field 'backend': '' is not an IP address");
  CHECK(error(R"({"command":"frobnicate"})") ==
        "unknown command 'frobnicate' (commands: status, reload, drain, undrain)");
  CHECK(error(R"({"command":""})") ==
        "unknown command '' (commands: status, reload, drain, undrain)");
  CHECK(error(R"({"command":"STATUS"})").starts_with("unknown command 'STATUS'"));
}

TEST_CASE("unknown fields are refused, naming the field and the allowed ones") {
  CHECK(error(R"({"command":"status","verbose":true})") ==
        "unknown field 'verbose' in a 'status' request (fields: command, view)");
  CHECK(error(R"({"command":"reload","file":"/etc/passwd"})") ==
        "unknown field 'file' in a 'reload' request (fields: command)");
  CHECK(error(R"({"command":"drain","backend":"10.0.0.1","servce":"web"})") ==
        "unknown field 'servce' in a 'drain' request (fields: command, backend, service)");
  CHECK(error(R"({"command":"status","backend":"10.0.0.1"})") ==
        "unknown field 'backend' in a 'status' request (fields: command, view)");
}

TEST_CASE("status takes an optional view, full by default") {
  auto view = [](const char* line) { return std::get<Status>(ok(line)).view; };
  CHECK(view(R"({"command":"status"})") == StatusView::full);
  CHECK(view(R"({"command":"status","view":"full"})") == StatusView::full);
  CHECK(view(R"({"command":"status","view":"summary"})") == StatusView::summary);
  CHECK(error(R"({"command":"status","view":"brief"})") ==
        "field 'view': 'brief' is not a view (full, summary)");
  CHECK(error(R"({"command":"status","view":1})") == "field 'view' must be a string, got number");
}

TEST_CASE("anything but one JSON object is an error") {
  CHECK(error("") == "request is not valid JSON (error at byte 1)");
  CHECK(error("status") == "request is not valid JSON (error at byte 1)");
  CHECK(error(R"({"command":"status"} {)") == "request is not valid JSON (error at byte 22)");
  CHECK(error(R"({"command":"status")") == "request is not valid JSON (error at byte 20)");
  CHECK(error("[]") == "request must be a JSON object, got array");
  CHECK(error("\"status\"") == "request must be a JSON object, got string");
  CHECK(error("42") == "request must be a JSON object, got number");
  CHECK(error("null") == "request must be a JSON object, got null");
  CHECK(error(std::string("{\"command\":\"st\xff\"}")) ==
        "request is not valid JSON (error at byte 15)");
  CHECK(error(std::string("{\"command\":\"status\"}\0", 21)) ==
        "request contains a NUL byte (at byte 21)");
  CHECK(error(std::string("{\"command\":\"sta\0tus\"}", 21)) ==
        "request contains a NUL byte (at byte 16)");
}

TEST_CASE("huge and deeply nested input is refused without trouble") {
  CHECK(error(std::string(kMaxRequestBytes, ' ')) == "request longer than 65536 bytes");
  // Just under the limit: parsed normally (whitespace padding is legal JSON).
  std::string padded = R"({"command":"status"})";
  padded.append(kMaxRequestBytes - 1 - padded.size(), ' ');
  CHECK(std::holds_alternative<Status>(ok(padded)));
  // 30,000 levels of nesting: parsing and destruction are iterative, so no stack overflow.
  std::string deep = "{\"command\":" + std::string(30000, '[') + std::string(30000, ']') + "}";
  CHECK(error(deep) == "field 'command' must be a string, got array");
  std::string unclosed(60000, '[');
  CHECK(error(unclosed).starts_with("request is not valid JSON"));
  // Untrusted text echoed in errors is cut short and kept printable ASCII (the reply must
  // be valid UTF-8 even when the request's string was not cut at a character boundary).
  std::string long_name = "{\"command\":\"" + std::string(1000, 'x') + "\"}";
  CHECK(error(long_name) == "unknown command '" + std::string(64, 'x') +
                                "...' (commands: status, reload, drain, undrain)");
  CHECK(error("{\"command\":\"\\u00e9\\n\"}") ==
        std::string("unknown command '") + "???" + "' (commands: status, reload, drain, undrain)");
}

TEST_CASE("printable keeps printable ASCII and marks everything else") {
  CHECK(printable("web-1") == "web-1");
  CHECK(printable("a\tb\x7f\xc3\xa9") == "a?b???");
  CHECK(printable("abcdef", 3) == "abc...");
  CHECK(printable("") == "");
}

TEST_CASE("authorise: status for anyone connected, mutations for root or the admin group") {
  const Peer root{0, 0, {}};
  const Peer member{1000, 1000, {50, 900}};  // admin group 900 as a supplementary group
  const Peer primary{1001, 900, {}};         // admin group as the primary group
  const Peer other{1002, 1002, {50}};        // only in the socket's group (50)
  const AccessPolicy none{};
  const AccessPolicy admins{"l4lb-admin", 900};
  const AccessPolicy missing{"l4lb-admin", std::nullopt};

  for (const Peer& p : {root, member, primary, other})
    for (const AccessPolicy& policy : {none, admins, missing})
      CHECK_FALSE(authorise(Status{}, p, policy));
  for (const Request& r : {Request{Reload{}}, Request{Drain{}}, Request{Undrain{}}}) {
    for (const AccessPolicy& policy : {none, admins, missing})
      CHECK_FALSE(authorise(r, root, policy));
    CHECK_FALSE(authorise(r, member, admins));
    CHECK_FALSE(authorise(r, primary, admins));
    CHECK(authorise(r, other, admins));
    CHECK(authorise(r, member, none));
    CHECK(authorise(r, member, missing));
  }
  CHECK(authorise(Reload{}, other, admins) ==
        std::optional<std::string>("permission denied: 'reload' needs root or group l4lb-admin"));
  CHECK(authorise(Drain{}, member, none) ==
        std::optional<std::string>(
            "permission denied: 'drain' needs root (no control.admin_group is configured)"));
  CHECK(authorise(Undrain{}, member, missing) ==
        std::optional<std::string>("permission denied: 'undrain' needs root or group l4lb-admin "
                                   "(which does not exist on this host)"));
  // An unknown peer (SO_PEERCRED failed) is treated as nobody.
  CHECK(authorise(Reload{}, Peer{static_cast<uid_t>(-1), static_cast<gid_t>(-1), {}}, admins));
}

namespace {

struct Calls {
  std::vector<std::string> seen;
  std::vector<nlohmann::json> replies;
  Handlers handlers() {
    return Handlers{[this](StatusView v, Reply r) {
                      seen.push_back(v == StatusView::summary ? "status summary" : "status");
                      r({{"ok", true}, {"status", {{"schema", 1}}}});
                    },
                    [this](Reply r) {
                      seen.push_back("reload");
                      r({{"ok", true}, {"changes", nlohmann::json::array()}});
                    },
                    [this](const net::Address& b, const std::optional<std::string>& s, bool add) {
                      seen.push_back(std::string(add ? "drain " : "undrain ") + b.to_string() +
                                     " " + s.value_or("*"));
                      return nlohmann::json{{"ok", true}, {"message", "done"}};
                    }};
  }
  void answer_line(const std::string& line, const Peer& peer, const AccessPolicy& policy = {}) {
    auto h = handlers();
    answer(line, peer, policy, h, [this](nlohmann::json j) { replies.push_back(std::move(j)); });
  }
};

}  // namespace

TEST_CASE("answer routes typed requests and replies exactly once") {
  Calls c;
  const Peer root{0, 0, {}};
  c.answer_line(R"({"command":"status"})", root);
  c.answer_line(R"({"command":"status","view":"summary"})", root);
  c.answer_line(R"({"command":"reload"})", root);
  c.answer_line(R"({"command":"drain","backend":"10.0.0.1","service":"web"})", root);
  c.answer_line(R"({"command":"undrain","backend":"10.0.0.1"})", root);
  CHECK(c.seen == std::vector<std::string>{"status", "status summary", "reload",
                                           "drain 10.0.0.1 web", "undrain 10.0.0.1 *"});
  REQUIRE(c.replies.size() == 5);
  CHECK(c.replies[0]["status"]["schema"] == 1);
  CHECK(c.replies[4]["message"] == "done");

  // Errors never reach a handler.
  c = Calls{};
  c.answer_line(R"({"command":1})", root);
  c.answer_line(R"({"command":"drain","backend":5})", root);
  c.answer_line("\x01\x02garbage", root);
  c.answer_line(R"({"command":"reload"})", Peer{1000, 1000, {}});
  CHECK(c.seen.empty());
  REQUIRE(c.replies.size() == 4);
  for (const auto& r : c.replies) CHECK(r["ok"] == false);
  CHECK(c.replies[0]["error"] == "field 'command' must be a string, got number");
  CHECK(c.replies[3]["error"] ==
        "permission denied: 'reload' needs root (no control.admin_group is configured)");
  // A non-root member of the admin group may reload.
  c.answer_line(R"({"command":"reload"})", Peer{1000, 1000, {7}}, AccessPolicy{"ops", 7});
  CHECK(c.seen == std::vector<std::string>{"reload"});
}

TEST_CASE("a throwing handler becomes one error reply, never an escaping exception") {
  std::vector<nlohmann::json> replies;
  Handlers h{[](StatusView, Reply r) {
               r({{"ok", true}});
               throw std::runtime_error("after replying");
             },
             [](Reply) { throw std::runtime_error("boom"); },
             [](const net::Address&, const std::optional<std::string>&, bool) -> nlohmann::json {
               throw 42;
             }};
  auto collect = [&](nlohmann::json j) { replies.push_back(std::move(j)); };
  const Peer root{0, 0, {}};
  CHECK_NOTHROW(answer(R"({"command":"status"})", root, {}, h, collect));
  CHECK_NOTHROW(answer(R"({"command":"reload"})", root, {}, h, collect));
  CHECK_NOTHROW(answer(R"({"command":"drain","backend":"::1"})", root, {}, h, collect));
  REQUIRE(replies.size() == 3);
  CHECK(replies[0]["ok"] == true);
  CHECK(replies[1]["error"] == "internal error: boom");
  CHECK(replies[2]["error"] == "internal error");
}

TEST_CASE("a pre-serialised reply reaches the session as the same line, once") {
  // Status is rendered off the loop into one shared line; the session must send those bytes,
  // not a re-serialised copy, and a handler replying twice still sends one line.
  auto line = std::make_shared<const std::string>("{\"ok\":true,\"status\":{\"schema\":1}}\n");
  Handlers h{[&](StatusView, Reply r) {
               r.raw(line);
               r({{"ok", false}});
             },
             [](Reply r) {
               r({{"ok", true}});
             },
             [](const net::Address&, const std::optional<std::string>&, bool) {
               return nlohmann::json{{"ok", true}};
             }};
  std::vector<nlohmann::json> json_replies;
  std::vector<Reply::Line> raw_replies;
  int ends = 0;
  Reply sink([&](nlohmann::json j) { json_replies.push_back(std::move(j)); },
             [&]() -> l4lb::daemon::TextFanout::Reader {
               return [&](l4lb::daemon::TextFanout::Event e, const Reply::Line& l) {
                 if (e == l4lb::daemon::TextFanout::Event::chunk) raw_replies.push_back(l);
                 if (e == l4lb::daemon::TextFanout::Event::end) ++ends;
                 return true;
               };
             });
  answer(R"({"command":"status"})", Peer{0, 0, {}}, {}, h, sink);
  REQUIRE(raw_replies.size() == 1);
  CHECK(raw_replies[0] == line);  // the very same buffer
  CHECK(ends == 1);
  CHECK(json_replies.empty());

  // A JSON-only sink (tests, the fuzzer) gets the raw line parsed back.
  std::vector<nlohmann::json> parsed;
  answer(R"({"command":"status"})", Peer{0, 0, {}}, {}, h,
         [&](nlohmann::json j) { parsed.push_back(std::move(j)); });
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["status"]["schema"] == 1);
}
