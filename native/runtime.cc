// The native side of src/runtime.ts: seeding, threads, CUDA presence, live-memory counts.
#include "runtime.h"
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
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

namespace tb {

static std::atomic<int> g_threads{0};

void ApplyThreadSettings() {
  int wanted = g_threads.load();
  if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

namespace {

void ManualSeed(const Napi::CallbackInfo& info) {
  int64_t seed = ArgInt(info, 0);
  Guarded(info.Env(), [&] { at::manual_seed(static_cast<uint64_t>(seed)); });
}

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
  o.Set("torchVersion", std::regex_search(config, loaded, std::regex("TORCH_VERSION=([0-9][^,\\s]*)")) ? loaded[1].str() : std::string("unknown"));
  o.Set("headerVersion", TORCH_VERSION);
  Dl_info where{};
  o.Set("libraryPath", dladdr(reinterpret_cast<void*>(&at::show_config), &where) && where.dli_fname ? where.dli_fname : "unknown");
  o.Set("cudaCompiled", at::detail::getCUDAHooks().hasCUDA());
  o.Set("parallelInfo", at::get_parallel_info());
  return o;
}

// torchDraw(kind, a, b): one draw from libtorch's global CPU generator, made exactly as
// torchvision's transforms and torch.utils.data make theirs: 'uniform' is
// torch.empty(1).uniform_(a, b).item(), 'expUniform' the torch.exp of that, 'randint' torch.randint(a, b, (1,)).item(), 'rand'
// torch.rand(1).item(), 'int64' torch.empty((), dtype=torch.int64).random_().item() (a BigInt).
Napi::Value TorchDraw(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0);
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    if (kind == "uniform") {
      return Napi::Number::New(env, at::empty({1}, at::kFloat).uniform_(ArgDouble(info, 1), ArgDouble(info, 2)).item<float>());
    }
    if (kind == "expUniform") {  // torch.exp(torch.empty(1).uniform_(a, b)).item(), RandomResizedCrop's aspect
      return Napi::Number::New(env, at::empty({1}, at::kFloat).uniform_(ArgDouble(info, 1), ArgDouble(info, 2)).exp().item<float>());
    }
    if (kind == "randint") {
      at::Tensor r = at::randint(ArgInt(info, 1), ArgInt(info, 2), {1}, at::TensorOptions().dtype(at::kLong));
      return Napi::Number::New(env, static_cast<double>(r.item<int64_t>()));
    }
    if (kind == "rand") return Napi::Number::New(env, at::rand({1}, at::kFloat).item<float>());
    if (kind == "int64") return Napi::BigInt::New(env, at::empty({}, at::kLong).random_().item<int64_t>());
    throw Napi::TypeError::New(env, "torchDraw: unknown kind " + kind);
  });
}

// randperm(n, seed): torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist().
Napi::Value Randperm(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 0);
  uint64_t seed = static_cast<uint64_t>(ArgInt(info, 1));
  return Guarded(info.Env(), [&] {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    at::Tensor perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
    const int64_t* p = perm.data_ptr<int64_t>();
    Napi::Array out = Napi::Array::New(info.Env(), n);
    for (int64_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(p[i])));
    return out;
  });
}

}  // namespace

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("randperm", Napi::Function::New(env, Randperm));
  exports.Set("torchDraw", Napi::Function::New(env, TorchDraw));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("cudaEmptyCache", Napi::Function::New(env, CudaEmptyCache));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize));
  exports.Set("cudaMemoryStats", Napi::Function::New(env, CudaMemoryStats));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
}

}  // namespace tb
