// health_probe: runs the real health::Monitor against a JSON description of services for a
// while and prints what happens as JSON lines on stdout. Used by the netns tests and the
// benchmark (bench/health.py); not installed.
//
//   health_probe --config checks.json [--duration SECONDS] [--stats SECONDS] [--summary]
//
// checks.json:
//   {"start_mode": "fast"|"strict",
//    "services": [{"name": "web", "ports": [80],
//                  "health": {"type": "tcp", "interval_ms": 1000, "timeout_ms": 500, "rise": 2,
//                             "fall": 3, "port": 8080, "address": "...", "source": "...",
//                             "send": "...", "expect": "...", "expect_prefix": false,
//                             "handshake": "auto"|"half-open"|"full",
//                             "path": "/", "host": "...", "expect_status": [[200, 399]],
//                             "max_response_bytes": 65536},
//                  "backends": [{"address": "10.0.0.1", "port": 8080, "weight": 1}],
//                  "backend_range": {"first": "127.1.0.1", "count": 10000, "port": 9000}}]}
// backend_range adds `count` consecutive IPv4 addresses (for benchmarks).
//
// Output lines: {"event":"start"...}, {"event":"transition",...} per status change,
// {"event":"stats",...} every --stats seconds, {"event":"reload"} after SIGHUP (the file is
// read again and applied), and {"event":"end",...} (with every backend under --summary).
#include <sys/resource.h>
#include <sys/times.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "health/monitor.hpp"

using json = nlohmann::json;
using namespace l4lb;

