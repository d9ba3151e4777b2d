#include "config/loader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

#include "common/read_piece.hpp"
#include "config/keys.hpp"
#include "config/reporter.hpp"
#include "config/schema.hpp"
#include "config/text_check.hpp"
#include "config/values.hpp"
#include "config/yaml_dom.hpp"
#include "config/yaml_reader.hpp"

namespace l4lb::config {
namespace {

// sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
constexpr std::size_t kMaxSocketPath = 107;

void parse_globals(const MapView& top, Config& c, Reporter& r) {
  if (auto* f = top.find("node_name")) {
    auto s = read_name(*f, r);
    if (s) c.node_name = *s;
  }
  if (auto* f = top.find("state_dir")) {
    auto s = read_path(*f, 4000, r);
    if (s) c.state_dir = *s;
  }
  if (auto* f = top.find("control")) {
    MapView m(*f, "control", kControlKeys, r);
    if (auto* s = m.find("socket")) {
      auto p = read_path(*s, kMaxSocketPath, r);
      if (p) c.control.socket = *p;
    }
    if (auto* g = m.find("group")) {
      auto s = read_name(*g, r);
      if (s) c.control.group = *s;
    }
    if (auto* g = m.find("admin_group")) {
      auto s = read_name(*g, r);
      if (s) c.control.admin_group = *s;
    }
  }
  if (auto* f = top.find("metrics")) {
    MapView m(*f, "metrics", kMetricsKeys, r);
    if (auto* l = m.find("listen")) {
      auto s = read_string(*l, r);
      if (s) {
        auto hp = parse_host_port(*s);
        if (hp)
          c.metrics.listen = *s;
        else
          r.error(l->at, fmt::format("listen: {}", hp.error));
      }
    }
  }
  if (auto* f = top.find("ipvs")) parse_ipvs(*f, c.ipvs, r);
  if (auto* f = top.find("remove_services_on_exit")) {
    auto b = read_bool(*f, r);
    if (b) c.remove_services_on_exit = *b;
  }
  if (auto* f = top.find("realtime_priority")) {
    auto n = read_int(*f, 0, 99, r);
    if (n) c.realtime_priority = static_cast<int>(*n);
  }
}

// The services list, one item at a time: while the file is parsed (yaml::StreamedList), each
// item as soon as it is complete.
class ServicesReader {
 public:
  ServicesReader(Config& c, Marks& marks, Reporter& r, std::size_t expected)
      : c_(c), marks_(marks), r_(r) {
    // Sized up front: growing by doubling moved every Service at each step (a quarter of the
    // load's page faults at 10,000 services). Reserved but untouched pages cost nothing.
    c.services.reserve(expected);
    marks.services.reserve(expected);
    marks.all_service_names.reserve(expected);
    names_.reserve(expected);
  }

  void item(const Value& item) {
    ServiceMarks sm;
    auto s = parse_service(item, sm, r_);
    if (!sm.name.empty()) {
      sm.name = marks_.name_store.emplace_back(sm.name);
      auto [it, fresh] = names_.emplace(sm.name, sm.name_at);
      if (!fresh) {
        r_.error(sm.name_at, fmt::format("name: duplicate service name '{}' (first at line {})",
                                         sm.name, it->second.line));
        return;
      }
      marks_.all_service_names.push_back(sm.name);
    }
    if (s) {
      share_health(*s);
      c_.services.push_back(std::move(*s));
      marks_.services.push_back(std::move(sm));
    }
  }

 private:
  Config& c_;
  Marks& marks_;
  Reporter& r_;
  std::unordered_map<std::string_view, Location> names_;  // into marks_.name_store
  // The distinct health settings met so far (a few at most in a real file): a service whose
  // settings equal one of them points to that instance (config::SharedHealth says why).
  std::vector<SharedHealth> healths_;

