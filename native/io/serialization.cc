// The native side of src/io/serialization.ts: the byte-heavy loops of reading and writing
// checkpoints, off the JS thread. The formats themselves (zip, pickle, safetensors) are parsed
// in TS; here are only tensor <-> bytes copies and CRC-32.
#include <ATen/ATen.h>
#include <array>
#include <memory>
#include "../addon.h"
#include "../errors.h"
#include "../memory.h"
#include "../tensor.h"
#include "../worker.h"
#include "../exports.h"

namespace tb {
namespace {

// Byte views of JS buffers, for the work step, and the references that keep the buffers alive
// until the Promise settles. The references belong to the convert step, which is destroyed on the
// JS thread; the work step is destroyed on the worker thread (worker.h), where deleting a
// reference would corrupt V8's handles.
using BufferRefs = std::shared_ptr<std::vector<Napi::Reference<Napi::Value>>>;
struct ByteViews {
  BufferRefs refs = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
  std::vector<std::pair<const uint8_t*, size_t>> views;
};

ByteViews ArgByteViews(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), "Expected an array of Uint8Arrays");
  Napi::Array arr = info[i].As<Napi::Array>();
  ByteViews out;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr.Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(info.Env(), "Expected an array of Uint8Arrays");
    }
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    out.views.emplace_back(a.Data(), a.ByteLength());
    out.refs->push_back(Napi::Persistent(v));
  }
  return out;
}

// tensorsFromBytes(buffers, dtypes): one 1-D tensor per little-endian byte buffer (one copy).
Napi::Value TensorsFromBytes(const Napi::CallbackInfo& info) {
  auto [refs, views] = ArgByteViews(info, 0);
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "Expected an array of dtypes");
  Napi::Array names = info[1].As<Napi::Array>();
  std::vector<at::ScalarType> dtypes;
  for (uint32_t k = 0; k < names.Length(); k++) {
    std::string name = names.Get(k).As<Napi::String>().Utf8Value();
    c10::optional<at::ScalarType> type = DtypeFromName(name);
    if (!type) throw Napi::TypeError::New(info.Env(), "Unknown dtype " + name);
    dtypes.push_back(*type);
  }
  if (dtypes.size() != views.size()) throw Napi::TypeError::New(info.Env(), "buffers and dtypes differ in length");
  using Result = std::vector<at::Tensor>;
  return RunAsync<Result>(
      info.Env(), false,
      [views = views, dtypes]() {
        Result out;
        for (size_t i = 0; i < dtypes.size(); i++) {
          auto [ptr, len] = views[i];
          int64_t size = static_cast<int64_t>(c10::elementSize(dtypes[i]));
          TORCH_CHECK(len % size == 0, "byte length ", len, " is not a multiple of the element size ", size);
          at::Tensor t = at::empty({static_cast<int64_t>(len) / size}, at::TensorOptions().dtype(dtypes[i]));
          if (len) std::memcpy(t.data_ptr(), ptr, len);
          out.push_back(t);
        }
        return out;
      },
      [refs = refs](Napi::Env env, Result& tensors) { return TensorArray(env, tensors); });
}

// tensorBytes(handles): each tensor's elements in C order as an external ArrayBuffer. A contiguous
// CPU tensor is not copied: the buffer keeps its storage alive (the caller must not modify it
// meanwhile; io.save holds it as read). The finalizer leaves the freeing of large storages to a
// background thread: freeing AlexNet and its Adam state (~0.7 GB) in a GC finalizer stalled the
// event loop ~200 ms.
Napi::Value TensorBytes(const Napi::CallbackInfo& info) {
  auto tensors = ArgTensorList(info, 0);
  using Result = std::vector<at::Tensor>;
  return RunAsync<Result>(
      info.Env(), false,
      [tensors]() {
        Result out;
        for (const at::Tensor& t : tensors) out.push_back(t.detach().to(at::kCPU).contiguous());
        return out;
      },
      [](Napi::Env env, Result& copies) {
        Napi::Array arr = Napi::Array::New(env, copies.size());
        for (size_t i = 0; i < copies.size(); i++) {
          size_t n = copies[i].numel() * copies[i].element_size();
          if (n == 0) {
            arr.Set(i, Napi::ArrayBuffer::New(env, 0));
            continue;
          }
          auto* owner = new at::Tensor(copies[i]);
          Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(
              env, owner->data_ptr(), n,
              [](Napi::Env, void*, at::Tensor* t) {
                DropReference(std::move(*t));
                delete t;
              },
              owner);
          arr.Set(i, buf);
        }
        return arr;
      });
}

