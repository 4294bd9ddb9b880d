// The one place where libtorch's C++ API differs between versions for us (Debian's 1.13 CPU build
// and pip's 2.x builds compile from the same sources; where PyTorch's arithmetic changed, the op's
// own file branches on TORCH_VERSION_MAJOR). scripts/find-libtorch.js --features probes which API this
// libtorch has by compiling, and the build defines TB_AUTOCAST_PER_DEVICE_TYPE (2.4+),
// TB_HAVE_ACCELERATOR_SYNC and TB_HAVE_ACCELERATOR_MEMORY (the device-generic allocator API);
// without them, the 1.13 calls.
#pragma once
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#if defined(TB_HAVE_ACCELERATOR_SYNC) || defined(TB_HAVE_ACCELERATOR_MEMORY)
#include <ATen/DeviceAccelerator.h>
#endif
#if defined(TB_HAVE_ACCELERATOR_MEMORY) && __has_include(<ATen/accelerator/Allocator.h>)
#include <ATen/accelerator/Allocator.h>
#endif
#ifndef TB_HAVE_ACCELERATOR_SYNC
#include <ATen/detail/CUDAHooksInterface.h>
#endif

namespace tb::compat {

// Autocast's thread-local switches for CPU and CUDA (2.4 replaced the per-device functions).
struct AutocastState {
  bool cpu = false, cuda = false, cache = true;
  at::ScalarType cpuDtype = at::kBFloat16, cudaDtype = at::kHalf;
};

inline AutocastState GetAutocast() {
  AutocastState s;
#ifdef TB_AUTOCAST_PER_DEVICE_TYPE
  s.cpu = at::autocast::is_autocast_enabled(at::kCPU);
  s.cuda = at::autocast::is_autocast_enabled(at::kCUDA);
  s.cpuDtype = at::autocast::get_autocast_dtype(at::kCPU);
  s.cudaDtype = at::autocast::get_autocast_dtype(at::kCUDA);
#else
  s.cpu = at::autocast::is_cpu_enabled();
  s.cuda = at::autocast::is_enabled();
  s.cpuDtype = at::autocast::get_autocast_cpu_dtype();
  s.cudaDtype = at::autocast::get_autocast_gpu_dtype();
#endif
  s.cache = at::autocast::is_autocast_cache_enabled();
  return s;
}

inline void SetAutocast(const AutocastState& s) {
#ifdef TB_AUTOCAST_PER_DEVICE_TYPE
  at::autocast::set_autocast_enabled(at::kCPU, s.cpu);
  at::autocast::set_autocast_enabled(at::kCUDA, s.cuda);
  at::autocast::set_autocast_dtype(at::kCPU, s.cpuDtype);
  at::autocast::set_autocast_dtype(at::kCUDA, s.cudaDtype);
#else
  at::autocast::set_cpu_enabled(s.cpu);
  at::autocast::set_enabled(s.cuda);
  at::autocast::set_autocast_cpu_dtype(s.cpuDtype);
  at::autocast::set_autocast_gpu_dtype(s.cudaDtype);
#endif
  at::autocast::set_autocast_cache_enabled(s.cache);
}

// The CUDA caching allocator through the device-generic API (recent 2.x): no CUDA headers needed,
// so the same source builds everywhere. Older libtorch reports "unsupported" (false / nullopt).
struct DeviceMemory {
  int64_t allocated, allocatedPeak, reserved, reservedPeak, allocRetries, ooms;
};

inline void SynchronizeCudaDevice(int device) {
#ifdef TB_HAVE_ACCELERATOR_SYNC
  at::accelerator::synchronizeDevice(static_cast<c10::DeviceIndex>(device));
#else
  at::detail::getCUDAHooks().deviceSynchronize(device);
#endif
}

inline bool EmptyDeviceCache() {
#ifdef TB_HAVE_ACCELERATOR_MEMORY
  at::accelerator::emptyCache();
  return true;
#else
  return false;
#endif
}

inline c10::optional<DeviceMemory> DeviceMemoryStats(int device) {
#ifdef TB_HAVE_ACCELERATOR_MEMORY
  auto stats = at::accelerator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  // Index 0 of each StatArray is the aggregate over the small and large pools.
  return DeviceMemory{stats.allocated_bytes[0].current, stats.allocated_bytes[0].peak, stats.reserved_bytes[0].current,
                      stats.reserved_bytes[0].peak,     stats.num_alloc_retries,       stats.num_ooms};
#else
  return c10::nullopt;
#endif
}

}  // namespace tb::compat
