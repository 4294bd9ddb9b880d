#include "tensor.h"
#include <c10/core/GradMode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>
#include <cmath>
#include <cstring>
#include "addon.h"
#include "autograd.h"
#include "errors.h"
#include "memory.h"
#include "worker.h"
#include "exports.h"

namespace tb {

// ---- handle --------------------------------------------------------------------------------
void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "TensorHandle", {});
  Data(env)->tensorClass = Napi::Persistent(cls);
  exports.Set("TensorHandle", cls);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() { Release(); }

void TensorHandle::Adopt(Napi::Env env, const at::Tensor& tensor) {
  tensor_ = tensor;
  live_ = true;
  env_ = env;
  int64_t change = TrackHandle(tensor_, +1);
  if (change) Napi::MemoryManagement::AdjustExternalMemory(env, change);
}

void TensorHandle::Release() {
  if (!live_) return;
  live_ = false;
  int64_t change = TrackHandle(tensor_, -1);
  DropReference(std::move(tensor_));
  if (change && env_) Napi::MemoryManagement::AdjustExternalMemory(Napi::Env(env_), change);
}

Napi::Value TensorHandle::New(Napi::Env env, const at::Tensor& tensor) {
  if (!tensor.defined()) return env.Undefined();
  Napi::Object obj = Data(env)->tensorClass.New({});
  TensorHandle::Unwrap(obj)->Adopt(env, tensor);
  return obj;
}

TensorHandle* TensorHandle::FromValue(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env)->tensorClass.Value())) return nullptr;
  return TensorHandle::Unwrap(v.As<Napi::Object>());
}

Napi::Array TensorArray(Napi::Env env, const std::vector<at::Tensor>& tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); i++) out.Set(i, TensorHandle::New(env, tensors[i]));
  return out;
}

// ---- tensor functions ----------------------------------------------------------------------
namespace {

at::TensorOptions Options(at::ScalarType dtype, at::Device device) { return at::TensorOptions().dtype(dtype).device(device); }

// fromData(typedArray, shape, dtype, device): copies the data into a new tensor.
Napi::Value FromData(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throw ArgError(info, 0, "a typed array");
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  auto shape = ArgIntList(info, 1);
  at::ScalarType dtype = ArgDtype(info, 2);
  at::Device device = ArgDevice(info, 3);
  return Guarded(info.Env(), [&] {
    at::ScalarType source;
    switch (array.TypedArrayType()) {
      case napi_float32_array:
        source = at::kFloat;
        break;
      case napi_float64_array:
        source = at::kDouble;
        break;
      case napi_int32_array:
        source = at::kInt;
        break;
      case napi_bigint64_array:
        source = at::kLong;
        break;
      case napi_int16_array:
        source = at::kShort;
        break;
      case napi_int8_array:
        source = at::kChar;
        break;
      case napi_uint8_array:
        source = at::kByte;
        break;
      default:
        throw ArgError(info, 0, "a Float32Array, Float64Array, Int32Array, Int16Array, Int8Array, BigInt64Array or Uint8Array");
    }
    uint8_t* bytes = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    at::Tensor t = at::from_blob(bytes, shape, at::TensorOptions().dtype(source)).to(Options(dtype, device), false, true);
    return TensorHandle::New(info.Env(), t);
  });
}

// toBuffer(handle): a copy of the elements in C order; float16/bfloat16 widen to float32 and
// bool becomes uint8, since JS has no typed arrays for them.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  return Guarded(info.Env(), [&] {
    at::Tensor c = t.detach().to(at::kCPU);
    if (c.scalar_type() == at::kHalf || c.scalar_type() == at::kBFloat16) c = c.to(at::kFloat);
    if (c.scalar_type() == at::kBool) c = c.to(at::kByte);
    c = c.contiguous();
    size_t n = c.numel() * c.element_size();
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(info.Env(), n);
    if (n) std::memcpy(buf.Data(), c.data_ptr(), n);
    return buf;
  });
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  return Guarded(info.Env(), [&] { return Napi::Number::New(info.Env(), t.item().toDouble()); });
}

