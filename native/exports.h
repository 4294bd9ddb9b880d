// A native file's exports as one table: a name and a function each (the functions keep their own
// names in stack traces). Every native file registers its functions this way.
#pragma once
#include <napi.h>
#include <initializer_list>

namespace tb {

struct NativeFunction {
  NativeFunction(const char* n, Napi::Function::Callback f) : name(n), callback(f) {}
  NativeFunction(const char* n, Napi::Function::VoidCallback f) : name(n), voidCallback(f) {}
  const char* name;
  Napi::Function::Callback callback = nullptr;
  Napi::Function::VoidCallback voidCallback = nullptr;
};

inline void ExportFunctions(Napi::Env env, Napi::Object exports, std::initializer_list<NativeFunction> functions) {
  for (const NativeFunction& f : functions) {
    exports.Set(f.name,
                f.callback ? Napi::Function::New(env, f.callback, f.name) : Napi::Function::New(env, f.voidCallback, f.name));
  }
}

}  // namespace tb