  void share_health(Service& s) {
    for (const auto& h : healths_)
      if (h == s.health) {
        s.health = h;
        return;
      }
    // Past this many kinds, each further kind is kept by its own services alone.
    constexpr std::size_t kKinds = 16;
    if (healths_.size() < kKinds) healths_.push_back(s.health);
  }
};

// About the number of services in `text`, for reserving: each has its own `name` key (a
// service without one is an error, and the vector then grows). Capped by the file's size, so
// that a file of nothing but "name" does not reserve for millions: a service takes at least
// 24 bytes ("{name: a, vip: ::, port: 1}" and its backends).
std::size_t expected_services(std::string_view text) {
  const std::size_t most = text.size() / 24;
  std::size_t n = 0;
  for (auto at = text.find("name"); at != std::string_view::npos && n < most;
       at = text.find("name", at + 4))
    ++n;
  return n;
}

void parse_document(std::string_view text, const yaml::Node& root, Config& c, Marks& marks,
                    ServicesReader& services, Reporter& r) {
  if (root.IsNull()) {
    // A document that is just "null" or "~" is not empty, but has nothing to read.
    if (auto at = first_content(text))
      r.error(*at,
              "the top level must be a mapping (keys such as 'vrrp:' and 'services:'), got "
              "nothing readable");
    else
      r.error({}, "the file is empty; expected a mapping with 'vrrp:' and 'services:'");
    return;
  }
  Location root_at = root.location();
  if (!root.IsMap()) {
    r.error(root_at, fmt::format("the top level must be a mapping (keys such as 'vrrp:' and "
                                 "'services:'), got {}",
                                 describe(root)));
    return;
  }
  MapView top(Value{root, root_at, root_at, ValueName("top level")}, "the top level", kTopKeys, r);
  parse_globals(top, c, r);
  std::set<std::string> vrrp_names_seen;  // including instances with errors
  // The list's items were read while the file was parsed; this reports a `services` that is
  // not a list (and reads any items the tree kept).
  if (auto* f = top.find("services"))
    for_each_item(*f, r, [&](const Value& item) { services.item(item); });
  if (auto* f = top.find("vrrp")) {
    std::unordered_map<std::string, Location> names;
    for_each_item(*f, r, [&](const Value& item) {
      InstanceMarks im;
      auto inst = parse_vrrp_instance(item, im, r);
      if (!im.name.empty()) vrrp_names_seen.insert(im.name);
      check_track_references(im, marks, r);
      marks.all_vips.insert(im.vip_addresses.begin(), im.vip_addresses.end());
      if (!im.name.empty()) {
        auto [it, fresh] = names.emplace(im.name, im.name_at);
        if (!fresh) {
          r.error(im.name_at,
                  fmt::format("name: duplicate vrrp instance name '{}' (first at line {})", im.name,
                              it->second.line));
          return;
        }
      }
      if (inst) {
        c.vrrp.push_back(std::move(*inst));
        marks.vrrp.push_back(std::move(im));
      }
    });
  }
  if (const auto& sd = c.ipvs.sync_daemon) {
    // Instances that had errors of their own count as existing: one error each is enough.
    if (!vrrp_names_seen.count(sd->instance))
      r.error(sd->location,
              fmt::format("ipvs.sync_daemon: instance: no vrrp instance named '{}' (the sync "
                          "daemon follows that instance's MASTER/BACKUP state)",
                          sd->instance));
  }
  cross_check(c, marks, r);
  if (r.error_count() == 0 && c.vrrp.empty() && c.services.empty())
    r.warning(root_at, "no vrrp instances and no services: the daemon has nothing to do");
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

std::string Diagnostic::to_string() const {
  std::string_view level = severity == Severity::error ? "error" : "warning";
  if (line <= 0) return fmt::format("{}: {}: {}", file, level, message);
  return fmt::format("{}:{}:{}: {}: {}", file, line, column, level, message);
}

std::size_t LoadResult::error_count() const {
  return static_cast<std::size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [](const Diagnostic& d) { return d.severity == Severity::error; }));
}

std::size_t LoadResult::warning_count() const { return diagnostics.size() - error_count(); }

void Reporter::add(Severity s, Location at, std::string message) {
  if (s == Severity::error) ++errors_;
  if (items_.size() >= kMaxKeptDiagnostics) {
    ++(s == Severity::error ? unkept_errors_ : unkept_warnings_);
    return;
  }
  items_.push_back(Diagnostic{s, {}, at.line, at.column, std::move(message)});
}

std::vector<Diagnostic> Reporter::take(std::string_view file) {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (items_.size() > kMaxDiagnostics || unkept_errors_ + unkept_warnings_ > 0) {
    // Keep every error we can (they decide the outcome), then warnings, in file order.
    std::size_t keep_warnings = kMaxDiagnostics > errors_ ? kMaxDiagnostics - errors_ : 0;
    std::size_t kept_errors = 0;
    std::size_t dropped_errors = unkept_errors_;
    std::size_t dropped_warnings = unkept_warnings_;
    std::vector<Diagnostic> kept;
    for (auto& d : items_) {
      if (d.severity == Severity::error) {
        if (kept_errors < kMaxDiagnostics) {
          ++kept_errors;
          kept.push_back(std::move(d));
        } else {
          ++dropped_errors;
        }
      } else if (keep_warnings > 0) {
        --keep_warnings;
        kept.push_back(std::move(d));
      } else {
        ++dropped_warnings;
      }
    }
    kept.push_back(Diagnostic{dropped_errors ? Severity::error : Severity::warning,
                              {},
                              0,
                              0,
                              fmt::format("{} more error(s) and {} more warning(s) not shown",
                                          dropped_errors, dropped_warnings)});
    items_ = std::move(kept);
  }
  for (auto& d : items_) d.file = std::string(file);
  return std::move(items_);
}

LoadResult load_text(std::string_view text, std::string_view file_name,
                     std::string_view default_node_name) {
  Reporter r;
  Config config;
  config.node_name = std::string(default_node_name);
  if (text.size() > kMaxConfigBytes) {
    r.error({}, fmt::format("the file is {} bytes; the limit is {} bytes", text.size(),
                            kMaxConfigBytes));
  } else if (auto problem = check_text(text)) {
    r.error(problem->at, problem->message);
  } else {
    try {
      Marks marks;
      ServicesReader services(config, marks, r, expected_services(text));
      const yaml::StreamedList stream{
          "services", [&](yaml::Node key, yaml::Node list, yaml::Node item, std::size_t i) {
            const Location list_at = list.location();
            const Value list_value{list, list_at, key.location(), ValueName(key.Scalar())};
            services.item(item_value(list_value, item, i));
          }};
      auto parsed = yaml::Document::parse(text, &stream);
      if (auto* error = std::get_if<yaml::SyntaxError>(&parsed)) {
        // What the items before it had wrong is left out: the syntax error is the one to fix.
        r = Reporter{};
        r.error(error->at, error->message);
      } else {
        parse_document(text, std::get<yaml::Document>(parsed).root(), config, marks, services, r);
      }
    } catch (const std::bad_alloc&) {
      r.error({}, "out of memory while reading the file");
    } catch (const std::exception& e) {
      // Nothing here is expected to throw but allocation; never let anything escape a load.
      r.error({}, fmt::format("cannot read the file: {}", e.what()));
    }
  }
  LoadResult result;
  if (r.error_count() == 0) result.config = std::move(config);
  result.diagnostics = r.take(file_name);
  return result;
}

LoadResult load_file(const std::string& path) {
  auto fail = [&](std::string message) {
    LoadResult result;
    result.diagnostics.push_back(Diagnostic{Severity::error, path, 0, 0, std::move(message)});
    return result;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  // Reject before reading: the limit also protects the daemon's memory.
  if (static_cast<std::size_t>(st.st_size) > kMaxConfigBytes) {
    ::close(fd);
    return fail(fmt::format("the file is {} bytes; the limit is {} bytes",
                            static_cast<std::size_t>(st.st_size), kMaxConfigBytes));
  }
  // Read into a buffer of the file's size, one byte more to see a file that grew meanwhile:
  // appending in chunks would double and copy the string (at 3.3 MB, 1,960 pages touched
  // instead of 813; in the kernel lab every page first touched costs about 0.3 ms).
  // In pieces (read_piece), so that no one syscall holds a CPU long.
  std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  while (got <= kMaxConfigBytes) {
    if (got == text.size()) text.resize(std::min(text.size() * 2, kMaxConfigBytes + 1));
    ssize_t n = read_piece(fd, text.data() + got, text.size() - got);
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(fmt::format("cannot read: {}", std::strerror(err)));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  ::close(fd);
  char host[256] = {};
  std::string node = "localhost";
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') node = host;
  return load_text(text, path, node);
}

std::string summary(const Config& config) {
  std::size_t virtual_services = 0;
  std::size_t backends = 0;
  for (const auto& s : config.services) {
    virtual_services += s.ports.size();
    backends += s.backends.size();
  }
  return fmt::format("ok: {}, {} ({}), {}",
                     plural(config.vrrp.size(), "vrrp instance", "vrrp instances"),
                     plural(config.services.size(), "service", "services"),
                     plural(virtual_services, "virtual service", "virtual services"),
                     plural(backends, "backend", "backends"));
}

std::string_view to_string(Protocol p) { return p == Protocol::tcp ? "tcp" : "udp"; }
std::string_view to_string(Forward f) {
  switch (f) {
    case Forward::nat:
      return "nat";
    case Forward::dr:
      return "dr";
    default:
      return "tun";
  }
}
std::string_view to_string(OnFailure o) { return o == OnFailure::remove ? "remove" : "drain"; }
std::string_view to_string(Handshake h) { return kHandshakes[static_cast<std::size_t>(h)]; }

std::string_view to_string(HealthType t) {
  switch (t) {
    case HealthType::tcp:
      return "tcp";
    case HealthType::udp:
      return "udp";
    case HealthType::http:
      return "http";
    default:
      return "none";
  }
}

}  // namespace l4lb::config
