// The native side of src/optim/adam.ts: torch.optim.Adam's (and AdamW's) single-tensor step of
// the linked libtorch's version, op for op, so that the result is bitwise Python's. TS owns the
// state tensors and step counts.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <algorithm>
#include <cmath>
#include <type_traits>
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

// PyTorch 2.x moves the first moment with exp_avg.lerp_(grad, 1 - beta1); 1.13 with
// exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1), which rounds differently.
constexpr bool kLerpFirstMoment = TORCH_VERSION_MAJOR >= 2;

struct AdamHyper {
  double lr, beta1, beta2, eps, weightDecay;
  // decoupled: AdamW's weight decay, param *= 1 - lr * weightDecay before the update, instead of
  // the L2 term added to the gradient.
  bool amsgrad, maximize, decoupled;
};

void AdamUpdate(const at::Tensor& paramIn, at::Tensor& expAvg, at::Tensor& expAvgSq, at::Tensor* maxExpAvgSq, double step,
                const AdamHyper& h) {
  at::Tensor param = paramIn;
  at::Tensor grad = h.maximize ? paramIn.grad().neg() : paramIn.grad();
  if (h.weightDecay != 0) {
    if (h.decoupled) {
      param.mul_(1 - h.lr * h.weightDecay);
    } else {
      grad = grad.add(param, h.weightDecay);
    }
  }
  if (kLerpFirstMoment) {
    expAvg.lerp_(grad, 1 - h.beta1);
  } else {
    expAvg.mul_(h.beta1).add_(grad, 1 - h.beta1);
  }
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

// The fused path (`fused: true`): one pass per tensor that reads p, g, m, v and writes p, m, v,
// split across the intra-op threads; the op-by-op path above makes about eight passes. Same
// formulas in float, so results differ from PyTorch's only in rounding.
bool Fusable(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& expAvg, const at::Tensor& expAvgSq,
             const at::Tensor* maxExpAvgSq) {
  auto ok = [&](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(); };
  return ok(param) && ok(grad) && ok(expAvg) && ok(expAvgSq) && (!maxExpAvgSq || ok(*maxExpAvgSq));
}

// The fused step's first pass: AdamUpdate's moment updates, element by element. add(alpha) is a
// MulAdd in ATen's source, and addcmul's `self + value * t1 * t2` became one in its AVX2 build
// (GCC contracts it). lerp(m, g, w) is ATen's: m + w * (g - m) for |w| < 0.5, else
// g + (w - 1) * (g - m), each one fused multiply-add in the AVX2 build.
struct FusedAdamMoments {
  float *p, *m, *v, *vmax;
  const float* g;
  // weightDecay is the L2 term's coefficient (0 for AdamW), decayFactor AdamW's 1 - lr * wd (1 for Adam).
  float beta1, beta2, oneMinusBeta1, oneMinusBeta2, weightDecay, decayFactor;
  bool maximize;

  template <bool kFma>
  __attribute__((always_inline)) void Run(int64_t begin, int64_t end) const {
    // Locals and restrict: otherwise the float stores might alias the float members, and the loop
    // would neither hoist them nor vectorise.
    float* __restrict pp = p;
    float* __restrict mp = m;
    float* __restrict vp = v;
    float* __restrict vmaxp = vmax;
    const float* __restrict gp = g;
    const float b1 = beta1, b2 = beta2, c1 = oneMinusBeta1, c2 = oneMinusBeta2, wd = weightDecay, df = decayFactor;
    const float sign = maximize ? -1.0f : 1.0f;
    const bool decay = wd != 0, decoupled = df != 1;
    const bool smallWeight = std::fabs(c1) < 0.5f;
    auto loop = [&](auto amsgrad) {
      for (int64_t i = begin; i < end; i++) {
        float grad = sign * gp[i];          // maximize negates: exact, like grad.neg()
        if (decoupled) pp[i] = pp[i] * df;  // param.mul_(1 - lr * wd): one float product
        if (decay) grad = MulAdd<kFma>(pp[i], wd, grad);
        float mi = !kLerpFirstMoment ? MulAdd<kFma>(grad, c1, mp[i] * b1)
                   : smallWeight     ? MulAdd<kFma>(c1, grad - mp[i], mp[i])
                                     : MulAdd<kFma>(c1 - 1.0f, grad - mp[i], grad);
        float vi = MulAdd<kFma>(c2 * grad, grad, vp[i] * b2);
        mp[i] = mi;
        vp[i] = vi;
        if constexpr (decltype(amsgrad)::value) vmaxp[i] = std::max(vmaxp[i], vi);
      }
    };
    // Two loops: one that tests vmax inside compiles to masked loads from a null pointer, which
    // cost a microcode assist each on AMD (a 2x slower step, measured).
    if (vmaxp)
      loop(std::true_type{});
    else
      loop(std::false_type{});
  }
};

// The last pass: param.addcdiv_(exp_avg, denom, value=-step_size), `self + value * t1 / t2`.
struct FusedAdamParam {
  float* p;
  const float *m, *denom;
  float negStepSize;

  template <bool kFma>
  __attribute__((always_inline)) void Run(int64_t begin, int64_t end) const {
    float* __restrict pp = p;
    const float* __restrict mp = m;
    const float* __restrict dp = denom;
    const float step = negStepSize;
    for (int64_t i = begin; i < end; i++) pp[i] = pp[i] + step * mp[i] / dp[i];
  }
};

// One parallel pass, block by block within each thread's range: the moments, then the
// denominator sqrt(v) / bc2 + eps by ATen's own ops on the block (2.x's MKL builds take sqrt from
// MKL's vector math, which is not correctly rounded: 17% of floats differ from std::sqrt), then
// the parameters. A 64K-element block (256 KB per array) stays in L2 for the later steps, and
// its ATen calls run inline. On a 37.7M-element weight (2 threads) this takes 75-140 ms (noisy;
// 16K blocks no better), PyTorch's fused=True, which rounds with std::sqrt, 40 ms; MKL's sqrt
// alone is 20 ms of the gap.
struct FusedAdamBlocks {
  FusedAdamMoments moments;
  const float* second;  // v, or vmax with amsgrad
  double biasCorrection2Sqrt, eps;
  float negStepSize;

  template <bool kFma>
  __attribute__((always_inline)) void Run(int64_t begin, int64_t end) const {
    constexpr int64_t kBlock = 65536;
    thread_local std::vector<float> denomBlock(kBlock);
    const auto options = at::TensorOptions().dtype(at::kFloat);
    for (int64_t from = begin; from < end; from += kBlock) {
      const int64_t len = std::min(end, from + kBlock) - from;
      moments.Run<kFma>(from, from + len);
      at::Tensor denom = at::from_blob(denomBlock.data(), {len}, options);
      at::sqrt_out(denom, at::from_blob(const_cast<float*>(second + from), {len}, options));
      denom.div_(biasCorrection2Sqrt).add_(eps);
      FusedAdamParam{moments.p + from, moments.m + from, denomBlock.data(), negStepSize}.Run<kFma>(0, len);
    }
  }
};

void FusedAdamUpdate(const at::Tensor& param, at::Tensor& expAvg, at::Tensor& expAvgSq, at::Tensor* maxExpAvgSq, double step,
                     const AdamHyper& h) {
  float* v = expAvgSq.data_ptr<float>();
  float* vmax = maxExpAvgSq ? maxExpAvgSq->data_ptr<float>() : nullptr;
  const bool decoupled = h.decoupled && h.weightDecay != 0;
  FusedAdamMoments moments{param.data_ptr<float>(),
                           expAvg.data_ptr<float>(),
                           v,
                           vmax,
                           param.grad().data_ptr<float>(),
                           static_cast<float>(h.beta1),
                           static_cast<float>(h.beta2),
                           static_cast<float>(1 - h.beta1),
                           static_cast<float>(1 - h.beta2),
                           decoupled ? 0.0f : static_cast<float>(h.weightDecay),
                           decoupled ? static_cast<float>(1 - h.lr * h.weightDecay) : 1.0f,
                           h.maximize};
  ParallelElementwise(param.numel(), FusedAdamBlocks{moments, vmax ? vmax : v, std::sqrt(1 - std::pow(h.beta2, step)), h.eps,
                                                     static_cast<float>(-(h.lr / (1 - std::pow(h.beta1, step))))});
}

// adamStep(groups, admit) (see RunOptimizerStep), a group being
//   {params, state: {expAvgs, expAvgSqs, maxExpAvgSqs (handle | undefined each), steps (the step
//    count of each param, this step included)},
//    options: {lr, beta1, beta2, eps, weightDecay, amsgrad, maximize, decoupledWeightDecay, fused}}
// Missing state is created as zeros.
struct AdamOptions {
  AdamHyper h;
  bool fused;
  std::vector<double> steps;
};

AdamOptions ReadAdamOptions(const Napi::Object& o, const Napi::Object& state, size_t params) {
  AdamOptions read{{OptionDouble(o, "lr"), OptionDouble(o, "beta1"), OptionDouble(o, "beta2"), OptionDouble(o, "eps"),
                    OptionDouble(o, "weightDecay"), OptionBool(o, "amsgrad"), OptionBool(o, "maximize"),
                    OptionBool(o, "decoupledWeightDecay")},
                   OptionBool(o, "fused"),
                   OptionDoubleList(state, "steps")};
  if (read.steps.size() != params)
    throw Napi::TypeError::New(o.Env(), "adamStep: state list 'steps' differs in length from params");
  return read;
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  return RunOptimizerStep<AdamOptions>(info, {"expAvgs", "expAvgSqs", "maxExpAvgSqs"}, ReadAdamOptions,
                                       [](StepGroup<AdamOptions>& g, size_t i, const NewState& created) {
                                         const AdamHyper& h = g.options.h;
                                         const at::Tensor& param = g.params[i];
                                         at::Tensor &expAvg = g.state[0][i], &expAvgSq = g.state[1][i];
                                         at::Tensor* maxSq = h.amsgrad ? &g.state[2][i] : nullptr;
                                         created.Zeros(expAvg, 0);
                                         created.Zeros(expAvgSq, 1);
                                         if (maxSq) created.Zeros(*maxSq, 2);
                                         if (g.options.fused && Fusable(param, param.grad(), expAvg, expAvgSq, maxSq)) {
                                           FusedAdamUpdate(param, expAvg, expAvgSq, maxSq, g.options.steps[i], h);
                                         } else {
                                           AdamUpdate(param, expAvg, expAvgSq, maxSq, g.options.steps[i], h);
                                         }
                                       });
}

}  // namespace

void RegisterAdam(Napi::Env env, Napi::Object exports) { ExportFunctions(env, exports, {{"adamStep", AdamStep}}); }

}  // namespace tb
