// Shared with the native files whose work reads parameter gradients.
#pragma once
#include <ATen/ATen.h>

namespace tb {

// zeroGrad leaves the zeroing of gradients nothing else references to the next work that reads
// gradients (zeroing AlexNet's 244 MB takes tens of ms, too long for the JS thread). Call this
// before reading any parameter's .grad(); it is thread-safe and cheap when nothing is pending.
void ZeroDeferredGrads();

}  // namespace tb
