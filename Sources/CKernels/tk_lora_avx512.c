// Per-row LoRA deltas with AVX-512 (twin of tk_lora_generic.c). Shrink: rank dot products over the row, 16 lanes at
// a time with one accumulator per rank index. Expand: B is stored transposed, so each output chunk of 16 gathers its
// rank terms with fmas and no horizontal sums. fp16 weights halve the bytes streamed, which is what bounds a step
// where every sequence has its own adapter.
#include "tk_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")))
#define INLINE static inline __attribute__((always_inline))

/// 16 values from column c of a row of `type` (mask for the tail).
TARGET INLINE __m512 load16(const void *row, int type, int64_t c, __mmask16 m) {
    if (type == TK_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c));
    return _mm512_maskz_loadu_ps(m, (const float *)row + c);
}

TARGET INLINE __mmask16 tail(int64_t left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

/// scratch[j] = weight * dot(A[j], x) for j < rank, ranks in groups of 8 so a chunk of x feeds 8 accumulators.
TARGET static void shrink(const tk_lora_item *item, const float *x, int64_t k, float *scratch) {
    const size_t es = item->type == TK_F16 ? 2 : 4;
    for (int j0 = 0; j0 < item->rank; j0 += 8) {
        const int g = item->rank - j0 < 8 ? item->rank - j0 : 8;
        __m512 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm512_setzero_ps();
        for (int64_t c = 0; c < k; c += 16) {
            const __mmask16 m = tail(k - c);
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
            for (int j = 0; j < g; j++) {
                const char *row = (const char *)item->a + (size_t)(j0 + j) * (size_t)k * es;
                _mm_prefetch(row + (c + 128) * (int64_t)es, _MM_HINT_T0);  // rows are short streams: help the prefetcher
                acc[j] = _mm512_fmadd_ps(load16(row, item->type, c, m), xv, acc[j]);
            }
        }
        for (int j = 0; j < g; j++) scratch[j0 + j] = item->weight * _mm512_reduce_add_ps(acc[j]);
    }
}

TARGET void tk_lora_rows_avx512(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                                int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch) {
    for (int64_t it = 0; it < n_items; it++) {
        const tk_lora_item *item = &items[it];
        const int64_t lo = item->row0 > r0 ? item->row0 : r0;
        const int64_t hi = item->row0 + item->rows < r1 ? item->row0 + item->rows : r1;
        const size_t es = item->type == TK_F16 ? 2 : 4;
        for (int64_t r = lo; r < hi; r++) {
            shrink(item, x + r * ldx, k, scratch);
            float *yr = y + r * ldy;
            // Bt row by row, so it streams in order; y's row stays in L1. Each value still sums its terms in
            // rank order, as the generic twin does.
            for (int j = 0; j < item->rank; j++) {
                const void *row = (const char *)item->bt + (size_t)j * (size_t)n * es;
                const __m512 s = _mm512_set1_ps(scratch[j]);
                for (int64_t c = 0; c < n; c += 16) {
                    const __mmask16 m = tail(n - c);
                    _mm_prefetch((const char *)row + (c + 256) * (int64_t)es, _MM_HINT_T0);
                    _mm512_mask_storeu_ps(yr + c, m, _mm512_fmadd_ps(s, load16(row, item->type, c, m), _mm512_maskz_loadu_ps(m, yr + c)));
                }
            }
            if (item->dora) {
                for (int64_t c = 0; c < n; c += 16) {
                    const __mmask16 m = tail(n - c);
                    _mm512_mask_storeu_ps(yr + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, yr + c), _mm512_maskz_loadu_ps(m, item->dora + c)));
                }
            }
        }
    }
}

TARGET void tk_to_fp16_avx512(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}
#endif
