// The native side of src/optim/sgd.ts: torch.optim.SGD's single-tensor step (PyTorch 1.13),
// op for op. Resolves with the momentum buffers created on this step (undefined elsewhere).
#include <ATen/ATen.h>
#include "../autograd.h"
#include "../addon.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {
namespace {

struct SgdHyper {
  double lr, momentum, dampening, weightDecay;
  bool nesterov, maximize;
};

// sgdStep(params, buffers (handle | undefined), lr, momentum, dampening, weightDecay, nesterov,
//         maximize)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  auto buffers = ArgTensorList(info, 1, true);
  SgdHyper h{ArgDouble(info, 2), ArgDouble(info, 3), ArgDouble(info, 4), ArgDouble(info, 5),
             ArgBool(info, 6), ArgBool(info, 7)};
  if (buffers.size() != params.size()) {
    throw Napi::TypeError::New(info.Env(), "sgdStep: buffers differ in length from params");
  }
  using Result = std::vector<at::Tensor>;
  return RunAsync<Result>(
      info.Env(), false,
      [=]() mutable {
        ZeroDeferredGrads();
        Result created(params.size());
        for (size_t i = 0; i < params.size(); i++) {
          at::Tensor param = params[i];
          at::Tensor d_p = h.maximize ? param.grad().neg() : param.grad();
          if (h.weightDecay != 0) d_p = d_p.add(param, h.weightDecay);
          if (h.momentum != 0) {
            at::Tensor buf = buffers[i];
            if (!buf.defined()) {
              buf = d_p.clone().detach();
              created[i] = buf;
            } else {
              buf.mul_(h.momentum).add_(d_p, 1 - h.dampening);
            }
            d_p = h.nesterov ? d_p.add(buf, h.momentum) : buf;
          }
          param.add_(d_p, -h.lr);
        }
        return created;
      },
      [](Napi::Env env, Result& created) { return TensorArray(env, created); });
}

}  // namespace

void RegisterSgd(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
}

}  // namespace tb
