// Runs libtorch work on a libuv worker thread and settles a Promise on the JS thread.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <functional>
#include <utility>
#include "autograd.h"
#include "errors.h"
#include "runtime.h"

namespace tb {

template <typename Result>
class TorchWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  TorchWorker(Napi::Env env, ExecMode mode, Work work, Convert convert)
      : Napi::AsyncWorker(env, "torchbridge"),
        deferred_(Napi::Promise::Deferred::New(env)),
        mode_(mode),
        work_(std::move(work)),
        convert_(std::move(convert)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      ApplyThreadSettings();
      // Grad mode and autocast are thread-local in libtorch: set them where the work runs.
      ExecModeGuard guard(mode_);
      result_ = work_();
    } catch (...) {
      failure_ = CurrentFailure();
      SetError(failure_.message);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(convert_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      Failure f = CurrentFailure();
      deferred_.Reject(MakeTorchError(env, f.code, f.message).Value());
    }
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(MakeTorchError(Env(), failure_.code, failure_.message).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ExecMode mode_;
  Work work_;
  Convert convert_;
  Result result_{};
  Failure failure_;
};

template <typename Result>
Napi::Promise RunAsync(Napi::Env env, ExecMode mode, typename TorchWorker<Result>::Work work,
                       typename TorchWorker<Result>::Convert convert) {
  auto* worker = new TorchWorker<Result>(env, mode, std::move(work), std::move(convert));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// Work that produces one tensor, resolved as a new Tensor handle.
Napi::Promise RunAsyncTensor(Napi::Env env, ExecMode mode, std::function<at::Tensor()> work);
// Work that produces nothing of interest, resolved as undefined.
Napi::Promise RunAsyncVoid(Napi::Env env, ExecMode mode, std::function<void()> work);

}  // namespace tb
