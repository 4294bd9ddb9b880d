// Argument readers that every native file uses, and the dtype names shared with src/tensor.ts.
#include "args.h"
#include "errors.h"
#include "tensor.h"

namespace tb {

// ---- argument readers ----------------------------------------------------------------------
Napi::TypeError ArgError(const Napi::CallbackInfo& info, size_t i, const char* expected) {
  return Napi::TypeError::New(info.Env(), std::string("Expected ") + expected + " for native argument " + std::to_string(i));
}

namespace {
void ReadNumber(const Napi::Value& v, int64_t& out) { out = v.As<Napi::Number>().Int64Value(); }
void ReadNumber(const Napi::Value& v, double& out) { out = v.As<Napi::Number>().DoubleValue(); }

// The elements of a JS array of numbers; false if `v` is not one.
template <typename T>
bool NumberList(const Napi::Value& v, std::vector<T>& out) {
  if (!v.IsArray()) return false;
  Napi::Array arr = v.As<Napi::Array>();
  out.resize(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value x = arr.Get(k);
    if (!x.IsNumber()) return false;
    ReadNumber(x, out[k]);
  }
  return true;
}
}  // namespace

static at::Tensor TensorFrom(const Napi::CallbackInfo& info, size_t i, const Napi::Value& v) {
  TensorHandle* h = TensorHandle::FromValue(info.Env(), v);
  if (!h) throw ArgError(info, i, "a tensor handle");
  if (!h->live()) ThrowTorchError(info.Env(), "DISPOSED", "Tensor has been disposed");
  return h->tensor();
}

at::Tensor ArgTensor(const Napi::CallbackInfo& info, size_t i) { return TensorFrom(info, i, info[i]); }

c10::optional<at::Tensor> ArgOptTensor(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsUndefined() || info[i].IsNull()) return c10::nullopt;
  return ArgTensor(info, i);
}

namespace {
// The tensors of a JS array of handles (undefined entries, where allowed, become undefined
// tensors); false if `v` is not such an array. A disposed handle throws DISPOSED.
bool TensorList(Napi::Env env, const Napi::Value& v, bool allowUndefined, std::vector<at::Tensor>& out) {
  if (!v.IsArray()) return false;
  Napi::Array arr = v.As<Napi::Array>();
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value x = arr.Get(k);
    if (allowUndefined && (x.IsUndefined() || x.IsNull())) {
      out.emplace_back();
      continue;
    }
    TensorHandle* h = TensorHandle::FromValue(env, x);
    if (!h) return false;
    if (!h->live()) ThrowTorchError(env, "DISPOSED", "Tensor has been disposed");
    out.push_back(h->tensor());
  }
  return true;
}
}  // namespace

std::vector<at::Tensor> ArgTensorList(const Napi::CallbackInfo& info, size_t i, bool allowUndefined) {
  std::vector<at::Tensor> out;
  if (!TensorList(info.Env(), info[i], allowUndefined, out)) throw ArgError(info, i, "an array of tensor handles");
  return out;
}

double ArgDouble(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw ArgError(info, i, "a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsBigInt()) {
    bool lossless;
    return info[i].As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (!info[i].IsNumber()) throw ArgError(info, i, "an integer");
  return info[i].As<Napi::Number>().Int64Value();
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsBoolean()) throw ArgError(info, i, "a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsString()) throw ArgError(info, i, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> ArgIntList(const Napi::CallbackInfo& info, size_t i) {
  std::vector<int64_t> out;
  if (!NumberList(info[i], out)) throw ArgError(info, i, "an array of integers");
  return out;
}

std::vector<double> ArgDoubleList(const Napi::CallbackInfo& info, size_t i) {
  std::vector<double> out;
  if (!NumberList(info[i], out)) throw ArgError(info, i, "an array of numbers");
  return out;
}

// ---- option readers --------------------------------------------------------------------------
Napi::Object ArgOptions(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsObject() || info[i].IsArray()) throw ArgError(info, i, "an options object");
  return info[i].As<Napi::Object>();
}

static Napi::TypeError OptionError(const Napi::Object& options, const char* name, const char* expected) {
  return Napi::TypeError::New(options.Env(), std::string("Expected ") + expected + " for native option '" + name + "'");
}

