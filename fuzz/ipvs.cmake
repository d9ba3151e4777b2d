# IPVS: netlink reply decoding.
l4lb_fuzzer(fuzz_ipvs_decode ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_ipvs_decode.cpp l4lb_ipvs)
