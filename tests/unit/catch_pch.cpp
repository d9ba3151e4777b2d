// Compiles to nothing: this translation unit only carries the precompiled <catch2/catch.hpp>
// that every unit test executable reuses (tests/CMakeLists.txt, l4lb_catch_pch).
