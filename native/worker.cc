// The Compute lane of worker.h: one thread per environment runs the model's math in order;
// a thread-safe function settles each task's Promise back on the JS thread. Also RunAsyncTensor
// and RunAsyncVoid, the two result shapes most native calls resolve with.
#include "worker.h"
#include "addon.h"
#include "tensor.h"
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace tb {
namespace {

struct ComputeLane;
void SettleOnJsThread(Napi::Env env, Napi::Function, ComputeLane* lane, ComputeTask* task);
using SettleFn = Napi::TypedThreadSafeFunction<ComputeLane, ComputeTask, SettleOnJsThread>;

struct ComputeLane {
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::unique_ptr<ComputeTask>> queue;
  bool stopping = false;
  SettleFn settle;
  int pending = 0;  // JS thread only: the lane keeps the event loop alive while work is pending

  void Run() {
    for (;;) {
      std::unique_ptr<ComputeTask> task;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping
        task = std::move(queue.front());
        queue.pop_front();
      }
      task->Execute();
      ComputeTask* done = task.release();
      if (settle.NonBlockingCall(done) != napi_ok) delete done;  // the environment is going away
    }
  }
};

void SettleOnJsThread(Napi::Env env, Napi::Function, ComputeLane* lane, ComputeTask* task) {
  std::unique_ptr<ComputeTask> owned(task);
  if (env == nullptr) return;  // teardown: nobody is waiting any more
  // Count it done first, so nothing Settle throws can leave the event loop held.
  if (--lane->pending == 0) lane->settle.Unref(env);
  owned->Settle(env);
}

ComputeLane* LaneOf(Napi::Env env) {
  AddonData* data = Data(env);
  if (data->computeLane) return static_cast<ComputeLane*>(data->computeLane);
  auto* lane = new ComputeLane();
  lane->settle = SettleFn::New(env, "torchbridge-compute", 0, 1, lane);
  lane->settle.Unref(env);
  lane->thread = std::thread([lane] { lane->Run(); });
  data->computeLane = lane;
  // On teardown: finish the task in hand, drop the rest, then let the thread-safe function go.
  env.AddCleanupHook([lane] {
    {
      std::lock_guard<std::mutex> lock(lane->mutex);
      lane->stopping = true;
      lane->queue.clear();
    }
    lane->wake.notify_one();
    lane->thread.join();
    lane->settle.Release();
  });
  return lane;
}

}  // namespace

Napi::Promise RunAsyncTensor(Napi::Env env, ExecMode mode, std::function<at::Tensor()> work, Lane lane) {
  return RunAsync<at::Tensor>(
      env, mode, std::move(work), [](Napi::Env e, at::Tensor& t) { return TensorHandle::New(e, t); }, lane);
}

Napi::Promise RunAsyncVoid(Napi::Env env, ExecMode mode, std::function<void()> work, Lane lane) {
  return RunAsync<bool>(
      env, mode,
      [w = std::move(work)]() {
        w();
        return true;
      },
      [](Napi::Env e, bool&) { return e.Undefined(); }, lane);
}

void SubmitCompute(Napi::Env env, std::unique_ptr<ComputeTask> task) {
  ComputeLane* lane = LaneOf(env);
  if (lane->pending++ == 0) lane->settle.Ref(env);
  {
    std::lock_guard<std::mutex> lock(lane->mutex);
    lane->queue.push_back(std::move(task));
  }
  lane->wake.notify_one();
}

}  // namespace tb
