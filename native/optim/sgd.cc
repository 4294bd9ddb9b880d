// The native side of src/optim/sgd.ts: torch.optim.SGD's single-tensor step (PyTorch 1.13),
// op for op. Resolves with the momentum buffers created on this step (undefined elsewhere).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include "../autograd.h"
#include "fused.h"
#include "step.h"
#include "../addon.h"
#include "../exports.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {
namespace {

struct SgdHyper {
  double lr, momentum, dampening, weightDecay;
  bool nesterov, maximize;
};

// One parameter, op for op as PyTorch; returns the momentum buffer if it was created here.
at::Tensor SgdUpdate(const at::Tensor& param, at::Tensor buf, const SgdHyper& h) {
  at::Tensor created;
  at::Tensor d_p = h.maximize ? param.grad().neg() : param.grad();
  if (h.weightDecay != 0) d_p = d_p.add(param, h.weightDecay);
  if (h.momentum != 0) {
    if (!buf.defined()) {
      buf = created = d_p.clone().detach();
    } else {
      buf.mul_(h.momentum).add_(d_p, 1 - h.dampening);
    }
    d_p = h.nesterov ? d_p.add(buf, h.momentum) : buf;
  }
  at::Tensor(param).add_(d_p, -h.lr);
  return created;
}

// The fused path (`fused: true`): one multithreaded pass over p, g and the buffer, same formulas
// in float.
bool Fusable(const at::Tensor& param, const at::Tensor& buf) {
  auto ok = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(); };
  return ok(param) && ok(param.grad()) && (!buf.defined() || ok(buf));
}

struct FusedSgd {
  float *p, *buf;
  const float* g;
  float negLr, momentum, oneMinusDampening, weightDecay;
  bool first, nesterov, maximize;

  // SgdUpdate's ops, element by element; each add(alpha) is a MulAdd.
  template <bool kFma>
  __attribute__((always_inline)) void Run(int64_t begin, int64_t end) const {
    float* __restrict pp = p;
    float* __restrict bp = buf;
    const float* __restrict gp = g;
    const float lr = negLr, mom = momentum, damp = oneMinusDampening, wd = weightDecay, sign = maximize ? -1.0f : 1.0f;
    const bool decay = wd != 0, init = first, nest = nesterov;
    for (int64_t i = begin; i < end; i++) {
      float d = sign * gp[i];
      if (decay) d = MulAdd<kFma>(pp[i], wd, d);
      if (bp) {
        float b = init ? d : MulAdd<kFma>(d, damp, bp[i] * mom);
        bp[i] = b;
        d = nest ? MulAdd<kFma>(b, mom, d) : b;
      }
      pp[i] = MulAdd<kFma>(d, lr, pp[i]);
    }
  }
};

at::Tensor FusedSgdUpdate(const at::Tensor& param, at::Tensor buf, const SgdHyper& h) {
  at::Tensor created;
  if (h.momentum != 0 && !buf.defined()) buf = created = at::empty_like(param, at::MemoryFormat::Contiguous);
  FusedSgd k{param.data_ptr<float>(),
             buf.defined() ? buf.data_ptr<float>() : nullptr,
             param.grad().data_ptr<float>(),
             static_cast<float>(-h.lr),
             static_cast<float>(h.momentum),
             static_cast<float>(1 - h.dampening),
             static_cast<float>(h.weightDecay),
             created.defined(),
             h.nesterov,
             h.maximize};
  ParallelElementwise(param.numel(), k);
  return created;
}

// sgdStep(groups, admit) (see RunOptimizerStep), a group being
//   {params, state: {momentumBuffers (handle | undefined each)},
//    options: {lr, momentum, dampening, weightDecay, nesterov, maximize, fused}}
// A parameter's first step with momentum makes its buffer (the gradient's clone).
struct SgdOptions {
  SgdHyper h;
  bool fused;
};

SgdOptions ReadSgdOptions(const Napi::Object& o, const Napi::Object&, size_t) {
  return {{OptionDouble(o, "lr"), OptionDouble(o, "momentum"), OptionDouble(o, "dampening"), OptionDouble(o, "weightDecay"),
           OptionBool(o, "nesterov"), OptionBool(o, "maximize")},
          OptionBool(o, "fused")};
}

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  return RunOptimizerStep<SgdOptions>(
      info, {"momentumBuffers"}, ReadSgdOptions, [](StepGroup<SgdOptions>& g, size_t i, const NewState& created) {
        const at::Tensor& p = g.params[i];
        at::Tensor& buf = g.state[0][i];
        const SgdHyper& h = g.options.h;
        created.Made(g.options.fused && Fusable(p, buf) ? FusedSgdUpdate(p, buf, h) : SgdUpdate(p, buf, h), 0);
      });
}

}  // namespace

void RegisterSgd(Napi::Env env, Napi::Object exports) { ExportFunctions(env, exports, {{"sgdStep", SgdStep}}); }

}  // namespace tb
