# VRRP advert decoder: run e.g. build-fuzz/fuzz/fuzz_vrrp_decode -max_total_time=60
l4lb_fuzzer(fuzz_vrrp_decode ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_vrrp_decode.cpp l4lb_vrrp)
