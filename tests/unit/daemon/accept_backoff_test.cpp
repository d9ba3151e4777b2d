#include "daemon/accept_backoff.hpp"

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

using namespace l4lb::daemon;
using std::chrono::milliseconds;

TEST_CASE("out of descriptors or memory is resource exhaustion; a bad connection is not") {
  for (int e : {EMFILE, ENFILE, ENOBUFS, ENOMEM})
    CHECK(is_resource_exhaustion(boost::system::error_code(e, boost::system::system_category())));
  for (int e : {ECONNABORTED, EPROTO, EPERM, EINTR})
    CHECK_FALSE(
        is_resource_exhaustion(boost::system::error_code(e, boost::system::system_category())));
  CHECK_FALSE(is_resource_exhaustion(boost::asio::error::operation_aborted));
  CHECK_FALSE(is_resource_exhaustion(boost::asio::error::eof));  // another category
}

TEST_CASE("the accept back-off doubles from 50 ms and stops at 1 s") {
  CHECK(accept_backoff(0) == milliseconds(50));
  CHECK(accept_backoff(1) == milliseconds(50));
  CHECK(accept_backoff(2) == milliseconds(100));
  CHECK(accept_backoff(3) == milliseconds(200));
  CHECK(accept_backoff(5) == milliseconds(800));
  CHECK(accept_backoff(6) == milliseconds(1000));
  CHECK(accept_backoff(1000000) == milliseconds(1000));
}
