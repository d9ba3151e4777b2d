// One control session's work after the request line has arrived: parse and validate it
// (control_request), authorise it for the peer (control_access), and route the typed request to
// the daemon's handler. Every way this can fail ends in exactly one error reply; no exception
// leaves answer(). Free of sockets, so the fuzzer drives it with fake handlers.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/address.hpp"
#include "daemon/control_access.hpp"
#include "daemon/control_request.hpp"
#include "daemon/text_stream.hpp"

namespace l4lb::daemon::control {

// Sends the response line; the session closes after it. A response is a JSON object, or a line
// serialised off the loop and streamed in chunks (one JSON object and its "\n", the chunks
// possibly shared by several sessions, so a large status is neither copied nor dumped on the
// loop, nor ever whole in memory).
class Reply {
 public:
  using Line = std::shared_ptr<const std::string>;
  using JsonSink = std::function<void(nlohmann::json response)>;
  // Called once per streamed reply: the reader that takes its chunks (TextFanout::Reader).
  using StreamSink = std::function<TextFanout::Reader()>;
  // A sink of JSON only (tests, the fuzzer): streamed lines reach it parsed back.
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Reply> &&
           std::is_invocable_v<F&, nlohmann::json>) Reply(F json)
      : json_(std::move(json)) {}
  Reply(JsonSink json, StreamSink stream) : json_(std::move(json)), stream_(std::move(stream)) {}

  void operator()(nlohmann::json response) const { json_(std::move(response)); }
  // The reader for a streamed reply.
  TextFanout::Reader stream() const {
    if (stream_) return stream_();
    auto text = std::make_shared<std::string>();
    return [json = json_, text](TextFanout::Event e, const TextStream::Chunk& chunk) {
      if (e == TextFanout::Event::chunk) {
        *text += *chunk;
        return true;
      }
      auto parsed = e == TextFanout::Event::end
                        ? nlohmann::json::parse(*text, nullptr, false)
                        : nlohmann::json(nlohmann::json::value_t::discarded);
      json(parsed.is_discarded() ? error_of("unparsable raw reply") : std::move(parsed));
      return false;
    };
  }
  // A whole line as a stream of one chunk.
  void raw(Line line) const {
    auto reader = stream();
    if (reader(TextFanout::Event::chunk, line)) reader(TextFanout::Event::end, nullptr);
  }

 private:
  static nlohmann::json error_of(const std::string& message) {
    return {{"ok", false}, {"error", message}};
  }
  JsonSink json_;
  StreamSink stream_;
};

struct Handlers {
  // status and reload call their reply exactly once, now or later on the loop (status is
  // rendered, a reload's file loaded, off the loop).
  std::function<void(StatusView, Reply)> status;
  std::function<void(Reply)> reload;
  // add: drain, otherwise undrain. No service: every service.
  std::function<nlohmann::json(const net::Address& backend,
                               const std::optional<std::string>& service, bool add)>
      drain;
};

nlohmann::json error_reply(const std::string& message);

// `line` without its newline. `reply` is called exactly once (for status and reload possibly
// later).
void answer(std::string_view line, const Peer& peer, const AccessPolicy& policy,
            const Handlers& handlers, Reply reply);

}  // namespace l4lb::daemon::control
