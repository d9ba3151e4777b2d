# Control requests: parse + validate + authorise + route, with fake handlers.
# Run e.g. build-fuzz/fuzz/fuzz_control_request -max_total_time=60
l4lb_fuzzer(fuzz_control_request ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_control_request.cpp
  l4lb_daemon_core)
