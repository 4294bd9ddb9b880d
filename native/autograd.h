// Shared with the native files: the per-call execution mode, and deferred gradient zeroing.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include "compat.h"

namespace tb {

// What the calling JS context asks of the thread that runs an op: grad mode and autocast.
// src/autograd.ts packs it into one integer, the last argument of every op that computes.
struct ExecMode {
  bool grad = true;
  // Autocast's lower-precision dtype per device type; Undefined = autocast off there.
  at::ScalarType autocastCpu = at::ScalarType::Undefined;
  at::ScalarType autocastCuda = at::ScalarType::Undefined;

  ExecMode(bool gradEnabled = true) : grad(gradEnabled) {}  // NOLINT: a plain grad mode
  static ExecMode Decode(int64_t bits);
};

ExecMode ArgMode(const Napi::CallbackInfo& info, size_t index);

// Applies an ExecMode to the current thread for its lifetime and restores the previous state.
// Autocast's weight cache stays off: it is thread-local and outlives one call, so it could hand
// out a stale cast after an optimizer step (PyTorch clears it when leaving the autocast scope).
class ExecModeGuard {
 public:
  explicit ExecModeGuard(const ExecMode& mode);
  ~ExecModeGuard();
  ExecModeGuard(const ExecModeGuard&) = delete;
  ExecModeGuard& operator=(const ExecModeGuard&) = delete;

 private:
  c10::AutoGradMode grad_;
  compat::AutocastState saved_;
};

// zeroGrad leaves the zeroing of gradients nothing else references to the next work that reads
// gradients (zeroing AlexNet's 244 MB takes tens of ms, too long for the JS thread). Every
// Compute-lane job calls it as it starts (worker.h); call it yourself only before reading a
// parameter's .grad() elsewhere (the JS thread, the Pool lane). Thread-safe, and cheap when
// nothing is pending.
void ZeroDeferredGrads();

}  // namespace tb
