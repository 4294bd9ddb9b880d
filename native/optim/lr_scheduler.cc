// The native side of src/optim/lr_scheduler.ts. Python's math.cos and float ** are glibc's cos
// and pow; V8's Math.cos and ** differ from them by 1 ulp on some arguments, so the schedulers
// take them from here: CosineAnnealingLR its whole formulas, the others cos and pow alone (+ - * /
// are IEEE doubles in both languages).
#include <cmath>
#include <string>
#include "../addon.h"
#include "../tensor.h"
#include "../exports.h"

namespace tb {
namespace {

const double kPi = 3.141592653589793;  // math.pi

// cosineAnnealing(form, {epoch, tMax, etaMin, baseLr, lastLr}): CosineAnnealingLR's formulas, with
// Python's operand order kept ((pi * e) / T and (e * pi) / T round differently).
//   'recursive': get_lr() on an ordinary step;
//   'resumed':   get_lr() on the constructor's step when last_epoch >= 0 was given;
//   'closed':    _get_closed_form_lr(), used by step(epoch).
Napi::Value CosineAnnealing(const Napi::CallbackInfo& info) {
  std::string form = ArgString(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  int64_t e = OptionInt(o, "epoch"), T = OptionInt(o, "tMax");
  double etaMin = OptionDouble(o, "etaMin"), base = OptionDouble(o, "baseLr"), lr = OptionDouble(o, "lastLr");
  double de = static_cast<double>(e), dT = static_cast<double>(T);
  double next;
  if (form == "closed") {
    next = etaMin + (base - etaMin) * (1 + std::cos(kPi * de / dT)) / 2;
  } else if (form == "resumed") {
    next = etaMin + (base - etaMin) * (1 + std::cos(de * kPi / dT)) / 2;
  } else if (e == 0) {
    next = lr;
  } else if ((((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T) == 0) {  // Python's floored modulo
    next = lr + (base - etaMin) * (1 - std::cos(kPi / dT)) / 2;
  } else {
    next = (1 + std::cos(kPi * de / dT)) / (1 + std::cos(kPi * (de - 1) / dT)) * (lr - etaMin) + etaMin;
  }
  return Napi::Number::New(info.Env(), next);
}

// libm(fn, x, y): glibc's cos(x) or pow(x, y), as Python's math.cos(x) and x ** y compute them.
Napi::Value Libm(const Napi::CallbackInfo& info) {
  std::string fn = ArgString(info, 0);
  double x = ArgDouble(info, 1);
  if (fn == "cos") return Napi::Number::New(info.Env(), std::cos(x));
  if (fn == "pow") return Napi::Number::New(info.Env(), std::pow(x, ArgDouble(info, 2)));
  throw Napi::TypeError::New(info.Env(), "libm: unknown function " + fn);
}

}  // namespace

void RegisterLrScheduler(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"cosineAnnealing", CosineAnnealing}, {"libm", Libm}});
}

}  // namespace tb
