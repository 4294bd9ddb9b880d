#pragma once
#include <napi.h>

namespace tb {
// Intra-op threads are a per-thread setting in ATen's OpenMP backend, so every thread that runs
// work applies the process-wide choice before it starts.
void ApplyThreadSettings();
}  // namespace tb
