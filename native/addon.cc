// Entry point: only registers what each native file exports (src/native.ts declares it all).
#include "addon.h"

namespace tb {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  RegisterErrors(env, exports);
  RegisterTensor(env, exports);
  RegisterAutograd(env, exports);
  RegisterRuntime(env, exports);
  RegisterRandom(env, exports);
  RegisterFunctional(env, exports);
  RegisterNnUtils(env, exports);
  RegisterBatchNorm(env, exports);
  RegisterAdam(env, exports);
  RegisterSgd(env, exports);
  RegisterRmsprop(env, exports);
  RegisterLrScheduler(env, exports);
  RegisterSerialization(env, exports);
  RegisterDataLoader(env, exports);
  RegisterTransforms(env, exports);
  RegisterDistributed(env, exports);
  RegisterAmp(env, exports);
  return exports;
}

}  // namespace tb

static Napi::Object InitTorchbridge(Napi::Env env, Napi::Object exports) { return tb::Init(env, exports); }

NODE_API_MODULE(torchbridge, InitTorchbridge)
