#include "common/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/read_piece.hpp"

namespace l4lb::state_file {
namespace {

std::string describe(const std::string& path, int err) { return path + ": " + std::strerror(err); }

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::optional<std::string> write(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  // A temporary left by a crash (or planted as a symlink) is removed, then created afresh:
  // O_EXCL with O_CREAT never follows a symlink.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return describe(tmp, errno);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return describe(tmp, errno);
  auto fail = [&](int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return describe(tmp, err);
  };
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return describe(tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return describe(path, err);
  }
  // The rename is durable only once the directory is on disk too.
  const std::string dir = directory_of(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return describe(dir, errno);
  const bool synced = ::fsync(dfd) == 0 || errno == EINVAL;  // some filesystems cannot
  const int err = errno;
  ::close(dfd);
  if (!synced) return describe(dir, err);
  return std::nullopt;
}

ReadResult read(const std::string& path, std::size_t max_bytes) {
  ReadResult r;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return r;
    r.error = errno == ELOOP ? path + ": is a symlink; state files are never followed"
                             : describe(path, errno);
    return r;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    r.error = describe(path, errno);
  } else if (!S_ISREG(st.st_mode)) {
    r.error = path + ": not a regular file";
  } else if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    r.error = path + ": " + std::to_string(st.st_size) + " bytes, more than a state file holds (" +
              std::to_string(max_bytes) + ")";
  } else {
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = read_piece(fd, text.data() + done, text.size() - done);
      if (n < 0) {
        r.error = describe(path, errno);
        break;
      }
      if (n == 0) break;  // shrank while reading: what is there is what we parse
      done += static_cast<std::size_t>(n);
    }
    text.resize(done);
    if (r.error.empty()) r.text = std::move(text);
  }
  ::close(fd);
  return r;
}

std::string set_aside(const std::string& path) {
  const std::string aside = path + ".damaged";
  if (::rename(path.c_str(), aside.c_str()) != 0)
    return "cannot move aside: " + describe(path, errno);
  return aside;
}

}  // namespace l4lb::state_file
