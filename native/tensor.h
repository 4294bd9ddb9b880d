// The native side of src/tensor.ts: a handle that owns one at::Tensor. Every op file reads its
// arguments with args.h, so this header brings it along.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <vector>
#include "args.h"

namespace tb {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps a tensor in a new JS handle; an undefined tensor becomes `undefined`.
  static Napi::Value New(Napi::Env env, const at::Tensor& tensor);
  // The handle a JS value wraps, or nullptr if it is not a tensor handle.
  static TensorHandle* FromValue(Napi::Env env, const Napi::Value& v);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  const at::Tensor& tensor() const { return tensor_; }
  bool live() const { return live_; }
  void Adopt(Napi::Env env, const at::Tensor& tensor);
  void Release();

 private:
  at::Tensor tensor_;
  bool live_ = false;
  napi_env env_ = nullptr;
};

// Wraps each tensor in a new handle (undefined ones become `undefined`).
Napi::Array TensorArray(Napi::Env env, const std::vector<at::Tensor>& tensors);

}  // namespace tb