uint32_t Crc32(const uint8_t* data, size_t len, uint32_t crc) {
  static const auto table = [] {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
    return t;
  }();
  crc = ~crc;
  while (len >= 8) {  // slicing-by-8
    uint32_t a = crc ^ (uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 | uint32_t(data[3]) << 24);
    crc = table[7][a & 0xFF] ^ table[6][(a >> 8) & 0xFF] ^ table[5][(a >> 16) & 0xFF] ^ table[4][a >> 24] ^ table[3][data[4]] ^
          table[2][data[5]] ^ table[1][data[6]] ^ table[0][data[7]];
    data += 8;
    len -= 8;
  }
  while (len--) crc = table[0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

// crc32(buffers): the zip CRC-32 of each buffer, computed off the JS thread.
Napi::Value Crc32Of(const Napi::CallbackInfo& info) {
  auto [refs, views] = ArgByteViews(info, 0);
  using Result = std::vector<uint32_t>;
  return RunAsync<Result>(
      info.Env(), false,
      [views = views]() {
        Result out;
        for (auto [ptr, len] : views) out.push_back(Crc32(ptr, len, 0));
        return out;
      },
      [refs = refs](Napi::Env env, Result& crcs) {
        Napi::Array arr = Napi::Array::New(env, crcs.size());
        for (size_t i = 0; i < crcs.size(); i++) arr.Set(i, Napi::Number::New(env, crcs[i]));
        return arr;
      });
}

// asStrided(storage, size, stride, offset): a view into a 1-D storage tensor (_rebuild_tensor_v2).
Napi::Value AsStrided(const Napi::CallbackInfo& info) {
  at::Tensor storage = ArgTensor(info, 0);
  auto size = ArgIntList(info, 1), stride = ArgIntList(info, 2);
  int64_t offset = ArgInt(info, 3);
  return Guarded(info.Env(), [&] { return TensorHandle::New(info.Env(), storage.as_strided(size, stride, offset)); });
}

// ---- quantized tensors (torch._utils._rebuild_qtensor) ----------------------------------------

at::ScalarType QuantizedTypeOf(at::ScalarType storage) {
  switch (storage) {
    case at::kChar:
      return at::kQInt8;
    case at::kByte:
      return at::kQUInt8;
    case at::kInt:
      return at::kQInt32;
    default:
      TORCH_CHECK(false, "a quantized storage holds int8, uint8 or int32 values, not ", storage);
  }
}

std::vector<int64_t> OptionIndexList(const Napi::Object& options, const char* name) {
  std::vector<int64_t> out;
  for (double d : OptionDoubleList(options, name)) out.push_back(static_cast<int64_t>(d));
  return out;
}

// makeQuantized(storage, { qscheme, size, stride, offset, scale, zeroPoint } or
// { qscheme: 'per_channel_affine', size, stride, offset, channelParams: [scales, zeroPoints], axis }):
// a quantized tensor over the int storage's memory (no copy), as _rebuild_qtensor builds it:
// an empty quantized tensor whose storage is then set to the saved one. Float zero points make
// per_channel_affine_float_qparams, as in PyTorch.
Napi::Value MakeQuantized(const Napi::CallbackInfo& info) {
  at::Tensor storage = ArgTensor(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  std::string qscheme = o.Get("qscheme").IsString() ? o.Get("qscheme").As<Napi::String>().Utf8Value() : "";
  auto size = OptionIndexList(o, "size"), stride = OptionIndexList(o, "stride");
  int64_t offset = static_cast<int64_t>(OptionDouble(o, "offset"));
  double scale = 0;
  int64_t zeroPoint = 0, axis = 0;
  std::vector<at::Tensor> channel;
  if (qscheme == "per_tensor_affine") {
    scale = OptionDouble(o, "scale");
    zeroPoint = static_cast<int64_t>(OptionDouble(o, "zeroPoint"));
  } else if (qscheme == "per_channel_affine") {
    channel = OptionTensorList(o, "channelParams");
    if (channel.size() != 2)
      throw Napi::TypeError::New(info.Env(), "Expected [scales, zeroPoints] for native option 'channelParams'");
    axis = static_cast<int64_t>(OptionDouble(o, "axis"));
  } else {
    throw Napi::TypeError::New(info.Env(), "Expected 'per_tensor_affine' or 'per_channel_affine' for native option 'qscheme'");
  }
  return Guarded(info.Env(), [&] {
    auto options = at::TensorOptions().dtype(QuantizedTypeOf(storage.scalar_type()));
    at::Tensor q = channel.empty() ? at::_empty_affine_quantized(size, options, scale, zeroPoint)
                                   : at::_empty_per_channel_affine_quantized(size, channel[0], channel[1], axis, options);
    q.set_(storage.storage(), offset, size, stride);
    return TensorHandle::New(info.Env(), q);
  });
}

// quantizedParams(tensor): what q_scale()/q_zero_point() or q_per_channel_*() return, or null for
// a tensor that is not quantized.
Napi::Value QuantizedParams(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  return Guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!t.is_quantized()) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("dtype", t.scalar_type() == at::kQInt8    ? "qint8"
                   : t.scalar_type() == at::kQUInt8 ? "quint8"
                   : t.scalar_type() == at::kQInt32 ? "qint32"
                                                    : c10::toString(t.scalar_type()));
    at::QScheme scheme = t.qscheme();
    o.Set("qscheme", c10::toString(scheme));
    if (scheme == at::kPerTensorAffine) {
      o.Set("scale", t.q_scale());
      o.Set("zeroPoint", static_cast<double>(t.q_zero_point()));
    } else {
      o.Set("scales", TensorHandle::New(env, t.q_per_channel_scales()));
      o.Set("zeroPoints", TensorHandle::New(env, t.q_per_channel_zero_points()));
      o.Set("axis", static_cast<double>(t.q_per_channel_axis()));
    }
    return o;
  });
}

// quantizedOp('intRepr' | 'dequantize', tensor)
Napi::Value QuantizedOp(const Napi::CallbackInfo& info) {
  std::string op = ArgString(info, 0);
  at::Tensor t = ArgTensor(info, 1);
  if (op != "intRepr" && op != "dequantize") throw Napi::TypeError::New(info.Env(), "Expected 'intRepr' or 'dequantize'");
  return Guarded(info.Env(), [&] {
    TORCH_CHECK(t.is_quantized(), op, " needs a quantized tensor, got one of dtype ", t.scalar_type());
    return TensorHandle::New(info.Env(), op == "intRepr" ? t.int_repr() : t.dequantize());
  });
}

}  // namespace

void RegisterSerialization(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports,
                  {{"tensorsFromBytes", TensorsFromBytes},
                   {"tensorBytes", TensorBytes},
                   {"crc32", Crc32Of},
                   {"asStrided", AsStrided},
                   {"makeQuantized", MakeQuantized},
                   {"quantizedParams", QuantizedParams},
                   {"quantizedOp", QuantizedOp}});
}

}  // namespace tb