Napi::Value Meta(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t d = 0; d < t.dim(); d++) shape.Set(d, Napi::Number::New(env, static_cast<double>(t.size(d))));
  o.Set("shape", shape);
  o.Set("dtype", DtypeName(t.scalar_type()));
  o.Set("device", t.device().str());
  o.Set("requiresGrad", t.requires_grad());
  o.Set("isPinned", t.is_pinned());
  o.Set("isLeaf", t.is_leaf());
  return o;
}

void SetRequiresGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  bool flag = ArgBool(info, 1);
  Guarded(info.Env(), [&] { t.set_requires_grad(flag); });
}

void Release(const Napi::CallbackInfo& info) {
  TensorHandle* h = TensorHandle::FromValue(info.Env(), info[0]);
  if (!h) throw ArgError(info, 0, "a tensor handle");
  h->Release();
}

// busyKeys(tensors, part): the keys under which src/tensor.ts records pending operations, so that
// every handle over the same memory sees them. 'data': each tensor's storage; 'slot': the tensor
// itself, whose .grad backward() and zeroGrad rewrite; 'grad': its gradient's storage. A key is
// the object's address: unique among live objects, and a pending operation keeps what it uses
// alive. 0 where there is none (no storage, no gradient).
Napi::Value BusyKeys(const Napi::CallbackInfo& info) {
  auto tensors = ArgTensorList(info, 0);
  std::string part = ArgString(info, 1);
  if (part != "data" && part != "slot" && part != "grad") throw ArgError(info, 1, "'data', 'slot' or 'grad'");
  Napi::Array out = Napi::Array::New(info.Env(), tensors.size());
  for (size_t i = 0; i < tensors.size(); i++) {
    c10::TensorImpl* impl = tensors[i].unsafeGetTensorImpl();
    // TensorImpl::grad, unlike Tensor::grad, does not warn about non-leaves.
    const void* key = part == "slot" ? impl : StorageKey(part == "grad" ? impl->grad() : tensors[i]);
    // User-space addresses stay far below 2^53 on the 64-bit platforms libtorch supports, so a
    // double holds them exactly.
    out.Set(i, Napi::Number::New(info.Env(), static_cast<double>(reinterpret_cast<uintptr_t>(key))));
  }
  return out;
}

// to(handle, {device, dtype | null, nonBlocking}, mode)
Napi::Value To(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  at::Device device = OptionDevice(o, "device");
  c10::optional<at::ScalarType> dtype = OptionDtypeOrNull(o, "dtype");
  bool nonBlocking = OptionBool(o, "nonBlocking");
  ExecModeGuard mode(ArgMode(info, 2));
  return Guarded(info.Env(),
                 [&] { return TensorHandle::New(info.Env(), t.to(device, dtype.value_or(t.scalar_type()), nonBlocking)); });
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  ExecModeGuard mode(ArgMode(info, 2));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (op == "neg")
      r = t.neg();
    else if (op == "abs")
      r = t.abs();
    else if (op == "exp")
      r = t.exp();
    else if (op == "log")
      r = t.log();
    else if (op == "sqrt")
      r = t.sqrt();
    else if (op == "relu")
      r = t.relu();
    else if (op == "sigmoid")
      r = t.sigmoid();
    else if (op == "tanh")
      r = t.tanh();
    else if (op == "isnan")
      r = t.isnan();
    else if (op == "detach")
      r = t.detach();
    else if (op == "clone")
      r = t.clone();
    else if (op == "contiguous")
      r = t.contiguous();
    else
      throw ArgError(info, 0, "a unary op name");
    return TensorHandle::New(info.Env(), r);
  });
}

