// Per-row LoRA deltas with AVX2 + F16C (twin of tk_lora_generic.c, like tk_lora_avx512.c): fp16 A and B-transposed
// widen with vcvtph2ps, 8 lanes at a time; tails run the generic arithmetic.
#include "tk_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "tk_avx2_reduce.h"

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

TARGET INLINE __m256 load8(const void *row, int type, int64_t c) {
    if (type == TK_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
    return _mm256_loadu_ps((const float *)row + c);
}

/// scratch[j] = weight * dot(A[j], x) for j < rank, ranks in groups of 4 so a chunk of x feeds 4 accumulators.
TARGET static void shrink(const tk_lora_item *item, const float *x, int64_t k, float *scratch) {
    const size_t es = item->type == TK_F16 ? 2 : 4;
    const int64_t k8 = k / 8 * 8;
    for (int j0 = 0; j0 < item->rank; j0 += 4) {
        const int g = item->rank - j0 < 4 ? item->rank - j0 : 4;
        const char *rows[4];
        __m256 acc[4];
        for (int j = 0; j < 4; j++) {
            rows[j] = (const char *)item->a + (size_t)(j0 + (j < g ? j : 0)) * (size_t)k * es;
            acc[j] = _mm256_setzero_ps();
        }
        for (int64_t c = 0; c < k8; c += 8) {
            const __m256 xv = _mm256_loadu_ps(x + c);
            for (int j = 0; j < g; j++) acc[j] = _mm256_fmadd_ps(load8(rows[j], item->type, c), xv, acc[j]);
        }
        for (int j = 0; j < g; j++) {
            float t = tk_hsum8(acc[j]);
            for (int64_t c = k8; c < k; c++) t += tk_lora_value(rows[j], item->type, c) * x[c];
            scratch[j0 + j] = item->weight * t;
        }
    }
}

TARGET void tk_lora_rows_avx2(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                              int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch) {
    const int64_t n8 = n / 8 * 8;
    for (int64_t it = 0; it < n_items; it++) {
        const tk_lora_item *item = &items[it];
        const int64_t lo = item->row0 > r0 ? item->row0 : r0;
        const int64_t hi = item->row0 + item->rows < r1 ? item->row0 + item->rows : r1;
        const size_t es = item->type == TK_F16 ? 2 : 4;
        for (int64_t r = lo; r < hi; r++) {
            shrink(item, x + r * ldx, k, scratch);
            float *yr = y + r * ldy;
            // Bt row by row, so it streams in order; y's row stays in L1. Each value sums its terms in rank order.
            for (int j = 0; j < item->rank; j++) {
                const void *row = (const char *)item->bt + (size_t)j * (size_t)n * es;
                const __m256 s = _mm256_set1_ps(scratch[j]);
                for (int64_t c = 0; c < n8; c += 8)
                    _mm256_storeu_ps(yr + c, _mm256_fmadd_ps(s, load8(row, item->type, c), _mm256_loadu_ps(yr + c)));
                for (int64_t c = n8; c < n; c++) yr[c] += scratch[j] * tk_lora_value(row, item->type, c);
            }
            if (item->dora) {
                for (int64_t c = 0; c < n8; c += 8)
                    _mm256_storeu_ps(yr + c, _mm256_mul_ps(_mm256_loadu_ps(yr + c), _mm256_loadu_ps(item->dora + c)));
                for (int64_t c = n8; c < n; c++) yr[c] *= item->dora[c];
            }
        }
    }
}

TARGET void tk_to_fp16_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = tk_fp32_to_fp16(x[i]);
}
#endif
