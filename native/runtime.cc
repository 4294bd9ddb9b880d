// The native side of src/runtime.ts: threads, CUDA presence, live-memory counts.
#include "runtime.h"
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <torch/version.h>
#include <atomic>
#include <regex>
#include "addon.h"
#include "compat.h"
#include "errors.h"
#include "memory.h"
#include "tensor.h"
#include "worker.h"
#include "exports.h"

namespace tb {

static std::atomic<int> g_threads{0};

void ApplyThreadSettings() {
  int wanted = g_threads.load();
  if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

namespace {

void SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 0);
  Guarded(info.Env(), [&] {
    g_threads.store(static_cast<int>(n));
    at::set_num_threads(static_cast<int>(n));
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  int wanted = g_threads.load();
  return Napi::Number::New(info.Env(), wanted > 0 ? wanted : at::get_num_threads());
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] {
    int n = at::detail::getCUDAHooks().hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
    return Napi::Number::New(info.Env(), n);
  });
}

// cudaSynchronize(device): waits, off the JS thread, for all work queued on a CUDA device.
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  int64_t device = ArgInt(info, 0);
  return RunAsyncVoid(info.Env(), false, [device]() { compat::SynchronizeCudaDevice(static_cast<int>(device)); });
}

// cudaEmptyCache(): false where this libtorch lacks the allocator API.
Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return Napi::Boolean::New(info.Env(), compat::EmptyDeviceCache()); });
}

// cudaMemoryStats(device): null where this libtorch lacks the allocator API.
Napi::Value CudaMemoryStats(const Napi::CallbackInfo& info) {
  int device = static_cast<int>(ArgInt(info, 0));
  return Guarded(info.Env(), [&]() -> Napi::Value {
    auto m = compat::DeviceMemoryStats(device);
    if (!m) return info.Env().Null();
    Napi::Object o = Napi::Object::New(info.Env());
    auto set = [&](const char* key, int64_t v) { o.Set(key, Napi::Number::New(info.Env(), static_cast<double>(v))); };
    set("allocatedBytes", m->allocated);
    set("peakAllocatedBytes", m->allocatedPeak);
    set("reservedBytes", m->reserved);
    set("peakReservedBytes", m->reservedPeak);
    set("allocRetries", m->allocRetries);
    set("ooms", m->ooms);
    return o;
  });
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  MemoryCounts m = LiveMemory();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("tensors", Napi::Number::New(info.Env(), static_cast<double>(m.tensors)));
  o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(m.bytes)));
  return o;
}

// The libtorch this process really runs: its build settings name its version, and the dynamic
// loader the file one of its functions came from (a header/library mismatch shows here).
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  std::smatch loaded;
  std::string config = at::show_config();
  o.Set("torchVersion", std::regex_search(config, loaded, std::regex("TORCH_VERSION=([0-9][^,\\s]*)")) ? loaded[1].str()
                                                                                                       : std::string("unknown"));
  o.Set("headerVersion", TORCH_VERSION);
  Dl_info where{};
  o.Set("libraryPath",
        dladdr(reinterpret_cast<void*>(&at::show_config), &where) && where.dli_fname ? where.dli_fname : "unknown");
  o.Set("cudaCompiled", at::detail::getCUDAHooks().hasCUDA());
  o.Set("parallelInfo", at::get_parallel_info());
  return o;
}

}  // namespace

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports,
                  {{"setNumThreads", SetNumThreads},
                   {"getNumThreads", GetNumThreads},
                   {"cudaDeviceCount", CudaDeviceCount},
                   {"memory", Memory},
                   {"cudaEmptyCache", CudaEmptyCache},
                   {"cudaSynchronize", CudaSynchronize},
                   {"cudaMemoryStats", CudaMemoryStats},
                   {"buildInfo", BuildInfo}});
}

}  // namespace tb
