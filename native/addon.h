// Per-environment state (worker-thread safe) and the registration hooks of each native file.
#pragma once
#include <napi.h>

namespace tb {

struct AddonData {
  Napi::FunctionReference tensorClass;
  Napi::FunctionReference torchError;
  void* computeLane = nullptr;  // worker.cc's ComputeLane, made on first use
};

inline AddonData* Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterAutograd(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);
void RegisterRandom(Napi::Env env, Napi::Object exports);
void RegisterFunctional(Napi::Env env, Napi::Object exports);
void RegisterNnUtils(Napi::Env env, Napi::Object exports);
void RegisterBatchNorm(Napi::Env env, Napi::Object exports);
void RegisterAdam(Napi::Env env, Napi::Object exports);
void RegisterSgd(Napi::Env env, Napi::Object exports);
void RegisterRmsprop(Napi::Env env, Napi::Object exports);
void RegisterLrScheduler(Napi::Env env, Napi::Object exports);
void RegisterSerialization(Napi::Env env, Napi::Object exports);
void RegisterDataLoader(Napi::Env env, Napi::Object exports);
void RegisterTransforms(Napi::Env env, Napi::Object exports);
void RegisterDistributed(Napi::Env env, Napi::Object exports);
void RegisterAmp(Napi::Env env, Napi::Object exports);

}  // namespace tb
