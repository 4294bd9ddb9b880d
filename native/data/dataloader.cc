// The native side of imagesToTensor in src/data/image_folder.ts (which DataLoader batches,
// ImageFolder.get and the predict CLI call): decoded RGB pixels (uint8, HWC, from sharp) into one
// float32 [B, 3, H, W] batch in a single pass off the JS thread, with ToTensor's /255, an optional
// horizontal flip, and Normalize's (x - mean) / std fused in, in torchvision's arithmetic order.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include "../addon.h"
#include "../tensor.h"
#include "../worker.h"
#include "../exports.h"

namespace tb {
namespace {

// imagesToBatch(images: Uint8Array[], {height, width, flips: boolean[], mean: number[] | null,
//                std: number[] | null, batched, pinned})
Napi::Value ImagesToBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "imagesToBatch: expected an array of Uint8Arrays");
  Napi::Array images = info[0].As<Napi::Array>();
  Napi::Object o = ArgOptions(info, 1);
  int64_t height = OptionInt(o, "height"), width = OptionInt(o, "width");
  if (!o.Get("flips").IsArray()) throw Napi::TypeError::New(env, "imagesToBatch: expected an array of flips");
  Napi::Array flipArr = o.Get("flips").As<Napi::Array>();
  bool normalize = o.Get("mean").IsArray();
  std::vector<double> mean = normalize ? OptionDoubleList(o, "mean") : std::vector<double>{};
  std::vector<double> stdev = normalize ? OptionDoubleList(o, "std") : std::vector<double>{};
  bool batched = OptionBool(o, "batched");
  bool pinned = OptionBool(o, "pinned");
  if (normalize && (mean.size() != 3 || stdev.size() != 3))
    throw Napi::TypeError::New(env, "imagesToBatch: mean and std need 3 values");
  // The JS buffers stay referenced until the batch is built. The references belong to the
  // convert step, which is destroyed on the JS thread: the work step is destroyed on the worker
  // thread (worker.h), where deleting a reference would corrupt V8's handles.
  auto refs = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
  std::vector<const uint8_t*> pixels;
  std::vector<bool> flips;
  size_t expected = static_cast<size_t>(height * width * 3);
  for (uint32_t i = 0; i < images.Length(); i++) {
    Napi::Value v = images.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        v.As<Napi::Uint8Array>().ByteLength() != expected) {
      throw Napi::TypeError::New(env, "imagesToBatch: image " + std::to_string(i) + " is not a height*width*3 Uint8Array");
    }
    pixels.push_back(v.As<Napi::Uint8Array>().Data());
    refs->push_back(Napi::Persistent(v));
    flips.push_back(flipArr.Get(i).ToBoolean().Value());
  }
  int64_t batch = static_cast<int64_t>(pixels.size());
  auto work = [=]() {
    auto opts = at::TensorOptions().dtype(at::kFloat).pinned_memory(pinned);
    at::Tensor out = batched ? at::empty({batch, 3, height, width}, opts) : at::empty({3, height, width}, opts);
    float* dst = out.data_ptr<float>();
    const int64_t plane = height * width;
    float m[3] = {0, 0, 0}, s[3] = {1, 1, 1};
    for (int c = 0; c < 3 && normalize; c++) {
      m[c] = static_cast<float>(mean[c]);
      s[c] = static_cast<float>(stdev[c]);
    }
    at::parallel_for(0, batch * height, 16, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; row++) {
        int64_t b = row / height, y = row % height;
        const uint8_t* src = pixels[b] + y * width * 3;
        float* base = dst + b * 3 * plane + y * width;
        bool flip = flips[b];
        for (int64_t x = 0; x < width; x++) {
          const uint8_t* p = src + (flip ? width - 1 - x : x) * 3;
          for (int c = 0; c < 3; c++) {
            float v = static_cast<float>(p[c]) / 255.0f;  // ToTensor: img.float().div(255)
            if (normalize) v = (v - m[c]) / s[c];         // Normalize: sub_(mean).div_(std)
            base[c * plane + x] = v;
          }
        }
      }
    });
    return out;
  };
  return RunAsync<at::Tensor>(env, false, work, [refs](Napi::Env e, at::Tensor& t) { return TensorHandle::New(e, t); });
}

}  // namespace

void RegisterDataLoader(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"imagesToBatch", ImagesToBatch}});
}

}  // namespace tb
