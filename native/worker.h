// Runs libtorch work off the JS thread and settles a Promise on the JS thread. Two lanes:
// - Compute: the model's math (layers, backward, optimizer steps) on one thread per environment.
//   Its OpenMP team stays warm from op to op; ops spread over libuv's threads each woke another
//   team, which cost AlexNet's forward 40% here.
// - Pool: libuv's threads, for work that may run beside the math (decoding, file data,
//   collectives).
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <functional>
#include <memory>
#include <utility>
#include "autograd.h"
#include "errors.h"
#include "runtime.h"

namespace tb {

enum class Lane { Pool, Compute };

template <typename Result>
using WorkFn = std::function<Result()>;
template <typename Result>
using ConvertFn = std::function<Napi::Value(Napi::Env, Result&)>;

// A piece of work as the Compute lane queues it (worker.cc).
class ComputeTask {
 public:
  virtual ~ComputeTask() = default;
  virtual void Execute() = 0;              // off the JS thread
  virtual void Settle(Napi::Env env) = 0;  // on the JS thread
};

// One piece of work: Execute off the JS thread, Settle its Promise on it.
template <typename Result>
class Job : public ComputeTask {
 public:
  Job(Napi::Env env, ExecMode mode, Lane lane, WorkFn<Result> work, ConvertFn<Result> convert)
      : deferred_(Napi::Promise::Deferred::New(env)),
        mode_(mode),
        lane_(lane),
        work_(std::move(work)),
        convert_(std::move(convert)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      ApplyThreadSettings();
      // Grad mode and autocast are thread-local in libtorch: set them where the work runs.
      ExecModeGuard guard(mode_);
      // The math runs here, in order: zeroing left pending by zeroGrad happens before any of it
      // can read a gradient, so no op has to remember to do it.
      if (lane_ == Lane::Compute) ZeroDeferredGrads();
      result_ = work_();
      ok_ = true;
    } catch (...) {
      failure_ = CurrentFailure();
    }
    work_ = nullptr;  // drop captured tensors here, not on the JS thread
  }

  void Settle(Napi::Env env) override {
    if (!ok_) {
      deferred_.Reject(MakeTorchError(env, failure_.code, failure_.message).Value());
      return;
    }
    try {
      deferred_.Resolve(convert_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      Failure f = CurrentFailure();
      deferred_.Reject(MakeTorchError(env, f.code, f.message).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  ExecMode mode_;
  Lane lane_;
  WorkFn<Result> work_;
  ConvertFn<Result> convert_;
  Result result_{};
  bool ok_ = false;
  Failure failure_;
};

// The Pool lane: a Job on libuv's threads.
template <typename Result>
class PoolWorker : public Napi::AsyncWorker {
 public:
  explicit PoolWorker(Napi::Env env, std::unique_ptr<Job<Result>> job)
      : Napi::AsyncWorker(env, "torchbridge"), job_(std::move(job)) {}

 protected:
  void Execute() override { job_->Execute(); }
  void OnOK() override { job_->Settle(Env()); }

 private:
  std::unique_ptr<Job<Result>> job_;
};

// Queues a task on this environment's compute thread (worker.cc); call on the JS thread.
void SubmitCompute(Napi::Env env, std::unique_ptr<ComputeTask> task);

template <typename Result>
Napi::Promise RunAsync(Napi::Env env, ExecMode mode, WorkFn<Result> work, ConvertFn<Result> convert, Lane lane = Lane::Pool) {
  auto job = std::make_unique<Job<Result>>(env, mode, lane, std::move(work), std::move(convert));
  Napi::Promise promise = job->Promise();
  if (lane == Lane::Compute) {
    SubmitCompute(env, std::move(job));
  } else {
    (new PoolWorker<Result>(env, std::move(job)))->Queue();
  }
  return promise;
}

// Work that produces one tensor, resolved as a new Tensor handle.
Napi::Promise RunAsyncTensor(Napi::Env env, ExecMode mode, std::function<at::Tensor()> work, Lane lane = Lane::Pool);
// Work that produces nothing of interest, resolved as undefined.
Napi::Promise RunAsyncVoid(Napi::Env env, ExecMode mode, std::function<void()> work, Lane lane = Lane::Pool);

// The same on the Compute lane.
inline Napi::Promise ComputeTensor(Napi::Env env, ExecMode mode, std::function<at::Tensor()> work) {
  return RunAsyncTensor(env, mode, std::move(work), Lane::Compute);
}
inline Napi::Promise ComputeVoid(Napi::Env env, ExecMode mode, std::function<void()> work) {
  return RunAsyncVoid(env, mode, std::move(work), Lane::Compute);
}

}  // namespace tb
