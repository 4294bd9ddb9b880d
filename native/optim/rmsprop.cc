// The native side of src/optim/rmsprop.ts: torch.optim.RMSprop's single-tensor step of the linked
// libtorch's version, op for op, so that the result is bitwise Python's, and a fused pass that
// rounds the same way. TS owns the state tensors and step counts.
#include <ATen/ATen.h>
#include <torch/version.h>
#include <algorithm>
#include <vector>
#include "../autograd.h"
#include "fused.h"
#include "step.h"
#include "../addon.h"
#include "../exports.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {
namespace {

// PyTorch 2.x moves the centered gradient average with grad_avg.lerp_(grad, 1 - alpha); 1.13 with
// grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha), which rounds differently.
constexpr bool kLerpGradAvg = TORCH_VERSION_MAJOR >= 2;

struct RmspropHyper {
  double lr, alpha, eps, weightDecay, momentum;
  bool centered, maximize;
};

void RmspropUpdate(const at::Tensor& paramIn, at::Tensor& squareAvg, at::Tensor& gradAvg, at::Tensor& buf,
                   const RmspropHyper& h) {
  at::Tensor param = paramIn;
  at::Tensor grad = h.maximize ? paramIn.grad().neg() : paramIn.grad();
  if (h.weightDecay != 0) grad = grad.add(param, h.weightDecay);
  squareAvg.mul_(h.alpha).addcmul_(grad, grad, 1 - h.alpha);
  at::Tensor avg;
  if (h.centered) {
    if (kLerpGradAvg) {
      gradAvg.lerp_(grad, 1 - h.alpha);
    } else {
      gradAvg.mul_(h.alpha).add_(grad, 1 - h.alpha);
    }
    avg = squareAvg.addcmul(gradAvg, gradAvg, -1).sqrt_();
  } else {
    avg = squareAvg.sqrt();
  }
  avg.add_(h.eps);
  if (h.momentum > 0) {
    buf.mul_(h.momentum).addcdiv_(grad, avg);
    param.add_(buf, -h.lr);
  } else {
    param.addcdiv_(grad, avg, -h.lr);
  }
}

// The fused path (`fused: true`): one pass per tensor over p, g and the state, split across the
// intra-op threads; the op-by-op path above makes five to ten.
bool Fusable(const at::Tensor& param, std::initializer_list<const at::Tensor*> state) {
  auto ok = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(); };
  return ok(param) && ok(param.grad()) &&
         std::all_of(state.begin(), state.end(), [&](const at::Tensor* t) { return !t->defined() || ok(*t); });
}

struct FusedRmsprop {
  float *p, *v, *gavg, *buf;  // gavg: centered only; buf: momentum only
  const float* g;
  float alpha, oneMinusAlpha, weightDecay, momentum, negLr;
  double eps;
  bool maximize;

  template <bool kFma>
  __attribute__((always_inline)) void Run(int64_t begin, int64_t end) const {
    if (gavg && buf)
      Blocks<kFma, true, true>(begin, end);
    else if (gavg)
      Blocks<kFma, true, false>(begin, end);
    else if (buf)
      Blocks<kFma, false, true>(begin, end);
    else
      Blocks<kFma, false, false>(begin, end);
  }

