// The live-memory registry and the background freeing thread behind tensor handles (memory.cc).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>

namespace tb {

// The key under which a tensor's memory is counted: its storage's address (nullptr: none).
const void* StorageKey(const at::Tensor& t);

// Counts a handle taking (+1) or giving up (-1) a tensor. Returns the change in distinct storage
// bytes, for V8's external-memory accounting.
int64_t TrackHandle(const at::Tensor& t, int delta);

// Live handles and the bytes of the distinct storages they keep alive.
struct MemoryCounts {
  int64_t tensors;
  int64_t bytes;
};
MemoryCounts LiveMemory();

// Drops a reference now; if it was the last one to large memory, a graph or a gradient, the
// freeing happens on a background thread, away from the JS thread.
void DropReference(at::Tensor&& t);

}  // namespace tb