// A JS number as a Python literal would be: an integral value is an int scalar (an int64 tensor
// plus 2 stays int64, as `t + 2` does in Python), anything else a float one.
at::Scalar ScalarOf(double v) {
  if (std::nearbyint(v) == v && std::fabs(v) < 9.2e18) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

// binary(op, a, b: handle | number, mode)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor a = ArgTensor(info, 1);
  bool scalar = info[2].IsNumber();
  at::Tensor b;
  at::Scalar s;
  if (scalar)
    s = ScalarOf(ArgDouble(info, 2));
  else
    b = ArgTensor(info, 2);
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (op == "add")
      r = scalar ? a.add(s) : a.add(b);
    else if (op == "sub")
      r = scalar ? a.sub(s) : a.sub(b);
    else if (op == "mul")
      r = scalar ? a.mul(s) : a.mul(b);
    else if (op == "div")
      r = scalar ? a.div(s) : a.div(b);
    else if (op == "pow")
      r = scalar ? a.pow(s) : a.pow(b);
    else if (op == "eq")
      r = scalar ? a.eq(s) : a.eq(b);
    else if (op == "ne")
      r = scalar ? a.ne(s) : a.ne(b);
    else if (op == "lt")
      r = scalar ? a.lt(s) : a.lt(b);
    else if (op == "le")
      r = scalar ? a.le(s) : a.le(b);
    else if (op == "gt")
      r = scalar ? a.gt(s) : a.gt(b);
    else if (op == "ge")
      r = scalar ? a.ge(s) : a.ge(b);
    else if (op == "maximum")
      r = at::maximum(a, scalar ? at::scalar_tensor(s, a.options()) : b);
    else if (op == "minimum")
      r = at::minimum(a, scalar ? at::scalar_tensor(s, a.options()) : b);
    else
      throw ArgError(info, 0, "a binary op name");
    return TensorHandle::New(info.Env(), r);
  });
}

// reduce(op, a, {dims | null, keepdim}, mode)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  Napi::Object o = ArgOptions(info, 2);
  c10::optional<std::vector<int64_t>> given = OptionDims(o, "dims");
  bool all = !given;
  std::vector<int64_t> dims = given.value_or(std::vector<int64_t>{});
  bool keepdim = OptionBool(o, "keepdim");
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (op == "sum")
      r = all ? t.sum() : t.sum(dims, keepdim);
    else if (op == "mean")
      r = all ? t.mean() : t.mean(dims, keepdim);
    else if (op == "amax")
      r = t.amax(dims, keepdim);
    else if (op == "amin")
      r = t.amin(dims, keepdim);
    else if (op == "max" && all)
      r = t.max();
    else if (op == "min" && all)
      r = t.min();
    else
      throw ArgError(info, 0, "a reduction name");
    return TensorHandle::New(info.Env(), r);
  });
}

// argmax(a, dim | null, keepdim)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  c10::optional<int64_t> dim;
  if (!info[1].IsNull() && !info[1].IsUndefined()) dim = ArgInt(info, 1);
  bool keepdim = ArgBool(info, 2);
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), t.argmax(dim, keepdim)); });
}

// shapeOp(op, a, args: number[], mode): views and reshapes.
Napi::Value ShapeOp(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  std::vector<int64_t> args = ArgIntList(info, 2);
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    auto need = [&](size_t n) {
      if (args.size() != n) throw ArgError(info, 2, "the right number of dimensions");
    };
    if (op == "reshape")
      r = t.reshape(args);
    else if (op == "unsqueeze") {
      need(1);
      r = t.unsqueeze(args[0]);
    } else if (op == "squeeze")
      r = args.empty() ? t.squeeze() : t.squeeze(args[0]);
    else if (op == "flatten") {
      need(2);
      r = t.flatten(args[0], args[1]);
    } else if (op == "transpose") {
      need(2);
      r = t.transpose(args[0], args[1]);
    } else if (op == "permute")
      r = t.permute(args);
    else if (op == "view")
      r = t.view(args);
    else if (op == "expand")
      r = t.expand(args);
    else if (op == "narrow") {
      need(3);
      r = t.narrow(args[0], args[1], args[2]);
    } else if (op == "select") {
      need(2);
      r = t.select(args[0], args[1]);
    } else if (op == "slice") {
      need(4);
      r = t.slice(args[0], args[1], args[2], args[3]);
    } else
      throw ArgError(info, 0, "a shape op name");
    return TensorHandle::New(info.Env(), r);
  });
}

