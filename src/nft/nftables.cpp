#include "nft/nftables.hpp"

#include <fmt/format.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace l4lb::nft {
namespace {

std::string trimmed(const char* s) {
  std::string t = s ? s : "";
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

}  // namespace

std::unique_ptr<Nftables> Nftables::open(std::string& error) {
  // libnftables ends the whole process (exit(3) after "Unable to initialize Netlink socket")
  // when the kernel has no netfilter netlink (nfnetlink not loaded, or not built). Ask the
  // kernel first, so that a node without nftables gets an error here, not a dead daemon.
  const int probe = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (probe < 0) {
    error = fmt::format(
        "nftables unavailable: the kernel has no netfilter netlink ({}); load nfnetlink and "
        "nf_tables",
        std::strerror(errno));
    return nullptr;
  }
  ::close(probe);
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) {
    error = "libnftables: cannot create a context";
    return nullptr;
  }
  // Output and errors into buffers (never to our stdout/stderr); listings without handles.
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    error = "libnftables: cannot buffer output";
    return nullptr;
  }
  return std::unique_ptr<Nftables>(new Nftables(ctx));
}

Nftables::~Nftables() { nft_ctx_free(ctx_); }

std::optional<std::string> Nftables::run(const std::string& script) {
  const int rc = nft_run_cmd_from_buffer(ctx_, script.c_str());
  // Read both buffers every time: each read resets them for the next command.
  (void)nft_ctx_get_output_buffer(ctx_);
  std::string err = trimmed(nft_ctx_get_error_buffer(ctx_));
  if (rc == 0) return std::nullopt;
  return err.empty() ? fmt::format("nft failed (rc {})", rc) : err;
}

Listing Nftables::list() {
  Listing out;
  // `list tables` first: a missing table is a normal state, not an error to parse.
  int rc = nft_run_cmd_from_buffer(ctx_, fmt::format("list tables {}", kFamily).c_str());
  std::string tables = nft_ctx_get_output_buffer(ctx_);
  std::string err = trimmed(nft_ctx_get_error_buffer(ctx_));
  if (rc != 0) {
    out.error = err.empty() ? "nft list tables failed" : err;
    return out;
  }
  const std::string wanted = fmt::format("table {} {}", kFamily, kName);
  std::istringstream in(tables);
  for (std::string line; std::getline(in, line);)
    if (line == wanted) out.present = true;
  if (!out.present) return out;
  rc = nft_run_cmd_from_buffer(ctx_, fmt::format("list table {} {}", kFamily, kName).c_str());
  out.text = nft_ctx_get_output_buffer(ctx_);
  err = trimmed(nft_ctx_get_error_buffer(ctx_));
  if (rc != 0) {
    out.error = err.empty() ? "nft list table failed" : err;
    out.text.clear();
  }
  return out;
}

}  // namespace l4lb::nft