namespace {

net::Address addr(const json& j) {
  auto a = net::Address::parse(j.get<std::string>());
  if (!a) throw std::runtime_error("bad address: " + j.dump());
  return *a;
}

config::HealthType health_type(const std::string& t) {
  if (t == "tcp") return config::HealthType::tcp;
  if (t == "udp") return config::HealthType::udp;
  if (t == "http") return config::HealthType::http;
  if (t == "none") return config::HealthType::none;
  throw std::runtime_error("bad health type: " + t);
}

config::Health parse_health(const json& j) {
  config::Health h;
  if (j.contains("type")) h.type = health_type(j["type"]);
  if (j.contains("port")) h.port = j["port"].get<std::uint16_t>();
  if (j.contains("per_port")) h.per_port = j["per_port"].get<bool>();
  if (j.contains("address")) h.address = addr(j["address"]);
  if (j.contains("source")) h.source = addr(j["source"]);
  if (j.contains("interval_ms")) h.interval = Duration(j["interval_ms"].get<int>());
  if (j.contains("timeout_ms")) h.timeout = Duration(j["timeout_ms"].get<int>());
  if (j.contains("rise")) h.rise = j["rise"];
  if (j.contains("fall")) h.fall = j["fall"];
  if (j.contains("send")) h.send = j["send"];
  if (j.contains("expect")) h.expect = j["expect"].get<std::string>();
  if (j.contains("expect_prefix")) h.expect_prefix = j["expect_prefix"];
  if (j.contains("handshake")) {
    const auto hs = j["handshake"].get<std::string>();
    if (hs == "auto")
      h.handshake = config::Handshake::automatic;
    else if (hs == "half-open")
      h.handshake = config::Handshake::half_open;
    else if (hs == "full")
      h.handshake = config::Handshake::full;
    else
      throw std::runtime_error("bad handshake: " + hs);
  }
  if (j.contains("path")) h.path = j["path"];
  if (j.contains("host")) h.host = j["host"];
  if (j.contains("expect_status")) {
    h.expect_status.clear();
    for (const auto& r : j["expect_status"]) h.expect_status.emplace_back(r[0], r[1]);
  }
  if (j.contains("max_response_bytes")) h.max_response_bytes = j["max_response_bytes"];
  return h;
}

struct Input {
  std::vector<config::Service> services;
  health::StartMode start_mode = health::StartMode::fast;
};

Input load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  const json doc = json::parse(f);
  Input in;
  if (doc.value("start_mode", "fast") == "strict") in.start_mode = health::StartMode::strict;
  for (const auto& js : doc.at("services")) {
    config::Service s;
    s.name = js.at("name");
    for (const auto& p : js.value("ports", json::array())) s.ports.push_back(p);
    if (js.contains("health")) s.health = config::SharedHealth(parse_health(js["health"]));
    for (const auto& jb : js.value("backends", json::array())) {
      config::Backend b;
      b.address = addr(jb.at("address"));
      if (jb.contains("port")) b.port = jb["port"].get<std::uint16_t>();
      b.weight = jb.value("weight", 1u);
      s.backends.push_back(b);
    }
    if (js.contains("backend_range")) {
      const auto& r = js["backend_range"];
      const in_addr first = addr(r.at("first")).to_v4();
      const std::uint32_t base = ntohl(first.s_addr);
      for (std::uint32_t i = 0; i < r.at("count").get<std::uint32_t>(); ++i) {
        config::Backend b;
        in_addr a{htonl(base + i)};
        b.address = net::Address::from_v4(a);
        if (r.contains("port")) b.port = r["port"].get<std::uint16_t>();
        s.backends.push_back(b);
      }
    }
    in.services.push_back(std::move(s));
  }
  return in;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void emit(const json& j) { std::cout << j.dump() << '\n' << std::flush; }

json backend_json(const health::BackendKey& k, const health::BackendHealth& h) {
  json failures = json::object();
  h.for_each_failure([&](std::string_view r, std::uint64_t n) { failures[std::string(r)] = n; });
  return {{"service", k.service},
          {"port", k.port},
          {"backend", k.address.to_string()},
          {"status", std::string(health::to_string(h.status))},
          {"checks", h.checks()},
          {"successes", h.successes()},
          {"failures", failures},
          {"last_error", h.last_error()},
          {"last_latency_us", h.last_latency() ? json(h.last_latency()->count()) : json()},
          {"transitions", h.transitions}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"health_probe: run health::Monitor against a JSON check list"};
  std::string config_path;
  double duration = 10;
  double stats_every = 0;
  bool summary = false;
  app.add_option("-c,--config", config_path, "JSON check description")->required();
  app.add_option("-d,--duration", duration, "seconds to run (0: until SIGTERM)");
  app.add_option("--stats", stats_every, "print a stats line every N seconds");
  app.add_flag("--summary", summary, "list every backend in the end line");
  CLI11_PARSE(app, argc, argv);

  // 10,000 checks may overlap by a few hundred sockets; the soft limit is often 1024.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  Input input;
  try {
    input = load(config_path);
  } catch (const std::exception& e) {
    std::cerr << "health_probe: " << e.what() << '\n';
    return 2;
  }

  boost::asio::io_context io;
  const auto t0 = Clock::now();
  health::Monitor* mp = nullptr;
  health::Monitor monitor(io, [&](const health::BackendKey& k, health::Status s) {
    const auto h = mp->get(k);
    json j{{"event", "transition"},
           {"t", seconds_since(t0)},
           {"service", k.service},
           {"port", k.port},
           {"backend", k.address.to_string()},
           {"status", std::string(health::to_string(s))}};
    if (h) {
      j["checks"] = h->checks();
      j["consecutive_ok"] = h->consecutive_ok;
      j["consecutive_fail"] = h->consecutive_fail;
      j["error"] = h->last_error();
    }
    if (auto spec = mp->spec(k)) j["target"] = spec->target();
    emit(j);
  });
  mp = &monitor;
  monitor.set_start_mode(input.start_mode);
  monitor.apply(input.services);
  emit({{"event", "start"}, {"t", 0.0}, {"checks", monitor.size()}, {"pid", ::getpid()}});

  auto finish = [&] {
    json end{{"event", "end"}, {"t", seconds_since(t0)}};
    std::map<std::string, int> counts;
    json all = json::array();
    monitor.for_each([&](const health::BackendKey& k, const health::BackendHealth& h) {
      counts[std::string(health::to_string(h.status))]++;
      if (summary) all.push_back(backend_json(k, h));
    });
    end["status_counts"] = counts;
    const auto st = monitor.stats();
    end["probes_started"] = st.probes_started;
    end["probes_finished"] = st.probes_finished;
    end["syn"] = {{"sent", st.half_open.sent},
                  {"answered", st.half_open.answers},
                  {"stray", st.half_open.stray},
                  {"malformed", st.half_open.malformed},
                  {"send_errors", st.half_open.send_errors},
                  {"buffer_overflows", st.half_open.buffer_overflows}};
    if (summary) end["backends"] = all;
    emit(end);
    monitor.shutdown();
    io.stop();
  };

  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig != SIGHUP) return finish();
      try {
        input = load(config_path);
        monitor.apply(input.services);
        emit({{"event", "reload"}, {"t", seconds_since(t0)}, {"checks", monitor.size()}});
      } catch (const std::exception& e) {
        emit({{"event", "reload_failed"}, {"t", seconds_since(t0)}, {"error", e.what()}});
      }
      wait_signal();
    });
  };
  wait_signal();

  boost::asio::steady_timer end_timer(io);
  if (duration > 0) {
    end_timer.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration)));
    end_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) finish();
    });
  }
  boost::asio::steady_timer stats_timer(io);
  std::function<void()> stats_tick = [&] {
    stats_timer.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(stats_every)));
    stats_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      std::map<std::string, int> counts;
      monitor.for_each([&](const health::BackendKey&, const health::BackendHealth& h) {
        counts[std::string(health::to_string(h.status))]++;
      });
      const auto st = monitor.stats();
      emit({{"event", "stats"},
            {"t", seconds_since(t0)},
            {"status_counts", counts},
            {"probes_started", st.probes_started},
            {"probes_finished", st.probes_finished},
            {"in_flight", st.in_flight}});
      stats_tick();
    });
  };
  if (stats_every > 0) stats_tick();
  io.run();
  return 0;
}