// factory(kind, shape, value, {dtype, device}): zeros/ones/full/rand/randn/empty.
Napi::Value Factory(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0);
  auto shape = ArgIntList(info, 1);
  double value = ArgDouble(info, 2);
  at::TensorOptions opts = ArgTensorOptions(info, 3);
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (kind == "zeros")
      r = at::zeros(shape, opts);
    else if (kind == "ones")
      r = at::ones(shape, opts);
    else if (kind == "full")
      r = at::full(shape, value, opts);
    else if (kind == "rand")
      r = at::rand(shape, opts);
    else if (kind == "randn")
      r = at::randn(shape, opts);
    else if (kind == "empty")
      r = at::empty(shape, opts);
    else
      throw ArgError(info, 0, "a factory name");
    return TensorHandle::New(info.Env(), r);
  });
}

Napi::Value ZerosLike(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), at::zeros_like(t, at::MemoryFormat::Preserve)); });
}

// arange(start, end, step, {dtype, device})
Napi::Value Arange(const Napi::CallbackInfo& info) {
  double start = ArgDouble(info, 0), end = ArgDouble(info, 1), step = ArgDouble(info, 2);
  at::TensorOptions opts = ArgTensorOptions(info, 3);
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), at::arange(start, end, step, opts)); });
}

// fill(kind, tensor, a, b): in-place initialisation without autograd history, as nn.init does.
void Fill(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  double a = ArgDouble(info, 2), b = ArgDouble(info, 3);
  Guarded(info.Env(), [&] {
    c10::AutoGradMode mode(false);
    if (kind == "uniform")
      t.uniform_(a, b);
    else if (kind == "normal")
      t.normal_(a, b);
    else if (kind == "constant")
      t.fill_(a);
    else
      throw ArgError(info, 0, "an init kind");
  });
}

// fillMany(kinds[], tensors[], a[], b[]): fill() for each, in order, off the JS thread (the same
// generator draws as calling fill() one by one).
Napi::Value FillMany(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) throw ArgError(info, 0, "an array of init kinds");
  Napi::Array kindArr = info[0].As<Napi::Array>();
  std::vector<std::string> kinds;
  for (uint32_t k = 0; k < kindArr.Length(); k++) kinds.push_back(kindArr.Get(k).As<Napi::String>().Utf8Value());
  auto tensors = ArgTensorList(info, 1);
  auto a = ArgDoubleList(info, 2), b = ArgDoubleList(info, 3);
  if (tensors.size() != kinds.size() || a.size() != kinds.size() || b.size() != kinds.size())
    throw ArgError(info, 1, "lists of equal length");
  return ComputeVoid(info.Env(), false, [=]() {
    for (size_t i = 0; i < kinds.size(); i++) {
      at::Tensor t = tensors[i];
      if (kinds[i] == "uniform")
        t.uniform_(a[i], b[i]);
      else if (kinds[i] == "normal")
        t.normal_(a[i], b[i]);
      else
        t.fill_(a[i]);
    }
  });
}

// copyInto(dst[], src[]): dst.copy_(src) for each pair off the JS thread, without history, as
// load_state_dict does.
Napi::Value CopyInto(const Napi::CallbackInfo& info) {
  auto dst = ArgTensorList(info, 0);
  auto src = ArgTensorList(info, 1);
  if (dst.size() != src.size()) throw ArgError(info, 1, "as many sources as destinations");
  return ComputeVoid(info.Env(), false, [dst, src]() {
    for (size_t i = 0; i < dst.size(); i++) {
      at::Tensor d = dst[i];
      d.copy_(src[i]);
    }
  });
}

