#ifndef TK_KERNELS_H
#define TK_KERNELS_H
// Generic (portable C) kernels. SIMD variants join these with a `_generic` twin each (DESIGN 2).
#include "tk_types.h"

/// Dequantizes `n` values (a multiple of the type's block size) starting at `src` into `dst`.
void tk_dequantize_row_generic(int type, const void *src, float *dst, int64_t n);

/// y[t*ldy + r] = dot(W[r], x[t*ldx ..]) for r in [r0, r1), t in [0, nt).
/// `w` points at row 0; rows are `row_bytes` apart; `scratch` holds `k` floats.
void tk_matmul_rows_generic(int type, const void *w, size_t row_bytes, int64_t k,
                            int64_t r0, int64_t r1,
                            const float *x, int64_t ldx, int64_t nt,
                            float *y, int64_t ldy, float *scratch);

/// y[i] = x[i] * inv_rms * w[i], inv_rms = 1/sqrt(mean(x^2) + eps).
void tk_rmsnorm_generic(const float *x, const float *w, float *y, int64_t n, float eps);

/// Dot product of two float vectors, accumulated in several lanes.
float tk_dot_f32_generic(const float *a, const float *b, int64_t n);

#endif
