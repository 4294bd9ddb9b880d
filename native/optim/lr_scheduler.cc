// The native side of src/optim/lr_scheduler.ts. The cosine formulas run in C++ because V8's
// Math.cos differs from glibc's cos by 1 ulp on some arguments, and Python uses glibc's.
#include <cmath>
#include "../addon.h"
#include "../tensor.h"

namespace tb {
namespace {

const double kPi = 3.141592653589793;  // math.pi

// cosineAnnealing(form, epoch, tMax, etaMin, baseLr, lastLr): CosineAnnealingLR's formulas, with
// Python's operand order kept ((pi * e) / T and (e * pi) / T round differently).
//   'recursive': get_lr() on an ordinary step;
//   'resumed':   get_lr() on the constructor's step when last_epoch >= 0 was given;
//   'closed':    _get_closed_form_lr(), used by step(epoch).
Napi::Value CosineAnnealing(const Napi::CallbackInfo& info) {
  std::string form = ArgString(info, 0);
  int64_t e = ArgInt(info, 1), T = ArgInt(info, 2);
  double etaMin = ArgDouble(info, 3), base = ArgDouble(info, 4), lr = ArgDouble(info, 5);
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

}  // namespace

void RegisterLrScheduler(Napi::Env env, Napi::Object exports) {
  exports.Set("cosineAnnealing", Napi::Function::New(env, CosineAnnealing));
}

}  // namespace tb
