// The native side of src/autograd.ts: backward off the JS thread, gradient access.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <mutex>
#include <unordered_set>
#include <vector>
#include "autograd.h"
#include "addon.h"
#include "errors.h"
#include "tensor.h"
#include "worker.h"
#include "exports.h"

namespace tb {
namespace {

// Held while zeroing, so a reader that finds the list empty knows no zeroing is still under way.
std::mutex g_deferredMutex;
std::vector<at::Tensor> g_deferredZero;

// Defers zeroing a parameter's grad (a reference to its slot) if nothing else shares it.
bool DeferZero(const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(g_deferredMutex);
  bool pending = false;
  for (const at::Tensor& g : g_deferredZero) pending = pending || g.is_same(grad);
  if (grad.use_count() != (pending ? 2 : 1) || grad.storage().use_count() != 1) return false;
  if (!pending) g_deferredZero.push_back(grad);
  return true;
}

}  // namespace

namespace {
// Bit layout shared with src/autograd.ts: bit 0 grad; bits 1-2 CPU autocast, bits 3-4 CUDA
// autocast (0 off, 1 bfloat16, 2 float16).
at::ScalarType AutocastDtype(int64_t code) {
  return code == 1 ? at::kBFloat16 : code == 2 ? at::kHalf : at::ScalarType::Undefined;
}
}  // namespace

ExecMode ExecMode::Decode(int64_t bits) {
  ExecMode m((bits & 1) != 0);
  m.autocastCpu = AutocastDtype((bits >> 1) & 3);
  m.autocastCuda = AutocastDtype((bits >> 3) & 3);
  return m;
}

ExecMode ArgMode(const Napi::CallbackInfo& info, size_t index) {
  int64_t bits = ArgInt(info, index);
  if (bits < 0 || bits > 31) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(index) + ": expected an execution mode (0-31)");
  }
  return ExecMode::Decode(bits);
}

ExecModeGuard::ExecModeGuard(const ExecMode& mode) : grad_(mode.grad), saved_(compat::GetAutocast()) {
  compat::AutocastState s = saved_;
  s.cpu = mode.autocastCpu != at::ScalarType::Undefined;
  s.cuda = mode.autocastCuda != at::ScalarType::Undefined;
  if (s.cpu) s.cpuDtype = mode.autocastCpu;
  if (s.cuda) s.cudaDtype = mode.autocastCuda;
  s.cache = false;
  compat::SetAutocast(s);
}

ExecModeGuard::~ExecModeGuard() { compat::SetAutocast(saved_); }

void ZeroDeferredGrads() {
  std::lock_guard<std::mutex> lock(g_deferredMutex);
  for (at::Tensor& g : g_deferredZero) {
    // Only this list holds it: the parameter's grad was replaced or dropped since zeroGrad.
    if (g.use_count() > 1) g.zero_();
  }
  g_deferredZero.clear();
}

namespace {

// backward(loss, gradient | undefined, retainGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  at::Tensor loss = ArgTensor(info, 0);
  c10::optional<at::Tensor> gradient = ArgOptTensor(info, 1);
  bool retainGraph = ArgBool(info, 2);
  return ComputeVoid(info.Env(), true,
                     [loss, gradient, retainGraph]() { loss.backward(gradient.value_or(at::Tensor()), retainGraph); });
}

// graphLeaves(root): the leaves whose .grad a backward() from root accumulates into, so that
// src/tensor.ts can mark exactly those gradients busy (and the leaves' data, which the graph reads).
Napi::Value GraphLeaves(const Napi::CallbackInfo& info) {
  at::Tensor root = ArgTensor(info, 0);
  return Guarded(info.Env(), [&] {
    std::vector<at::Tensor> leaves;
    if (root.requires_grad() && !root.grad_fn()) leaves.push_back(root);
    std::vector<torch::autograd::Node*> stack;
    std::unordered_set<torch::autograd::Node*> seen;
    if (root.grad_fn()) stack.push_back(root.grad_fn().get());
    while (!stack.empty()) {
      torch::autograd::Node* node = stack.back();
      stack.pop_back();
      if (!seen.insert(node).second) continue;
      if (auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(node)) leaves.push_back(acc->variable);
      for (const auto& edge : node->next_edges()) {
        if (edge.function) stack.push_back(edge.function.get());
      }
    }
    return TensorArray(info.Env(), leaves);
  });
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  Guarded(info.Env(), [] { ZeroDeferredGrads(); });
  return TensorHandle::New(info.Env(), t.grad());
}

// setGrad(param, grad | undefined): param.grad = grad.clone() (or None), as assigning .grad does.
void SetGrad(const Napi::CallbackInfo& info) {
  at::Tensor p = ArgTensor(info, 0);
  c10::optional<at::Tensor> g = ArgOptTensor(info, 1);
  Guarded(info.Env(), [&] { p.mutable_grad() = g ? g->detach().clone() : at::Tensor(); });
}

// zeroGrad(params, setToNone): Optimizer.zero_grad's semantics (grad is detached, then zeroed).
// A gradient only its parameter references is zeroed later, by ZeroDeferredGrads; one that a
// handle or view also shares is zeroed now, since its holder may read it at once.
void ZeroGrad(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  bool setToNone = ArgBool(info, 1);
  Guarded(info.Env(), [&] {
    for (at::Tensor& p : params) {
      at::Tensor& g = p.mutable_grad();
      if (!g.defined()) continue;
      if (setToNone) {
        g.reset();
      } else {
        if (g.grad_fn())
          g = g.detach();
        else
          g.requires_grad_(false);
        if (!DeferZero(g)) g.zero_();
      }
    }
  });
}

}  // namespace

void RegisterAutograd(Napi::Env env, Napi::Object exports) {
  ExportFunctions(
      env, exports,
      {{"backward", Backward}, {"graphLeaves", GraphLeaves}, {"grad", Grad}, {"setGrad", SetGrad}, {"zeroGrad", ZeroGrad}});
}

}  // namespace tb
