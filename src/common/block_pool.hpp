// Fixed-size blocks for many small objects of one kind that come and go in batches, in chunks
// of memory of their own: a chunk whose blocks are all free goes back to the system at once.
//
// Why not malloc: the health checks a reload adds (40,000 map nodes of 288 B for 5,000
// services x 8) sit in the loop's malloc arena beside blocks that outlive them (the check
// records, which are replaced all the time). When a later reload removes those checks, their
// nodes become holes under live blocks, and glibc gives back only an arena's free top: during
// the stability bench's reload storm the loop's arena stayed ~20 MB above its size before the
// storm. malloc_trim() would give the holes back, but it holds the arena's lock while it
// madvises them, 20-94 ms on a VM where madvise is dear, and the loop waits for that lock
// (daemon/allocator.hpp). Here a batch's nodes fill chunks of their own, and removing the batch
// unmaps those chunks as their last block goes, a few microseconds each, on the thread that
// frees them.
//
// Single-threaded: one thread allocates and frees. Not for objects freed by another thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace l4lb {

class BlockPool {
 public:
  // Each chunk is one mapping of this size, aligned to it (a block finds its chunk by masking
  // its address).
  static constexpr std::size_t kChunkBytes = 64 * 1024;

  // `block_bytes` is rounded up to `align` (a power of two, at least a pointer's), the
  // alignment of every block; at most a quarter of a chunk. A map node needs 8, not malloc's
  // 16: 200 B nodes stay 200 B (the check nodes were; 80,000 of them at 10,000 x 8).
  explicit BlockPool(std::size_t block_bytes, std::size_t align = alignof(std::max_align_t));
  // Unmaps every chunk. Blocks still allocated then are the owner's bug.
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  std::size_t block_bytes() const { return block_bytes_; }
  std::size_t align() const { return align_; }
  void* allocate();  // std::bad_alloc when no chunk can be mapped
  void deallocate(void* block) noexcept;

  struct Stats {
    std::size_t chunks = 0;         // mapped now, the spare included
    std::size_t blocks_in_use = 0;  // allocated and not freed
    std::uint64_t chunks_released = 0;
  };
  Stats stats() const;

 private:
  struct Chunk;
  Chunk* map_chunk();
  void link(Chunk* c);
  void unlink(Chunk* c);

  std::size_t align_;
  std::size_t block_bytes_;
  std::size_t first_block_;  // offset of block 0: the chunk's header, rounded up to align_
  std::size_t blocks_per_chunk_;
  // Chunks with a free block, most recently opened or freed into first: a batch of new blocks
  // fills the holes there are, then chunks of its own.
  Chunk* partial_ = nullptr;
  // One empty chunk kept mapped, so that a single check added and removed again and again does
  // not map and unmap a chunk each time.
  Chunk* spare_ = nullptr;
  std::size_t chunks_ = 0;
  std::size_t in_use_ = 0;
  std::uint64_t released_ = 0;
};

// A standard allocator over a BlockPool: single objects whose type fits a block come from the
// pool, anything else (arrays, larger types) from operator new. For node-based containers
// (std::map), whose allocator is rebound to the node type: size the pool for the node.
template <typename T>
class PoolAllocator {
 public:
  using value_type = T;

  explicit PoolAllocator(BlockPool& pool) noexcept : pool_(&pool) {}
  template <typename U>
  PoolAllocator(const PoolAllocator<U>& o) noexcept : pool_(o.pool()) {}

  T* allocate(std::size_t n) {
    if (from_pool(n)) return static_cast<T*>(pool_->allocate());
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (from_pool(n))
      pool_->deallocate(p);
    else
      std::allocator<T>().deallocate(p, n);
  }

  BlockPool* pool() const noexcept { return pool_; }
  template <typename U>
  bool operator==(const PoolAllocator<U>& o) const noexcept {
    return pool_ == o.pool();
  }

 private:
  bool from_pool(std::size_t n) const noexcept {
    return n == 1 && sizeof(T) <= pool_->block_bytes() && alignof(T) <= pool_->align();
  }
  BlockPool* pool_;
};

}  // namespace l4lb
