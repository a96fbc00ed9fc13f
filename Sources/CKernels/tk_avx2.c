// AVX2 + FMA kernels (8 lanes), for x86-64 machines without AVX-512. Twins of tk_generic.c, like tk_avx512.c.
#include "tk_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

TARGET INLINE __m256 h2f_broadcast8(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_set1_ps(_cvtsh_ss(h));
}

TARGET INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TARGET static void dequant_row_q4_1(const uint8_t *p, float *y, int64_t n) {
    const __m256i mask = _mm256_set1_epi32(0xF);
    for (int64_t i = 0; i < n; i += 32, p += 20, y += 32) {
        __m256 d = h2f_broadcast8(p), m = h2f_broadcast8(p + 2);
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 4 + 8 * h)));
            _mm256_storeu_ps(y + 8 * h, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(q, mask)), d, m));
            _mm256_storeu_ps(y + 16 + 8 * h, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4)), d, m));
        }
    }
}

TARGET static void dequant_row_q8_0(const uint8_t *p, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 32, p += 34, y += 32) {
        __m256 d = h2f_broadcast8(p);
        for (int h = 0; h < 4; h++) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 2 + 8 * h)));
            _mm256_storeu_ps(y + 8 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

TARGET static const float *row_floats(int type, const uint8_t *row, float *scratch, int64_t k) {
    switch (type) {
    case TK_F32: return (const float *)row;
    case TK_Q4_1: dequant_row_q4_1(row, scratch, k); break;
    case TK_Q8_0: dequant_row_q8_0(row, scratch, k); break;
    default: tk_dequantize_row_generic(type, row, scratch, k); break;
    }
    return scratch;
}

TARGET INLINE void block(const float *const *w, const float *x, int64_t ldx, float *y, int64_t ldy,
                         int64_t k, const int NR, const int NT) {
    __m256 acc[4][2];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 wv[4];
        for (int r = 0; r < NR; r++) wv[r] = _mm256_loadu_ps(w[r] + i);
        for (int t = 0; t < NT; t++) {
            __m256 xv = _mm256_loadu_ps(x + t * ldx + i);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < NR; r++) {
            float s = hsum8(acc[r][t]);
            for (int64_t j = i; j < k; j++) s += w[r][j] * x[t * ldx + j];
            y[t * ldy + r] = s;
        }
}

TARGET static void block_any(const float *const *w, int nr, const float *x, int64_t ldx, int nt,
                             float *y, int64_t ldy, int64_t k) {
#define B(R, T) case (R * 8 + T): block(w, x, ldx, y, ldy, k, R, T); return;
    switch (nr * 8 + nt) { B(4, 2) B(4, 1) B(3, 2) B(3, 1) B(2, 2) B(2, 1) B(1, 2) B(1, 1) }
#undef B
}

TARGET void tk_matmul_rows_avx2(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                                const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch) {
    const uint8_t *base = (const uint8_t *)w;
    const int64_t TC = 96;
    for (int64_t t0 = 0; t0 < nt; t0 += TC) {
        int64_t tn = nt - t0 < TC ? nt - t0 : TC;
        for (int64_t r = r0; r < r1; r += 4) {
            int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            const float *rows[4];
            for (int j = 0; j < nr; j++) rows[j] = row_floats(type, base + (size_t)(r + j) * row_bytes, scratch + j * k, k);
            for (int64_t t = 0; t < tn; t += 2) {
                int n = tn - t < 2 ? (int)(tn - t) : 2;
                block_any(rows, nr, x + (t0 + t) * ldx, ldx, n, y + (t0 + t) * ldy + r, ldy, k);
            }
        }
    }
}

TARGET void tk_rmsnorm_avx2(const float *x, const float *w, float *y, int64_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { __m256 v = _mm256_loadu_ps(x + i); acc = _mm256_fmadd_ps(v, v, acc); }
    float ss = hsum8(acc);
    for (; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
}
#endif