double OptionDouble(const Napi::Object& options, const char* name) {
  Napi::Value v = options.Get(name);
  if (!v.IsNumber()) throw OptionError(options, name, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t OptionInt(const Napi::Object& options, const char* name) {
  Napi::Value v = options.Get(name);
  if (!v.IsNumber()) throw OptionError(options, name, "an integer");
  return v.As<Napi::Number>().Int64Value();
}

std::string OptionString(const Napi::Object& options, const char* name) {
  Napi::Value v = options.Get(name);
  if (!v.IsString()) throw OptionError(options, name, "a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object OptionObject(const Napi::Object& options, const char* name) {
  Napi::Value v = options.Get(name);
  if (!v.IsObject() || v.IsArray()) throw OptionError(options, name, "an options object");
  return v.As<Napi::Object>();
}

std::vector<int64_t> OptionIntList(const Napi::Object& options, const char* name) {
  std::vector<int64_t> out;
  if (!NumberList(options.Get(name), out)) throw OptionError(options, name, "an array of integers");
  return out;
}

bool OptionBool(const Napi::Object& options, const char* name) {
  Napi::Value v = options.Get(name);
  if (!v.IsBoolean()) throw OptionError(options, name, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::vector<double> OptionDoubleList(const Napi::Object& options, const char* name) {
  std::vector<double> out;
  if (!NumberList(options.Get(name), out)) throw OptionError(options, name, "an array of numbers");
  return out;
}

std::vector<at::Tensor> OptionTensorList(const Napi::Object& options, const char* name, bool allowUndefined) {
  std::vector<at::Tensor> out;
  if (!TensorList(options.Env(), options.Get(name), allowUndefined, out))
    throw OptionError(options, name, "an array of tensor handles");
  return out;
}

at::Tensor OptionTensor(const Napi::Object& options, const char* name) {
  TensorHandle* h = TensorHandle::FromValue(options.Env(), options.Get(name));
  if (!h) throw OptionError(options, name, "a tensor handle");
  if (!h->live()) ThrowTorchError(options.Env(), "DISPOSED", "Tensor has been disposed");
  return h->tensor();
}

static bool Absent(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

c10::optional<std::vector<int64_t>> OptionDims(const Napi::Object& options, const char* name) {
  if (Absent(options.Get(name))) return c10::nullopt;
  return OptionIntList(options, name);
}

c10::optional<at::ScalarType> OptionDtypeOrNull(const Napi::Object& options, const char* name) {
  if (Absent(options.Get(name))) return c10::nullopt;
  c10::optional<at::ScalarType> type = DtypeFromName(OptionString(options, name));
  if (!type) throw OptionError(options, name, "a dtype name");
  return type;
}

at::Device OptionDevice(const Napi::Object& options, const char* name) {
  std::string device = OptionString(options, name);
  return Guarded(options.Env(), [&] { return at::Device(device); });
}

at::TensorOptions ArgTensorOptions(const Napi::CallbackInfo& info, size_t i) {
  Napi::Object o = ArgOptions(info, i);
  c10::optional<at::ScalarType> dtype = OptionDtypeOrNull(o, "dtype");
  if (!dtype) throw OptionError(o, "dtype", "a dtype name");
  return at::TensorOptions().dtype(*dtype).device(OptionDevice(o, "device"));
}

namespace {
// The dtype names of src/tensor.ts and of checkpoints.
const std::pair<const char*, at::ScalarType> kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16}, {"int64", at::kLong},
    {"int32", at::kInt},     {"int16", at::kShort},    {"int8", at::kChar},    {"uint8", at::kByte},        {"bool", at::kBool},
};
}  // namespace

c10::optional<at::ScalarType> DtypeFromName(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.first) return d.second;
  }
  return c10::nullopt;
}

at::ScalarType ArgDtype(const Napi::CallbackInfo& info, size_t i) {
  c10::optional<at::ScalarType> type = DtypeFromName(ArgString(info, i));
  if (!type) throw ArgError(info, i, "a dtype name");
  return *type;
}

std::string DtypeName(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.second) return d.first;
  }
  return c10::toString(type);
}

at::Device ArgDevice(const Napi::CallbackInfo& info, size_t i) {
  return Guarded(info.Env(), [&] { return at::Device(ArgString(info, i)); });
}

}  // namespace tb
