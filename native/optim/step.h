// What the optimizer steps share: one native call per step() over every param group, which
// decides which parameters to step and updates them in one Compute-lane job.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>
#include "../args.h"
#include "../tensor.h"
#include "../worker.h"

namespace tb {

// The state tensors one parameter's update creates, in its `slots` places of the step's result.
class NewState {
 public:
  NewState(const at::Tensor& param, at::Tensor* slots) : param_(param), slots_(slots) {}
  // Fills undefined state with zeros like the parameter (first-touching the state of a large
  // model takes about a second, so it happens here, off the JS thread).
  void Zeros(at::Tensor& state, size_t slot) const {
    if (state.defined()) return;
    state = at::zeros_like(param_, at::MemoryFormat::Preserve);
    slots_[slot] = state;
  }
  // Records state the update made itself (SGD's first momentum buffer is the gradient's clone).
  void Made(const at::Tensor& state, size_t slot) const { slots_[slot] = state; }

 private:
  const at::Tensor& param_;
  at::Tensor* slots_;
};

// One param group of a step call, {params, state: {name: [handle | undefined per param], ...},
// options}: the state lists in the order the optimizer names them, and what it reads from the
// options (given the state object and the parameter count too, for Adam's step counts).
template <typename Options>
struct StepGroup {
  std::vector<at::Tensor> params;
  std::vector<std::vector<at::Tensor>> state;
  Options options;
};

// adamStep, sgdStep and rmspropStep(groups, admit). On the JS thread it reads each group and
// decides which parameters have a gradient (the others are skipped, as PyTorch's
// `if p.grad is None: continue`), and calls admit(plan), a boolean per parameter per group,
// before any work is queued: TS claims exactly those parameters and their state there, or throws
// BUSY, which cancels the whole step. Then one Compute-lane job runs update(group, i, newState)
// for each of them, and the promise resolves with, per group, one tensor per state name per
// parameter: the state created (undefined where it existed or the parameter was skipped).
template <typename Options, typename ReadOptions, typename Update>
Napi::Value RunOptimizerStep(const Napi::CallbackInfo& info, std::vector<const char*> stateNames, ReadOptions readOptions,
                             Update update) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw ArgError(info, 0, "an array of param groups");
  if (!info[1].IsFunction()) throw ArgError(info, 1, "a function");
  Napi::Array groupValues = info[0].As<Napi::Array>();
  std::vector<StepGroup<Options>> groups;
  std::vector<std::vector<bool>> plan;
  Napi::Array planValue = Napi::Array::New(env, groupValues.Length());
  for (uint32_t k = 0; k < groupValues.Length(); k++) {
    if (!groupValues.Get(k).IsObject()) throw ArgError(info, 0, "an array of param groups");
    Napi::Object g = groupValues.Get(k).As<Napi::Object>();
    Napi::Object state = OptionObject(g, "state");
    std::vector<at::Tensor> params = OptionTensorList(g, "params");
    StepGroup<Options> group{params, {}, readOptions(OptionObject(g, "options"), state, params.size())};
    for (const char* name : stateNames) {
      group.state.push_back(OptionTensorList(state, name, true));
      if (group.state.back().size() != group.params.size()) {
        throw Napi::TypeError::New(env, std::string("optimizer step: state list '") + name + "' differs in length from params");
      }
    }
    std::vector<bool> stepped;
    Napi::Array steppedValue = Napi::Array::New(env, group.params.size());
    for (const at::Tensor& p : group.params) {
      const bool hasGrad = p.grad().defined();
      steppedValue.Set(stepped.size(), hasGrad);
      stepped.push_back(hasGrad);
    }
    groups.push_back(std::move(group));
    plan.push_back(std::move(stepped));
    planValue.Set(k, steppedValue);
  }
  info[1].As<Napi::Function>().Call({planValue});  // a BUSY thrown here propagates; nothing ran

  using Result = std::vector<std::vector<at::Tensor>>;
  const size_t slots = stateNames.size();
  return RunAsync<Result>(
      env, false,
      [groups = std::move(groups), plan = std::move(plan), slots, update]() mutable {
        Result created(groups.size());
        for (size_t k = 0; k < groups.size(); k++) {
          created[k].resize(slots * groups[k].params.size());
          for (size_t i = 0; i < groups[k].params.size(); i++) {
            if (plan[k][i]) update(groups[k], i, NewState(groups[k].params[i], &created[k][slots * i]));
          }
        }
        return created;
      },
      [](Napi::Env e, Result& created) {
        Napi::Array out = Napi::Array::New(e, created.size());
        for (size_t k = 0; k < created.size(); k++) out.Set(k, TensorArray(e, created[k]));
        return out;
      },
      Lane::Compute);
}

}  // namespace tb