// moveData(params[], device, dtype | null): param.data = param.to(device) and the same for
// .grad, as Module._apply does; the handles keep their identity.
Napi::Value MoveData(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  at::Device device = ArgDevice(info, 1);
  return ComputeVoid(info.Env(), false, [params, device]() {
    for (const at::Tensor& p : params) {
      at::Tensor target = p;
      target.set_data(p.detach().to(device));
      if (p.grad().defined()) target.mutable_grad() = p.grad().to(device);
    }
  });
}

// ---- more tensor ops (issue 15) ----------------------------------------------------------------

// splitOp(op, a, {sizes, dim}, mode): the ops that return several views.
// 'split': sizes [splitSize]; 'splitWithSizes': sizes; 'chunk': sizes [chunks]; 'unbind': [].
Napi::Value SplitOp(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  Napi::Object o = ArgOptions(info, 2);
  std::vector<int64_t> sizes = OptionIntList(o, "sizes");
  int64_t dim = OptionInt(o, "dim");
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    auto first = [&] {
      if (sizes.size() != 1) throw Napi::TypeError::New(info.Env(), "Expected one size for native option 'sizes'");
      return sizes[0];
    };
    std::vector<at::Tensor> r;
    if (op == "split")
      r = t.split(first(), dim);
    else if (op == "splitWithSizes")
      r = t.split_with_sizes(sizes, dim);
    else if (op == "chunk")
      r = t.chunk(first(), dim);
    else if (op == "unbind")
      r = t.unbind(dim);
    else
      throw ArgError(info, 0, "a split op name");
    return TensorArray(info.Env(), r);
  });
}

// combine(op, tensors, dim, mode): cat and stack.
Napi::Value Combine(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  auto tensors = ArgTensorList(info, 1);
  int64_t dim = ArgInt(info, 2);
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (op == "cat")
      r = at::cat(tensors, dim);
    else if (op == "stack")
      r = at::stack(tensors, dim);
    else
      throw ArgError(info, 0, "'cat' or 'stack'");
    return TensorHandle::New(info.Env(), r);
  });
}

// indexOp(op, a, {index, dim}, mode): 'indexSelect' (along dim), 'maskedSelect' (broadcast mask,
// flat result), 'index' (a[index] with one bool or integer index tensor, as Python's indexing).
Napi::Value IndexOp(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  Napi::Object o = ArgOptions(info, 2);
  at::Tensor index = OptionTensor(o, "index");
  int64_t dim = OptionInt(o, "dim");
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (op == "indexSelect")
      r = t.index_select(dim, index);
    else if (op == "maskedSelect")
      r = t.masked_select(index);
    else if (op == "index")
      r = t.index({at::indexing::TensorIndex(index)});
    else
      throw ArgError(info, 0, "an index op name");
    return TensorHandle::New(info.Env(), r);
  });
}

// matmul(op, a, b, mode): matrix products, off the JS thread (they can take long).
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor a = ArgTensor(info, 1), b = ArgTensor(info, 2);
  ExecMode mode = ArgMode(info, 3);
  if (op != "matmul" && op != "mm" && op != "bmm") throw ArgError(info, 0, "'matmul', 'mm' or 'bmm'");
  return ComputeTensor(info.Env(), mode, [op, a, b]() {
    if (op == "mm") return a.mm(b);
    if (op == "bmm") return a.bmm(b);
    return a.matmul(b);
  });
}

