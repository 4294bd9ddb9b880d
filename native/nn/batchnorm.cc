// The native side of src/nn/batchnorm.ts: torch.nn.BatchNorm*d's forward, off the JS thread,
// including its bookkeeping (num_batches_tracked and the cumulative-average momentum), so that the
// running statistics update exactly as _BatchNorm.forward updates them.
#include <ATen/ATen.h>
#include <cmath>
#include "../addon.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {
namespace {

// batchNorm(x, weight | undefined, bias | undefined, runningMean | undefined, runningVar | undefined,
//           numBatchesTracked | undefined, training, momentum (NaN: None), eps, mode)
// `training` is the module's mode; the running stats are undefined when it does not track them.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  c10::optional<at::Tensor> weight = ArgOptTensor(info, 1), bias = ArgOptTensor(info, 2),
                            runningMean = ArgOptTensor(info, 3), runningVar = ArgOptTensor(info, 4),
                            tracked = ArgOptTensor(info, 5);
  bool training = ArgBool(info, 6);
  double momentum = ArgDouble(info, 7), eps = ArgDouble(info, 8);
  ExecMode mode = ArgMode(info, 9);
  return ComputeTensor(info.Env(), mode, [=]() {
    // _BatchNorm.forward: the factor is momentum, or 1 / num_batches_tracked when momentum is None.
    double factor = std::isnan(momentum) ? 0.0 : momentum;
    if (training && tracked.has_value()) {
      at::Tensor count = *tracked;
      count.add_(1);
      if (std::isnan(momentum)) factor = 1.0 / count.item<double>();
    }
    bool useBatchStats = training || (!runningMean.has_value() && !runningVar.has_value());
    return at::batch_norm(x, weight, bias, runningMean, runningVar, useBatchStats, factor, eps,
                          at::globalContext().userEnabledCuDNN());
  });
}

}  // namespace

void RegisterBatchNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNorm", Napi::Function::New(env, BatchNorm));
}

}  // namespace tb
