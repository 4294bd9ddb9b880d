// The native side of src/optim/adam.ts: torch.optim.Adam's single-tensor step (PyTorch 1.13),
// op for op, so that the result is bitwise Python's. TS owns the state tensors and step counts.
#include <ATen/ATen.h>
#include <cmath>
#include "../autograd.h"
#include "../addon.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {
namespace {

struct AdamHyper {
  double lr, beta1, beta2, eps, weightDecay;
  bool amsgrad, maximize;
};

void AdamUpdate(const at::Tensor& paramIn, at::Tensor& expAvg, at::Tensor& expAvgSq,
                at::Tensor* maxExpAvgSq, double step, const AdamHyper& h) {
  at::Tensor param = paramIn;
  at::Tensor grad = h.maximize ? paramIn.grad().neg() : paramIn.grad();
  if (h.weightDecay != 0) grad = grad.add(param, h.weightDecay);
  expAvg.mul_(h.beta1).add_(grad, 1 - h.beta1);
  expAvgSq.mul_(h.beta2).addcmul_(grad, grad, 1 - h.beta2);
  double biasCorrection1 = 1 - std::pow(h.beta1, step);
  double biasCorrection2 = 1 - std::pow(h.beta2, step);
  double stepSize = h.lr / biasCorrection1;
  double biasCorrection2Sqrt = std::sqrt(biasCorrection2);
  at::Tensor denom;
  if (h.amsgrad) {
    at::maximum_out(*maxExpAvgSq, *maxExpAvgSq, expAvgSq);
    denom = (maxExpAvgSq->sqrt() / biasCorrection2Sqrt).add_(h.eps);
  } else {
    denom = (expAvgSq.sqrt() / biasCorrection2Sqrt).add_(h.eps);
  }
  param.addcdiv_(expAvg, denom, -stepSize);
}

// adamStep(params, expAvgs, expAvgSqs, maxExpAvgSqs, steps, lr, beta1, beta2, eps, weightDecay,
//          amsgrad, maximize): every param here has a gradient; steps are already incremented.
// Missing state (undefined) is created here as zeros, off the JS thread (first-touching 0.5 GB
// of AlexNet state takes about a second), and returned as [expAvg, expAvgSq, maxExpAvgSq] per
// param, undefined where the state already existed.
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  auto expAvgs = ArgTensorList(info, 1, true);
  auto expAvgSqs = ArgTensorList(info, 2, true);
  auto maxExpAvgSqs = ArgTensorList(info, 3, true);
  auto steps = ArgDoubleList(info, 4);
  AdamHyper h{ArgDouble(info, 5), ArgDouble(info, 6), ArgDouble(info, 7), ArgDouble(info, 8),
              ArgDouble(info, 9), ArgBool(info, 10), ArgBool(info, 11)};
  size_t n = params.size();
  if (expAvgs.size() != n || expAvgSqs.size() != n || steps.size() != n || maxExpAvgSqs.size() != n) {
    throw Napi::TypeError::New(info.Env(), "adamStep: state lists differ in length from params");
  }
  using Result = std::vector<at::Tensor>;
  return RunAsync<Result>(
      info.Env(), false,
      [=]() mutable {
        ZeroDeferredGrads();
        Result created(3 * n);
        auto ensure = [&](at::Tensor& state, size_t i, size_t slot) {
          if (state.defined()) return;
          state = at::zeros_like(params[i], at::MemoryFormat::Preserve);
          created[3 * i + slot] = state;
        };
        for (size_t i = 0; i < n; i++) {
          ensure(expAvgs[i], i, 0);
          ensure(expAvgSqs[i], i, 1);
          if (h.amsgrad) ensure(maxExpAvgSqs[i], i, 2);
          AdamUpdate(params[i], expAvgs[i], expAvgSqs[i], h.amsgrad ? &maxExpAvgSqs[i] : nullptr, steps[i], h);
        }
        return created;
      },
      [](Napi::Env env, Result& created) { return TensorArray(env, created); });
}

}  // namespace

void RegisterAdam(Napi::Env env, Napi::Object exports) {
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
}

}  // namespace tb
