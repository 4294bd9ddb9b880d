// Argument readers for every native file, and the dtype names shared with src/tensor.ts (sharp
// keeps its AttrAs* readers in src/common.h the same way).
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace tb {

// Argument readers: each throws a TypeError naming the position on bad input. TS validates first;
// these are the cheap guards behind it.
Napi::TypeError ArgError(const Napi::CallbackInfo& info, size_t i, const char* expected);
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
int64_t OptionInt(const Napi::Object& options, const char* name);
bool OptionBool(const Napi::Object& options, const char* name);
std::string OptionString(const Napi::Object& options, const char* name);
Napi::Object OptionObject(const Napi::Object& options, const char* name);
std::vector<int64_t> OptionIntList(const Napi::Object& options, const char* name);
std::vector<double> OptionDoubleList(const Napi::Object& options, const char* name);
std::vector<at::Tensor> OptionTensorList(const Napi::Object& options, const char* name, bool allowUndefined = false);
at::Tensor OptionTensor(const Napi::Object& options, const char* name);
// null (or undefined) stands for "all dims" / "keep the dtype".
c10::optional<std::vector<int64_t>> OptionDims(const Napi::Object& options, const char* name);
c10::optional<at::ScalarType> OptionDtypeOrNull(const Napi::Object& options, const char* name);
at::Device OptionDevice(const Napi::Object& options, const char* name);
// A new tensor's {dtype, device}, as factory calls pass them.
at::TensorOptions ArgTensorOptions(const Napi::CallbackInfo& info, size_t i);

// "float32" <-> at::kFloat and so on; nullopt for a name that is not a dtype.
c10::optional<at::ScalarType> DtypeFromName(const std::string& name);
std::string DtypeName(at::ScalarType type);

}  // namespace tb
