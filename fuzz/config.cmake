# Config loader: arbitrary bytes into config::load_text.
l4lb_fuzzer(fuzz_config ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_config.cpp l4lb_config)
