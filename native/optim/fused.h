// Element-wise loops of the fused optimizers (`fused: true`). ATen's AVX2 kernels compute
// `a + alpha * b` as one fused multiply-add and its default kernels with two roundings; these
// loops do the same, in the op-by-op path's order, so both paths round alike.
#pragma once
#include <ATen/Parallel.h>
#include <cstdint>

namespace tb {

template <bool kFma>
__attribute__((always_inline)) inline float MulAdd(float a, float b, float c) {
  if constexpr (kFma) return __builtin_fmaf(a, b, c);
  return a * b + c;
}

template <typename Kernel>
__attribute__((target("avx2,fma"))) void RunWithFma(const Kernel& k, int64_t begin, int64_t end) {
  k.template Run<true>(begin, end);
}

template <typename Kernel>
void RunWithoutFma(const Kernel& k, int64_t begin, int64_t end) {
  k.template Run<false>(begin, end);
}

// Runs kernel.Run<kFma>(begin, end) over [0, n) on the intra-op threads. Kernel::Run must be
// always_inline so that it is compiled for the instruction set of its caller.
template <typename Kernel>
void ParallelElementwise(int64_t n, const Kernel& kernel) {
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  auto run = fma ? &RunWithFma<Kernel> : &RunWithoutFma<Kernel>;
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) { run(kernel, begin, end); });
}

}  // namespace tb