  // RmspropUpdate's ops, element by element, with ATen's rounding (see fused.h and adam.cc):
  // add(alpha) and addcmul are fused multiply-adds in its AVX2 build, lerp is ATen's two-branch
  // formula, addcdiv computes self + (value * t1) / t2. sqrt and add(eps) are ATen's own ops on a
  // cache-sized block, since 2.x's MKL vector math rounds sqrt differently from std::sqrt. The
  // centered and momentum variants are separate loops, with no branch inside, so they vectorise.
  template <bool kFma, bool kCentered, bool kMomentum>
  __attribute__((always_inline)) void Blocks(int64_t begin, int64_t end) const {
    float* __restrict pp = p;
    float* __restrict vp = v;
    float* __restrict ap = gavg;
    float* __restrict bp = buf;
    const float* __restrict gp = g;
    const float a = alpha, c = oneMinusAlpha, wd = weightDecay, mom = momentum, lr = negLr;
    const float sign = maximize ? -1.0f : 1.0f;
    const bool decay = wd != 0;
    // lerp(ga, grad, c): ga + c * (grad - ga) for |c| < 0.5, else grad + (c - 1) * (grad - ga).
    const bool smallWeight = std::fabs(c) < 0.5f;
    const float lerpWeight = smallWeight ? c : c - 1.0f;
    constexpr int64_t kBlock = 16384;
    thread_local std::vector<float> avgBlock(kBlock);
    float* __restrict dp = avgBlock.data();
    const auto options = at::TensorOptions().dtype(at::kFloat);
    auto gradAt = [&](int64_t i) __attribute__((always_inline)) {
      const float grad = sign * gp[i];
      return decay ? MulAdd<kFma>(pp[i], wd, grad) : grad;
    };
    for (int64_t from = begin; from < end; from += kBlock) {
      const int64_t to = std::min(end, from + kBlock);
      for (int64_t i = from; i < to; i++) {
        const float grad = gradAt(i);
        const float vi = MulAdd<kFma>(c * grad, grad, vp[i] * a);
        vp[i] = vi;
        if constexpr (kCentered) {
          const float ai = kLerpGradAvg ? MulAdd<kFma>(lerpWeight, grad - ap[i], smallWeight ? ap[i] : grad)
                                        : MulAdd<kFma>(grad, c, ap[i] * a);
          ap[i] = ai;
          dp[i - from] = MulAdd<kFma>(-ai, ai, vi);  // square_avg.addcmul(grad_avg, grad_avg, value=-1)
        }
      }
      at::Tensor avg = at::from_blob(dp, {to - from}, options);
      if constexpr (kCentered) {
        avg.sqrt_();
      } else {
        at::sqrt_out(avg, at::from_blob(vp + from, {to - from}, options));
      }
      avg.add_(eps);
      for (int64_t i = from; i < to; i++) {
        const float grad = gradAt(i);
        if constexpr (kMomentum) {
          const float b = bp[i] * mom + grad / dp[i - from];
          bp[i] = b;
          pp[i] = MulAdd<kFma>(b, lr, pp[i]);
        } else {
          pp[i] = pp[i] + lr * grad / dp[i - from];
        }
      }
    }
  }
};

void FusedRmspropUpdate(const at::Tensor& param, at::Tensor& squareAvg, at::Tensor& gradAvg, at::Tensor& buf,
                        const RmspropHyper& h) {
  FusedRmsprop k{param.data_ptr<float>(),
                 squareAvg.data_ptr<float>(),
                 gradAvg.defined() ? gradAvg.data_ptr<float>() : nullptr,
                 buf.defined() ? buf.data_ptr<float>() : nullptr,
                 param.grad().data_ptr<float>(),
                 static_cast<float>(h.alpha),
                 static_cast<float>(1 - h.alpha),
                 static_cast<float>(h.weightDecay),
                 static_cast<float>(h.momentum),
                 static_cast<float>(-h.lr),
                 h.eps,
                 h.maximize};
  ParallelElementwise(param.numel(), k);
}

// rmspropStep(groups, admit) (see RunOptimizerStep), a group being
//   {params, state: {squareAvgs, gradAvgs, momentumBuffers} (handle | undefined each),
//    options: {lr, alpha, eps, weightDecay, momentum, centered, maximize, fused}}
// Missing state is created as zeros (grad_avg only when centered, the momentum buffer only when
// momentum > 0).
struct RmspropOptions {
  RmspropHyper h;
  bool fused;
};

RmspropOptions ReadRmspropOptions(const Napi::Object& o, const Napi::Object&, size_t) {
  return {{OptionDouble(o, "lr"), OptionDouble(o, "alpha"), OptionDouble(o, "eps"), OptionDouble(o, "weightDecay"),
           OptionDouble(o, "momentum"), OptionBool(o, "centered"), OptionBool(o, "maximize")},
          OptionBool(o, "fused")};
}

Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
  return RunOptimizerStep<RmspropOptions>(info, {"squareAvgs", "gradAvgs", "momentumBuffers"}, ReadRmspropOptions,
                                          [](StepGroup<RmspropOptions>& g, size_t i, const NewState& created) {
                                            const RmspropHyper& h = g.options.h;
                                            const at::Tensor& param = g.params[i];
                                            at::Tensor& squareAvg = g.state[0][i];
                                            created.Zeros(squareAvg, 0);
                                            if (h.centered) created.Zeros(g.state[1][i], 1);
                                            if (h.momentum > 0) created.Zeros(g.state[2][i], 2);
                                            at::Tensor gradAvg = h.centered ? g.state[1][i] : at::Tensor();
                                            at::Tensor buf = h.momentum > 0 ? g.state[2][i] : at::Tensor();
                                            if (g.options.fused && Fusable(param, {&squareAvg, &gradAvg, &buf})) {
                                              FusedRmspropUpdate(param, squareAvg, gradAvg, buf, h);
                                            } else {
                                              RmspropUpdate(param, squareAvg, gradAvg, buf, h);
                                            }
                                          });
}

}  // namespace

void RegisterRmsprop(Napi::Env env, Napi::Object exports) { ExportFunctions(env, exports, {{"rmspropStep", RmspropStep}}); }

}  // namespace tb
