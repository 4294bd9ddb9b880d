// What the optimizer steps share: one Compute-lane job per step that creates missing state.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <functional>
#include <vector>
#include "../tensor.h"
#include "../worker.h"

namespace tb {

// Creates the state tensor in `slot` of the current parameter as zeros like it, if undefined.
using EnsureState = std::function<void(at::Tensor& state, size_t slot)>;

// Runs update(i, ensure) for each parameter on the Compute lane (first-touching the state of a
// large model takes about a second, so it is created there too) and resolves with the created
// state tensors, `slots` per parameter, undefined where the state already existed.
template <typename Update>
Napi::Promise RunOptimizerStep(Napi::Env env, std::vector<at::Tensor> params, size_t slots, Update update) {
  using Result = std::vector<at::Tensor>;
  return RunAsync<Result>(
      env, false,
      [params, slots, update]() mutable {
        Result created(slots * params.size());
        for (size_t i = 0; i < params.size(); i++) {
          EnsureState ensure = [&](at::Tensor& state, size_t slot) {
            if (state.defined()) return;
            state = at::zeros_like(params[i], at::MemoryFormat::Preserve);
            created[slots * i + slot] = state;
          };
          update(i, ensure);
        }
        return created;
      },
      [](Napi::Env e, Result& created) { return TensorArray(e, created); }, Lane::Compute);
}

}  // namespace tb
