#include "errors.h"
#include "addon.h"
#include "exports.h"
#include <new>
#include <string>

namespace tb {

Failure CurrentFailure() {
  try {
    throw;
  } catch (const c10::OutOfMemoryError& e) {
    return {"OUT_OF_MEMORY", e.what_without_backtrace()};
  } catch (const c10::IndexError& e) {
    return {"INDEX_ERROR", e.what_without_backtrace()};
  } catch (const c10::ValueError& e) {
    return {"VALUE_ERROR", e.what_without_backtrace()};
  } catch (const c10::TypeError& e) {
    return {"TYPE_ERROR", e.what_without_backtrace()};
  } catch (const c10::NotImplementedError& e) {
    return {"NOT_IMPLEMENTED", e.what_without_backtrace()};
  } catch (const c10::Error& e) {
    // The CPU allocator reports exhaustion as a plain c10::Error.
    std::string msg = e.what_without_backtrace();
    bool oom = msg.find("can't allocate memory") != std::string::npos || msg.find("not enough memory") != std::string::npos;
    return {oom ? "OUT_OF_MEMORY" : "TORCH_ERROR", msg};
  } catch (const std::bad_alloc&) {
    return {"OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    return {"TORCH_ERROR", e.what()};
  } catch (...) {
    return {"TORCH_ERROR", "unknown native error"};
  }
}

Napi::Error MakeTorchError(Napi::Env env, const std::string& code, const std::string& message) {
  AddonData* data = Data(env);
  if (data->torchError.IsEmpty()) {
    Napi::Error err = Napi::Error::New(env, message);
    err.Set("code", Napi::String::New(env, code));
    return err;
  }
  Napi::Object err = data->torchError.New({Napi::String::New(env, message), Napi::String::New(env, code)});
  return Napi::Error(env, err);
}

void ThrowTorchError(Napi::Env env, const std::string& code, const std::string& message) {
  throw MakeTorchError(env, code, message);
}

// The JS TorchError class is handed over once, so native code throws real TorchErrors.
static void SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a class");
  Data(info.Env())->torchError = Napi::Persistent(info[0].As<Napi::Function>());
}

void RegisterErrors(Napi::Env env, Napi::Object exports) { ExportFunctions(env, exports, {{"setErrorClass", SetErrorClass}}); }

}  // namespace tb
