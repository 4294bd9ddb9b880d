// The native side of src/amp.ts: GradScaler's unscale and scale update, off the JS thread.
// On CUDA they are PyTorch's own kernels (no host synchronisation); on CPU, where 1.13 has none,
// the same arithmetic in ATen ops.
#include <ATen/ATen.h>
#include <cmath>
#include "addon.h"
#include "autograd.h"
#include "tensor.h"
#include "worker.h"
#include "exports.h"

namespace tb {
namespace {

// ampUnscale(params, scale, foundInf): grads *= 1/scale; foundInf = 1 if any grad is inf/NaN.
Napi::Value AmpUnscale(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  at::Tensor scale = ArgTensor(info, 1), foundInf = ArgTensor(info, 2);
  return ComputeVoid(info.Env(), false, [=]() mutable {
    // As GradScaler: the reciprocal in double, then float.
    at::Tensor invScale = scale.to(at::kDouble).reciprocal().to(at::kFloat);
    std::vector<at::Tensor> cudaGrads;
    for (const at::Tensor& p : params) {
      at::Tensor g = p.grad();
      if (!g.defined()) continue;
      TORCH_CHECK_VALUE(g.scalar_type() != at::kHalf, "Attempting to unscale FP16 gradients.");
      if (g.is_cuda()) {
        cudaGrads.push_back(g);
      } else {
        foundInf.copy_(at::maximum(foundInf, at::isfinite(g).logical_not().any().to(at::kFloat)));
        g.mul_(invScale.to(g.device()));
      }
    }
    if (!cudaGrads.empty()) at::_amp_foreach_non_finite_check_and_unscale_(cudaGrads, foundInf, invScale);
  });
}

// ampUpdateScale(scale, growthTracker, foundInf, {growthFactor, backoffFactor, growthInterval})
Napi::Value AmpUpdateScale(const Napi::CallbackInfo& info) {
  at::Tensor scale = ArgTensor(info, 0), tracker = ArgTensor(info, 1), foundInf = ArgTensor(info, 2);
  Napi::Object o = ArgOptions(info, 3);
  double growth = OptionDouble(o, "growthFactor"), backoff = OptionDouble(o, "backoffFactor");
  int64_t interval = OptionInt(o, "growthInterval");
  return ComputeVoid(info.Env(), false, [=]() mutable {
    if (scale.is_cuda()) {
      at::_amp_update_scale_(scale, tracker, foundInf, growth, backoff, interval);
      return;
    }
    // _amp_update_scale_'s rule: back off on inf/NaN; grow after `interval` clean steps, if finite.
    float* s = scale.data_ptr<float>();
    int32_t* t = tracker.data_ptr<int32_t>();
    if (foundInf.item<float>() != 0) {
      *s = static_cast<float>(*s * backoff);
      *t = 0;
    } else if (*t + 1 == interval) {
      float grown = static_cast<float>(*s * growth);
      if (std::isfinite(grown)) *s = grown;
      *t = 0;
    } else {
      *t += 1;
    }
  });
}

}  // namespace

void RegisterAmp(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"ampUnscale", AmpUnscale}, {"ampUpdateScale", AmpUpdateScale}});
}

}  // namespace tb
