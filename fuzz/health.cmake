# Half-open check replies: run e.g. build-fuzz/fuzz/fuzz_tcp_segment -max_total_time=60
l4lb_fuzzer(fuzz_tcp_segment ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_tcp_segment.cpp l4lb_health)