// where(cond, a | number, b | number, mode)
Napi::Value Where(const Napi::CallbackInfo& info) {
  at::Tensor cond = ArgTensor(info, 0);
  bool aScalar = info[1].IsNumber(), bScalar = info[2].IsNumber();
  at::Tensor a, b;
  at::Scalar as, bs;
  if (aScalar)
    as = ScalarOf(ArgDouble(info, 1));
  else
    a = ArgTensor(info, 1);
  if (bScalar)
    bs = ScalarOf(ArgDouble(info, 2));
  else
    b = ArgTensor(info, 2);
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    at::Tensor r;
    if (aScalar && bScalar)
      r = at::where(cond, as, bs);
    else if (aScalar)
      r = at::where(cond, as, b);
    else if (bScalar)
      r = at::where(cond, a, bs);
    else
      r = at::where(cond, a, b);
    return TensorHandle::New(info.Env(), r);
  });
}

// clamp(a, min | null, max | null, mode)
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  c10::optional<at::Scalar> lo, hi;
  if (!info[1].IsNull() && !info[1].IsUndefined()) lo = ScalarOf(ArgDouble(info, 1));
  if (!info[2].IsNull() && !info[2].IsUndefined()) hi = ScalarOf(ArgDouble(info, 2));
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), at::clamp(t, lo, hi)); });
}

// stat(op, a, {dims | null, correction, keepdim}, mode): 'std' and 'var' with Bessel's correction.
Napi::Value Stat(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  Napi::Object o = ArgOptions(info, 2);
  c10::optional<std::vector<int64_t>> dims = OptionDims(o, "dims");
  int64_t correction = OptionInt(o, "correction");
  bool keepdim = OptionBool(o, "keepdim");
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
#if TORCH_VERSION_MAJOR >= 2
    c10::optional<at::Scalar> c = at::Scalar(correction);
#else
    c10::optional<int64_t> c = correction;
#endif
    at::OptionalIntArrayRef d = dims ? at::OptionalIntArrayRef(*dims) : c10::nullopt;
    at::Tensor r;
    if (op == "std")
      r = at::std(t, d, c, keepdim);
    else if (op == "var")
      r = at::var(t, d, c, keepdim);
    else
      throw ArgError(info, 0, "'std' or 'var'");
    return TensorHandle::New(info.Env(), r);
  });
}

// norm(a, {p, dims | null, keepdim}, mode): what Tensor.norm calls for a numeric p:
// linalg.vector_norm on 2.x, the older at::norm over the dims (all of them by default) on 1.13.
Napi::Value Norm(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  double p = OptionDouble(o, "p");
  c10::optional<std::vector<int64_t>> dims = OptionDims(o, "dims");
  bool keepdim = OptionBool(o, "keepdim");
  ExecModeGuard mode(ArgMode(info, 2));
  return Guarded(info.Env(), [&] {
#if TORCH_VERSION_MAJOR >= 2
    at::OptionalIntArrayRef d = dims ? at::OptionalIntArrayRef(*dims) : c10::nullopt;
    return TensorHandle::New(info.Env(), at::linalg_vector_norm(t, p, d, keepdim, c10::nullopt));
#else
    std::vector<int64_t> d = dims ? *dims : std::vector<int64_t>();
    if (!dims) for (int64_t i = 0; i < t.dim(); i++) d.push_back(i);
    return TensorHandle::New(info.Env(), at::norm(t, at::Scalar(p), d, keepdim));
#endif
  });
}

// reduceWithIndices(op, a, {dim, keepdim}, mode): max/min along dim -> [values, indices].
Napi::Value ReduceWithIndices(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  Napi::Object o = ArgOptions(info, 2);
  int64_t dim = OptionInt(o, "dim");
  bool keepdim = OptionBool(o, "keepdim");
  ExecModeGuard mode(ArgMode(info, 3));
  return Guarded(info.Env(), [&] {
    std::tuple<at::Tensor, at::Tensor> r;
    if (op == "max")
      r = t.max(dim, keepdim);
    else if (op == "min")
      r = t.min(dim, keepdim);
    else
      throw ArgError(info, 0, "'max' or 'min'");
    return TensorArray(info.Env(), {std::get<0>(r), std::get<1>(r)});
  });
}

