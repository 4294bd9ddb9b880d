// The native side of src/tensor.ts: a handle that owns one at::Tensor, plus argument helpers
// shared by every native file.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace tb {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps a tensor in a new JS handle; an undefined tensor becomes `undefined`.
  static Napi::Value New(Napi::Env env, const at::Tensor& tensor);

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

// Argument readers: each throws a TypeError naming the position on bad input. TS validates first;
// these are the cheap guards behind it.
at::Tensor ArgTensor(const Napi::CallbackInfo& info, size_t i);
c10::optional<at::Tensor> ArgOptTensor(const Napi::CallbackInfo& info, size_t i);
std::vector<at::Tensor> ArgTensorList(const Napi::CallbackInfo& info, size_t i, bool allowUndefined = false);
double ArgDouble(const Napi::CallbackInfo& info, size_t i);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i);
bool ArgBool(const Napi::CallbackInfo& info, size_t i);
std::string ArgString(const Napi::CallbackInfo& info, size_t i);
std::vector<int64_t> ArgIntList(const Napi::CallbackInfo& info, size_t i);
std::vector<double> ArgDoubleList(const Napi::CallbackInfo& info, size_t i);
at::ScalarType ArgDtype(const Napi::CallbackInfo& info, size_t i);
at::Device ArgDevice(const Napi::CallbackInfo& info, size_t i);

// Option readers: a native call that takes more than a few values takes one options object, and
// these read its properties by name (a TypeError names the option).
Napi::Object ArgOptions(const Napi::CallbackInfo& info, size_t i);
double OptionDouble(const Napi::Object& options, const char* name);
bool OptionBool(const Napi::Object& options, const char* name);
std::vector<double> OptionDoubleList(const Napi::Object& options, const char* name);
std::vector<at::Tensor> OptionTensorList(const Napi::Object& options, const char* name, bool allowUndefined = false);

std::string DtypeName(at::ScalarType type);
Napi::Array TensorArray(Napi::Env env, const std::vector<at::Tensor>& tensors);

// Drops a reference now; if it was the last one to large memory, a graph or a gradient, the
// freeing happens on a background thread, away from the JS thread.
void DropReference(at::Tensor&& t);

// Live handles and the bytes of the distinct storages they keep alive.
struct MemoryCounts {
  int64_t tensors;
  int64_t bytes;
};
MemoryCounts LiveMemory();

}  // namespace tb
