#include "common/block_pool.hpp"

#include <sys/mman.h>

#include <cassert>
#include <cstdint>
#include <stdexcept>

namespace l4lb {

namespace {

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

// At the start of each chunk; the blocks follow it.
struct BlockPool::Chunk {
  Chunk* prev = nullptr;  // in partial_
  Chunk* next = nullptr;
  void* free = nullptr;     // freed blocks, each holding the next one's address
  std::uint32_t used = 0;   // blocks allocated
  std::uint32_t fresh = 0;  // blocks handed out at least once: [0, fresh)
  bool linked = false;      // in partial_
};

BlockPool::BlockPool(std::size_t block_bytes, std::size_t align)
    : align_(align < alignof(void*) ? alignof(void*) : align),
      block_bytes_(round_up(block_bytes < sizeof(void*) ? sizeof(void*) : block_bytes, align_)),
      first_block_(round_up(sizeof(Chunk), align_)),
      blocks_per_chunk_((kChunkBytes - first_block_) / block_bytes_) {
  if ((align_ & (align_ - 1)) != 0 || align_ > 4096)
    throw std::invalid_argument("BlockPool: alignment not a power of two up to 4096");
  if (block_bytes_ > kChunkBytes / 4) throw std::invalid_argument("BlockPool: block too large");
}

BlockPool::~BlockPool() {
  assert(in_use_ == 0);
  while (partial_) {
    Chunk* c = partial_;
    unlink(c);
    ::munmap(c, kChunkBytes);
  }
  if (spare_) ::munmap(spare_, kChunkBytes);
  // Full chunks are not listed anywhere: with blocks still in use they would leak here, which
  // is why the owner must free every block first (the assertion above).
}

BlockPool::Chunk* BlockPool::map_chunk() {
  // Twice the size, then the unaligned head and tail given back: the kernel aligns mappings to
  // pages only.
  void* raw =
      ::mmap(nullptr, 2 * kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto lo = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = round_up(lo, kChunkBytes);
  if (aligned > lo) ::munmap(raw, aligned - lo);
  if (const auto tail = lo + 2 * kChunkBytes - (aligned + kChunkBytes); tail > 0)
    ::munmap(reinterpret_cast<void*>(aligned + kChunkBytes), tail);
  ++chunks_;
  return new (reinterpret_cast<void*>(aligned)) Chunk;
}

void BlockPool::link(Chunk* c) {
  c->prev = nullptr;
  c->next = partial_;
  if (partial_) partial_->prev = c;
  partial_ = c;
  c->linked = true;
}

void BlockPool::unlink(Chunk* c) {
  if (c->prev) c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  if (partial_ == c) partial_ = c->next;
  c->prev = c->next = nullptr;
  c->linked = false;
}

void* BlockPool::allocate() {
  if (!partial_) {
    Chunk* c = spare_ ? spare_ : map_chunk();
    spare_ = nullptr;
    link(c);
  }
  Chunk* c = partial_;
  void* block;
  if (c->free) {
    block = c->free;
    c->free = *static_cast<void**>(block);
  } else {
    block = reinterpret_cast<unsigned char*>(c) + first_block_ + c->fresh++ * block_bytes_;
  }
  ++c->used;
  ++in_use_;
  if (c->used == blocks_per_chunk_) unlink(c);
  return block;
}

void BlockPool::deallocate(void* block) noexcept {
  auto* c = reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(block) & ~(kChunkBytes - 1));
  assert(c->used > 0);
  *static_cast<void**>(block) = c->free;
  c->free = block;
  --c->used;
  --in_use_;
  if (c->used > 0) {
    if (!c->linked) link(c);  // it was full
    return;
  }
  if (c->linked) unlink(c);
  if (!spare_) {
    // Kept as it is: its blocks are all free, on its free list or past `fresh`.
    spare_ = c;
    return;
  }
  ::munmap(c, kChunkBytes);
  --chunks_;
  ++released_;
}

BlockPool::Stats BlockPool::stats() const { return Stats{chunks_, in_use_, released_}; }

}  // namespace l4lb
