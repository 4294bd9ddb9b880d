// The native side of src/optim/adam.ts: torch.optim.Adam's single-tensor step (PyTorch 1.13),
// op for op, so that the result is bitwise Python's. TS owns the state tensors and step counts.
#include <ATen/ATen.h>
#include <cmath>
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
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  auto expAvgs = ArgTensorList(info, 1);
  auto expAvgSqs = ArgTensorList(info, 2);
  auto maxExpAvgSqs = ArgTensorList(info, 3);
  auto steps = ArgDoubleList(info, 4);
  AdamHyper h{ArgDouble(info, 5), ArgDouble(info, 6), ArgDouble(info, 7), ArgDouble(info, 8),
              ArgDouble(info, 9), ArgBool(info, 10), ArgBool(info, 11)};
  size_t n = params.size();
  if (expAvgs.size() != n || expAvgSqs.size() != n || steps.size() != n || (h.amsgrad && maxExpAvgSqs.size() != n)) {
    throw Napi::TypeError::New(info.Env(), "adamStep: state lists differ in length from params");
  }
  return RunAsyncVoid(info.Env(), false, [=]() mutable {
    for (size_t i = 0; i < n; i++) {
      AdamUpdate(params[i], expAvgs[i], expAvgSqs[i], h.amsgrad ? &maxExpAvgSqs[i] : nullptr, steps[i], h);
    }
  });
}

}  // namespace

void RegisterAdam(Napi::Env env, Napi::Object exports) {
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
}

}  // namespace tb
