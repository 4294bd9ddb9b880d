// libtorch failures become TorchError (src/errors.ts) with a code and no C++ backtrace.
#pragma once
#include <napi.h>
#include <c10/util/Exception.h>
#include <exception>
#include <string>

namespace tb {

struct Failure {
  std::string code;
  std::string message;
};

// Classifies the exception in flight; call only inside a catch block.
Failure CurrentFailure();

Napi::Error MakeTorchError(Napi::Env env, const std::string& code, const std::string& message);

[[noreturn]] void ThrowTorchError(Napi::Env env, const std::string& code, const std::string& message);

// Runs body on the JS thread, turning any C++ exception into a thrown TorchError.
template <typename Body>
auto Guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    Failure f = CurrentFailure();
    ThrowTorchError(env, f.code, f.message);
  }
}

void RegisterErrors(Napi::Env env, Napi::Object exports);

}  // namespace tb
