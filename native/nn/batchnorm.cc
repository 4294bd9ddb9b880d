// The native side of src/nn/batchnorm.ts: torch.nn.BatchNorm*d's forward, off the JS thread,
// including its bookkeeping (num_batches_tracked and the cumulative-average momentum), so that the
// running statistics update exactly as _BatchNorm.forward updates them.
#include <ATen/ATen.h>
#include <cmath>
#include "../addon.h"
#include "../exports.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {
namespace {

// batchNorm(x, [weight, bias, runningMean, runningVar, numBatchesTracked] (each may be undefined),
//           {training, momentum (NaN: None), eps}, mode)
// `training` is the module's mode; the running stats are undefined when it does not track them.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  std::vector<at::Tensor> state = ArgTensorList(info, 1, true);
  if (state.size() != 5) throw ArgError(info, 1, "[weight, bias, runningMean, runningVar, numBatchesTracked]");
  auto optional = [&](size_t i) { return state[i].defined() ? c10::optional<at::Tensor>(state[i]) : c10::nullopt; };
  c10::optional<at::Tensor> weight = optional(0), bias = optional(1), runningMean = optional(2), runningVar = optional(3),
                            tracked = optional(4);
  Napi::Object o = ArgOptions(info, 2);
  bool training = OptionBool(o, "training");
  double momentum = OptionDouble(o, "momentum"), eps = OptionDouble(o, "eps");
  ExecMode mode = ArgMode(info, 3);
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

void RegisterBatchNorm(Napi::Env env, Napi::Object exports) { ExportFunctions(env, exports, {{"batchNorm", BatchNorm}}); }

}  // namespace tb
