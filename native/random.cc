// The native side of src/random.ts: libtorch's global CPU generator (seed, state, single draws),
// seeded permutations, and the draws of torch.Generator objects whose state lives in JS.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <mutex>
#include "addon.h"
#include "errors.h"
#include "exports.h"
#include "tensor.h"

namespace tb {
namespace {

void ManualSeed(const Napi::CallbackInfo& info) {
  int64_t seed = ArgInt(info, 0);
  Guarded(info.Env(), [&] { at::manual_seed(static_cast<uint64_t>(seed)); });
}

// getRngState() / setRngState(uint8 tensor): the default CPU generator, like torch.get_rng_state.
Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return TensorHandle::New(info.Env(), gen.get_state());
  });
}

void SetRngState(const Napi::CallbackInfo& info) {
  at::Tensor state = ArgTensor(info, 0);
  Guarded(info.Env(), [&] {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  });
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
      return Napi::Number::New(env,
                               at::empty({1}, at::kFloat).uniform_(ArgDouble(info, 1), ArgDouble(info, 2)).exp().item<float>());
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

// torch.randperm(n, generator=gen).tolist()
Napi::Array PermutationArray(Napi::Env env, at::Generator& gen, int64_t n) {
  at::Tensor perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
  const int64_t* p = perm.data_ptr<int64_t>();
  Napi::Array out = Napi::Array::New(env, n);
  for (int64_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(p[i])));
  return out;
}

// randperm(n, seed): torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist().
Napi::Value Randperm(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 0);
  uint64_t seed = static_cast<uint64_t>(ArgInt(info, 1));
  return Guarded(info.Env(), [&] {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    return PermutationArray(info.Env(), gen, n);
  });
}

// generatorDraw(kind, state | null, arg) -> [value, state]: one draw from a torch.Generator whose
// state lives in JS as a uint8 tensor (src/random.ts's Generator). 'seed': a new state from
// manual_seed(arg); 'int64': torch.empty((), dtype=torch.int64).random_(generator=g), as a bigint;
// 'randperm': torch.randperm(arg, generator=g).tolist().
Napi::Value GeneratorDraw(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0);
  c10::optional<at::Tensor> state = ArgOptTensor(info, 1);
  int64_t arg = ArgInt(info, 2);
  Napi::Env env = info.Env();
  return Guarded(env, [&] {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>();
    Napi::Value value = env.Undefined();
    if (kind == "seed") {
      gen.set_current_seed(static_cast<uint64_t>(arg));
    } else {
      if (!state) throw ArgError(info, 1, "a generator state");
      gen.set_state(*state);
      if (kind == "int64") {
        value = Napi::BigInt::New(env, at::empty({}, at::kLong).random_(gen).item<int64_t>());
      } else if (kind == "randperm") {
        value = PermutationArray(env, gen, arg);
      } else {
        throw ArgError(info, 0, "'seed', 'int64' or 'randperm'");
      }
    }
    Napi::Array result = Napi::Array::New(env, 2);
    result.Set(0u, value);
    result.Set(1u, TensorHandle::New(env, gen.get_state()));
    return result;
  });
}

}  // namespace

void RegisterRandom(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports,
                  {{"manualSeed", ManualSeed},
                   {"getRngState", GetRngState},
                   {"setRngState", SetRngState},
                   {"torchDraw", TorchDraw},
                   {"randperm", Randperm},
                   {"generatorDraw", GeneratorDraw}});
}

}  // namespace tb
