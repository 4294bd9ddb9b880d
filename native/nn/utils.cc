// The native side of src/nn/utils.ts: torch.nn.utils.clip_grad_norm_ and clip_grad_value_ of the
// linked libtorch's version, op for op (the same ATen calls in the same order, so the total norm
// and the clipped gradients are bitwise Python's), off the JS thread.
#include <ATen/ATen.h>
#include <torch/version.h>
#include <cmath>
#include <string>
#include <vector>
#include "../autograd.h"
#include "../addon.h"
#include "../tensor.h"
#include "../worker.h"
#include "../exports.h"
#if TORCH_VERSION_MAJOR >= 2
#include <ATen/native/ForeachUtils.h>
#endif

namespace tb {
namespace {

// PyTorch 2.x groups the gradients by device and dtype (in the order of its hash map, which
// torch.nn.utils iterates as a dict) and may run each group through the foreach ops; 1.13 takes
// them one by one in order.
constexpr bool kGrouped = TORCH_VERSION_MAJOR >= 2;

std::vector<at::Tensor> DefinedGrads(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

// torch.utils._foreach_utils._group_tensors_by_device_and_dtype on 2.x, one group on 1.13.
std::vector<std::vector<at::Tensor>> GroupByDeviceAndDtype(const std::vector<at::Tensor>& tensors) {
#if TORCH_VERSION_MAJOR >= 2
  at::native::nested_optional_tensorvec_t nested(1);
  for (const at::Tensor& t : tensors) nested[0].emplace_back(t);
  std::vector<std::vector<at::Tensor>> groups;
  for (auto& entry : at::native::_group_tensors_by_first_tensors_device_and_dtype(nested, false)) {
    std::vector<at::Tensor> group;
    for (auto& t : entry.second.first[0]) group.push_back(*t);
    groups.push_back(std::move(group));
  }
  return groups;
#else
  return {tensors};
#endif
}

// Python's repr of a float, as the error message shows the norm type.
std::string PythonFloat(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = c10::str(v);
  return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
}

// _get_total_norm (2.x) / the first half of clip_grad_norm_ (1.13).
at::Tensor TotalNorm(const std::vector<at::Tensor>& grads, double normType, bool foreach) {
  const at::Device first = grads[0].device();
  std::vector<at::Tensor> norms;
  if (kGrouped) {
    for (const auto& group : GroupByDeviceAndDtype(grads)) {
#if TORCH_VERSION_MAJOR >= 2
      if (foreach) {
        for (at::Tensor& n : at::_foreach_norm(group, normType)) norms.push_back(n.to(first));
        continue;
      }
#endif
      for (const at::Tensor& g : group) norms.push_back(at::linalg_vector_norm(g, normType).to(first));
    }
    return at::linalg_vector_norm(at::stack(norms), normType);
  }
  if (std::isinf(normType) && normType > 0) {
    for (const at::Tensor& g : grads) norms.push_back(g.abs().max().to(first));
    return norms.size() == 1 ? norms[0] : at::max(at::stack(norms));
  }
  auto allDims = [](const at::Tensor& t) {
    std::vector<int64_t> dims(t.dim());
    for (int64_t d = 0; d < t.dim(); d++) dims[d] = d;
    return dims;
  };
  for (const at::Tensor& g : grads) norms.push_back(at::norm(g, normType, allDims(g), false).to(first));
  at::Tensor stacked = at::stack(norms);
  return at::norm(stacked, normType, allDims(stacked), false);
}

struct ClipNormOptions {
  double maxNorm, normType;
  bool errorIfNonfinite, foreach;
};

// clipGradNorm(params, {maxNorm, normType, errorIfNonfinite, foreach}) -> the total norm (a
// 0-dim tensor on the first gradient's device).
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  ClipNormOptions c{OptionDouble(o, "maxNorm"), OptionDouble(o, "normType"), OptionBool(o, "errorIfNonfinite"),
                    OptionBool(o, "foreach")};
  return ComputeTensor(info.Env(), false, [params, c]() {
    std::vector<at::Tensor> grads = DefinedGrads(params);
    if (grads.empty()) return at::zeros({}, at::kFloat);  // torch.tensor(0.0)
    at::Tensor total = TotalNorm(grads, c.normType, c.foreach);
    TORCH_CHECK(!c.errorIfNonfinite || at::logical_or(total.isnan(), total.isinf()).item<bool>() == false,
                "nn.utils.clipGradNorm_: the total norm of order ", PythonFloat(c.normType),
                " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and "
                "scale the gradients by the non-finite norm anyway, set `errorIfNonfinite: false`");
    // max_norm / (total_norm + 1e-6) in Python is Tensor.__rtruediv__: reciprocal() * max_norm.
    at::Tensor clipCoef = (total + 1e-6).reciprocal() * c.maxNorm;
    at::Tensor clamped = at::clamp(clipCoef, c10::optional<at::Scalar>(), c10::optional<at::Scalar>(1.0));
    for (const auto& group : GroupByDeviceAndDtype(grads)) {
      at::Tensor coef = clamped.to(group[0].device());
#if TORCH_VERSION_MAJOR >= 2
      if (c.foreach) {
        at::_foreach_mul_(group, coef);
        continue;
      }
#endif
      for (const at::Tensor& g : group) at::Tensor(g).mul_(coef);
    }
    return total;
  });
}

// clipGradValue(params, clipValue, foreach): every gradient clamped to [-clipValue, clipValue] (the
// foreach ops on 2.x clamp below, then above, with the same results).
Napi::Value ClipGradValue(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  double clipValue = ArgDouble(info, 1);
  bool foreach = ArgBool(info, 2);
  return ComputeVoid(info.Env(), false, [params, clipValue, foreach]() {
    std::vector<at::Tensor> grads = DefinedGrads(params);
    if (grads.empty()) return;
    for (const auto& group : GroupByDeviceAndDtype(grads)) {
#if TORCH_VERSION_MAJOR >= 2
      if (foreach) {
        at::_foreach_clamp_min_(group, -clipValue);
        at::_foreach_clamp_max_(group, clipValue);
        continue;
      }
#endif
      for (const at::Tensor& g : group) at::Tensor(g).clamp_(-clipValue, clipValue);
    }
  });
}

}  // namespace

void RegisterNnUtils(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"clipGradNorm", ClipGradNorm}, {"clipGradValue", ClipGradValue}});
}

}  // namespace tb