// randint(low, high, shape, {dtype, device})
Napi::Value Randint(const Napi::CallbackInfo& info) {
  int64_t low = ArgInt(info, 0), high = ArgInt(info, 1);
  auto shape = ArgIntList(info, 2);
  at::TensorOptions opts = ArgTensorOptions(info, 3);
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), at::randint(low, high, shape, opts)); });
}

// randpermTensor(n, seed | null, {dtype, device}): torch.randperm(n), from the global generator
// or from torch.Generator().manual_seed(seed).
Napi::Value RandpermTensor(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 0);
  bool seeded = !info[1].IsNull() && !info[1].IsUndefined();
  uint64_t seed = seeded ? static_cast<uint64_t>(ArgInt(info, 1)) : 0;
  at::TensorOptions opts = ArgTensorOptions(info, 2);
  return Guarded(info.Env(), [&] {
    if (!seeded) return TensorHandle::New(info.Env(), at::randperm(n, opts));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    return TensorHandle::New(info.Env(), at::randperm(n, gen, opts));
  });
}

// linspace(start, end, steps, {dtype, device})
Napi::Value Linspace(const Napi::CallbackInfo& info) {
  double start = ArgDouble(info, 0), end = ArgDouble(info, 1);
  int64_t steps = ArgInt(info, 2);
  at::TensorOptions opts = ArgTensorOptions(info, 3);
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), at::linspace(start, end, steps, opts)); });
}

// factoryLike(kind, a, value, dtype | null): zeros/ones/full/rand/randn/empty with a's shape and
// device (and dtype unless given), in a's memory format as the *_like functions default to.
Napi::Value FactoryLike(const Napi::CallbackInfo& info) {
  std::string kind = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  double value = ArgDouble(info, 2);
  at::TensorOptions opts = t.options();
  if (!info[3].IsNull() && !info[3].IsUndefined()) opts = opts.dtype(ArgDtype(info, 3));
  return Guarded(info.Env(), [&] {
    auto fmt = at::MemoryFormat::Preserve;
    at::Tensor r;
    if (kind == "zeros")
      r = at::zeros_like(t, opts, fmt);
    else if (kind == "ones")
      r = at::ones_like(t, opts, fmt);
    else if (kind == "full")
      r = at::full_like(t, value, opts, fmt);
    else if (kind == "rand")
      r = at::rand_like(t, opts, fmt);
    else if (kind == "randn")
      r = at::randn_like(t, opts, fmt);
    else if (kind == "empty")
      r = at::empty_like(t, opts, fmt);
    else
      throw ArgError(info, 0, "a factory name");
    return TensorHandle::New(info.Env(), r);
  });
}

}  // namespace

void RegisterTensor(Napi::Env env, Napi::Object exports) {
  TensorHandle::Init(env, exports);
  ExportFunctions(env, exports,
                  {{"fromData", FromData},
                   {"toBuffer", ToBuffer},
                   {"item", Item},
                   {"meta", Meta},
                   {"setRequiresGrad", SetRequiresGrad},
                   {"release", Release},
                   {"busyKeys", BusyKeys},
                   {"to", To},
                   {"unary", Unary},
                   {"binary", Binary},
                   {"reduce", Reduce},
                   {"argmax", Argmax},
                   {"shapeOp", ShapeOp},
                   {"factory", Factory},
                   {"zerosLike", ZerosLike},
                   {"arange", Arange},
                   {"fill", Fill},
                   {"fillMany", FillMany},
                   {"copyInto", CopyInto},
                   {"moveData", MoveData},
                   {"splitOp", SplitOp},
                   {"combine", Combine},
                   {"indexOp", IndexOp},
                   {"matmul", Matmul},
                   {"where", Where},
                   {"clamp", Clamp},
                   {"stat", Stat},
                   {"norm", Norm},
                   {"reduceWithIndices", ReduceWithIndices},
                   {"randint", Randint},
                   {"linspace", Linspace},
                   {"randpermTensor", RandpermTensor},
                   {"factoryLike", FactoryLike}});
}

}  // namespace tb
