#include "common/block_pool.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using l4lb::BlockPool;
using l4lb::PoolAllocator;

TEST_CASE("block pool: blocks are distinct, aligned, writable and reused") {
  BlockPool pool(200);
  CHECK(pool.block_bytes() == 208);
  std::vector<void*> blocks;
  std::set<void*> seen;
  for (int i = 0; i < 1000; ++i) {
    void* p = pool.allocate();
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
    std::memset(p, i & 0xff, pool.block_bytes());
    CHECK(seen.insert(p).second);
    blocks.push_back(p);
  }
  // No block overlaps another: each still holds what was written into it.
  for (int i = 0; i < 1000; ++i)
    CHECK(static_cast<unsigned char*>(blocks[i])[pool.block_bytes() - 1] == (i & 0xff));
  CHECK(pool.stats().blocks_in_use == 1000);
  // 208 B blocks: 314 to a 64 KiB chunk (after its header), so 1,000 take 4 chunks.
  CHECK(pool.stats().chunks == 4);
  // A freed block is handed out again before any new memory.
  void* again = blocks[500];
  pool.deallocate(again);
  CHECK(pool.allocate() == again);
  for (void* p : blocks) pool.deallocate(p);
  CHECK(pool.stats().blocks_in_use == 0);
}

TEST_CASE("block pool: a batch freed whole gives its chunks back, one spare kept") {
  BlockPool pool(200);
  std::vector<void*> old_batch, batch;
  for (int i = 0; i < 1000; ++i) old_batch.push_back(pool.allocate());
  const auto before = pool.stats();
  // A batch made after the first fills chunks of its own (the first left no holes)...
  for (int i = 0; i < 3140; ++i) batch.push_back(pool.allocate());
  CHECK(pool.stats().chunks == before.chunks + 10);
  // ... and freeing it, in any order, unmaps them as their last block goes, but one.
  for (std::size_t i = 0; i < batch.size(); i += 2) pool.deallocate(batch[i]);
  CHECK(pool.stats().chunks == before.chunks + 10);
  for (std::size_t i = 1; i < batch.size(); i += 2) pool.deallocate(batch[i]);
  CHECK(pool.stats().chunks == before.chunks + 1);
  CHECK(pool.stats().chunks_released == 9);
  // The spare serves the next batch before a new chunk is mapped.
  void* p = pool.allocate();
  CHECK(pool.stats().chunks == before.chunks + 1);
  pool.deallocate(p);
  // The older blocks were never disturbed.
  CHECK(pool.stats().blocks_in_use == 1000);
  for (void* q : old_batch) pool.deallocate(q);
  CHECK(pool.stats().blocks_in_use == 0);
}

TEST_CASE("block pool: a std::map's nodes come from the pool; other sizes from operator new") {
  BlockPool pool(sizeof(std::pair<const std::string, int>) + 4 * sizeof(void*));
  using Alloc = PoolAllocator<std::pair<const std::string, int>>;
  {
    std::map<std::string, int, std::less<std::string>, Alloc> m{Alloc(pool)};
    for (int i = 0; i < 5000; ++i) m.emplace("key-" + std::to_string(i), i);
    CHECK(pool.stats().blocks_in_use == 5000);
    for (int i = 0; i < 5000; i += 2) m.erase("key-" + std::to_string(i));
    CHECK(pool.stats().blocks_in_use == 2500);
    CHECK(m.at("key-4999") == 4999);
    // An array does not fit a block: operator new, and back to it.
    Alloc a(pool);
    auto* arr = a.allocate(64);
    CHECK(pool.stats().blocks_in_use == 2500);
    a.deallocate(arr, 64);
  }
  CHECK(pool.stats().blocks_in_use == 0);
  CHECK(pool.stats().chunks <= 1);  // the spare
}

TEST_CASE("block pool: blocks larger than a quarter chunk are refused") {
  CHECK_THROWS_AS(BlockPool(BlockPool::kChunkBytes / 2), std::invalid_argument);
  CHECK_THROWS_AS(BlockPool(64, 24), std::invalid_argument);
}

TEST_CASE("block pool: blocks aligned to 8 are packed at their size") {
  BlockPool pool(200, 8);
  CHECK(pool.block_bytes() == 200);
  void* a = pool.allocate();
  void* b = pool.allocate();
  CHECK(reinterpret_cast<std::uintptr_t>(a) % 8 == 0);
  CHECK(static_cast<unsigned char*>(b) - static_cast<unsigned char*>(a) == 200);
  pool.deallocate(a);
  pool.deallocate(b);
}
