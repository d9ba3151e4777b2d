# nftables: the listing of l4lbd's own table as the kernel prints it.
l4lb_fuzzer(fuzz_nft_listing ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_nft_listing.cpp l4lb_nft)
