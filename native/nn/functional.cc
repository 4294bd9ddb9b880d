// The native side of src/nn/functional.ts: the layers' math, each op off the JS thread.
// Every op calls the same ATen function that torch.nn.functional calls, so results are bitwise
// PyTorch's.
#include <ATen/ATen.h>
#include "../addon.h"
#include "../tensor.h"
#include "../worker.h"
#include "../exports.h"

namespace tb {
namespace {

// The last argument of every op is the caller's execution mode (noGrad and autocast scopes live in JS).
ExecMode ModeArg(const Napi::CallbackInfo& info) { return ArgMode(info, info.Length() - 1); }

// linear(x, weight, bias | undefined, mode)
Napi::Value Linear(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0), w = ArgTensor(info, 1);
  c10::optional<at::Tensor> b = ArgOptTensor(info, 2);
  return ComputeTensor(info.Env(), ModeArg(info), [x, w, b]() { return at::linear(x, w, b); });
}

// conv2d(x, weight, bias | undefined, {stride, padding, dilation, groups}, mode)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0), w = ArgTensor(info, 1);
  c10::optional<at::Tensor> b = ArgOptTensor(info, 2);
  Napi::Object o = ArgOptions(info, 3);
  auto stride = OptionIntList(o, "stride"), padding = OptionIntList(o, "padding"), dilation = OptionIntList(o, "dilation");
  int64_t groups = OptionInt(o, "groups");
  return ComputeTensor(info.Env(), ModeArg(info), [=]() { return at::conv2d(x, w, b, stride, padding, dilation, groups); });
}

// relu(x, inplace, mode)
Napi::Value Relu(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  bool inplace = ArgBool(info, 1);
  return ComputeTensor(info.Env(), ModeArg(info),
                       [x, inplace]() { return inplace ? at::relu_(const_cast<at::Tensor&>(x)) : at::relu(x); });
}

// hardtanh(x, {minVal, maxVal, inplace}, mode): nn.ReLU6 is Hardtanh(0, 6), as in PyTorch.
Napi::Value Hardtanh(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  double lo = OptionDouble(o, "minVal"), hi = OptionDouble(o, "maxVal");
  bool inplace = OptionBool(o, "inplace");
  return ComputeTensor(info.Env(), ModeArg(info),
                       [=]() { return inplace ? at::hardtanh_(const_cast<at::Tensor&>(x), lo, hi) : at::hardtanh(x, lo, hi); });
}

// add_(x, other, mode): x += other in place (torchvision's residual `out += identity`).
Napi::Value AddInplace(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0), other = ArgTensor(info, 1);
  return ComputeTensor(info.Env(), ModeArg(info), [x, other]() { return const_cast<at::Tensor&>(x).add_(other); });
}

// maxPool2d(x, {kernel, stride, padding, dilation, ceilMode}, mode)
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  auto kernel = OptionIntList(o, "kernel"), stride = OptionIntList(o, "stride"), padding = OptionIntList(o, "padding"),
       dilation = OptionIntList(o, "dilation");
  bool ceilMode = OptionBool(o, "ceilMode");
  return ComputeTensor(info.Env(), ModeArg(info),
                       [=]() { return at::max_pool2d(x, kernel, stride, padding, dilation, ceilMode); });
}

// adaptiveAvgPool2d(x, outputSize, mode)
Napi::Value AdaptiveAvgPool2d(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  auto size = ArgIntList(info, 1);
  return ComputeTensor(info.Env(), ModeArg(info), [=]() { return at::adaptive_avg_pool2d(x, size); });
}

// dropout(x, p, training, mode)
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  double p = ArgDouble(info, 1);
  bool training = ArgBool(info, 2);
  return ComputeTensor(info.Env(), ModeArg(info), [=]() { return at::dropout(x, p, training); });
}

// softmax(x, dim, log, mode)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  at::Tensor x = ArgTensor(info, 0);
  int64_t dim = ArgInt(info, 1);
  bool log = ArgBool(info, 2);
  return ComputeTensor(info.Env(), ModeArg(info), [=]() { return log ? x.log_softmax(dim) : x.softmax(dim); });
}

// crossEntropy(input, target, weight | undefined, {reduction, ignoreIndex, labelSmoothing}, mode)
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  at::Tensor input = ArgTensor(info, 0), target = ArgTensor(info, 1);
  c10::optional<at::Tensor> weight = ArgOptTensor(info, 2);
  Napi::Object o = ArgOptions(info, 3);
  std::string reduction = OptionString(o, "reduction");
  int64_t ignoreIndex = OptionInt(o, "ignoreIndex");
  double smoothing = OptionDouble(o, "labelSmoothing");
  int64_t mode = reduction == "none" ? at::Reduction::None : reduction == "sum" ? at::Reduction::Sum : at::Reduction::Mean;
  return ComputeTensor(info.Env(), ModeArg(info),
                       [=]() { return at::cross_entropy_loss(input, target, weight, mode, ignoreIndex, smoothing); });
}

}  // namespace

void RegisterFunctional(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports,
                  {{"linear", Linear},
                   {"conv2d", Conv2d},
                   {"relu", Relu},
                   {"hardtanh", Hardtanh},
                   {"add_", AddInplace},
                   {"maxPool2d", MaxPool2d},
                   {"adaptiveAvgPool2d", AdaptiveAvgPool2d},
                   {"dropout", Dropout},
                   {"softmax", Softmax},
                   {"crossEntropy", CrossEntropy}});
}

}  // namespace tb
