// AVX2 + FMA kernels (8 lanes), for x86-64 machines without AVX-512. Twins of tk_generic.c, like tk_avx512.c.
#include "tk_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "tk_avx2_reduce.h"

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

TARGET INLINE __m256 h2f_broadcast8(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_set1_ps(_cvtsh_ss(h));
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
            float s = tk_hsum8(acc[r][t]);
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
    float ss = tk_hsum8(acc);
    for (; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
}

/// e^x to about 2 ulp (Cephes' expf polynomial, as exp512); 2^n is applied in two halves so that n in [-128, 128]
/// never leaves the exponent field's range.
TARGET INLINE __m256 exp256(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23)));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23)));
}

TARGET void tk_silu_mul_avx2(float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

TARGET void tk_silu_mul_backward_avx2(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i), d = _mm256_loadu_ps(da + i);
        const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        const __m256 ds = _mm256_mul_ps(d, s);
        _mm256_storeu_ps(du + i, _mm256_mul_ps(ds, x));
        const __m256 k = _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one);  // 1 + g (1 - s)
        _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(ds, _mm256_loadu_ps(u + i)), k));
    }
    tk_silu_mul_backward_generic(g + i, u + i, da + i, dg + i, du + i, n - i);
}

/// exp(-2y) of gelu's sigmoid form (tk_kernels.h), -2y = g (A + B g^2); exp256 clamps its argument as the twin does.
TARGET INLINE __m256 gelu_exp256(__m256 g) {
    const __m256 ab = _mm256_fmadd_ps(_mm256_set1_ps(TK_GELU_B), _mm256_mul_ps(g, g), _mm256_set1_ps(TK_GELU_A));
    return exp256(_mm256_mul_ps(g, ab));
}

TARGET void tk_gelu_mul_avx2(float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 a = _mm256_div_ps(g, _mm256_add_ps(one, gelu_exp256(g)));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(a, _mm256_loadu_ps(up + i)));
    }
    tk_gelu_mul_generic(gate + i, up + i, n - i);
}

TARGET void tk_gelu_mul_backward_avx2(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), lim = _mm256_set1_ps(100.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i), d = _mm256_loadu_ps(da + i);
        const __m256 e = gelu_exp256(x), s = _mm256_div_ps(one, _mm256_add_ps(one, e));
        _mm256_storeu_ps(du + i, _mm256_mul_ps(_mm256_mul_ps(d, x), s));
        const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
        const __m256 dy = _mm256_fmadd_ps(_mm256_set1_ps(TK_GELU_E), _mm256_mul_ps(xc, xc), _mm256_set1_ps(TK_GELU_D));
        const __m256 k = _mm256_fmadd_ps(_mm256_mul_ps(xc, _mm256_mul_ps(e, s)), dy, one);  // 1 + g e s 2y'
        _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(u + i)), _mm256_mul_ps(s, k)));
    }
    tk_gelu_mul_backward_generic(g + i, u + i, da + i, dg + i, du + i, n - i);
}

TARGET double tk_log_softmax_row_avx2(float *x, int64_t n, float scale) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m = tk_hmax8(vm);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    // Eight float sums of a few thousand terms each, added in double.
    __m256 acc = _mm256_setzero_ps();
    const __m256 mv = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    double sum = 0;
    for (int l = 0; l < 8; l++) sum += lanes[l];
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    if (scale != 0) {
        const __m256 f = _mm256_set1_ps((float)(scale / sum));
        for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), f));
        for (; i < n; i++) x[i] *= (float)(scale / sum);
    }
    return m + log(sum);
}

/// The four sums of a0..a3's lanes, in order.
TARGET INLINE __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/// 8 keys or values at element i of a cache row stored as fp16 (H) or fp32.
TARGET INLINE __m256 kv8(const void *row, int64_t i, const int H) {
    return H ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)))
             : _mm256_loadu_ps((const float *)row + i);
}

/// Attention for one query head over positions lo..<span: with 16 registers, one head's query (hd = 8 * NV) stays in
/// registers while keys stream by, four positions per horizontal sum; then the weighted values. scores[p - lo].
TARGET INLINE void attend_head(const float *q, int64_t lo, int64_t span, const void *k, const void *v, const int H,
                               const int32_t *blocks, int64_t block_tokens, int64_t kv_width, const int NV,
                               float scale, float *out, float *scores) {
    __m256 qv[16];
    for (int c = 0; c < NV; c++) qv[c] = _mm256_mul_ps(_mm256_loadu_ps(q + 8 * c), _mm256_set1_ps(scale));
    __m256 maxv = _mm256_set1_ps(-INFINITY);
    for (int64_t p0 = lo, run; p0 < span; p0 += run) {
        const int64_t kb = tk_kv_run(blocks, block_tokens, p0, span, &run) * kv_width;
        float *sb = scores + (p0 - lo);
        int64_t i = 0;
        for (; i + 4 <= run; i += 4) {
            __m256 a[4];
            for (int j = 0; j < 4; j++) {
                const int64_t kr = kb + (i + j) * kv_width;
                a[j] = _mm256_mul_ps(qv[0], kv8(k, kr, H));
                for (int c = 1; c < NV; c++) a[j] = _mm256_fmadd_ps(qv[c], kv8(k, kr + 8 * c, H), a[j]);
            }
            const __m128 s = hsum4(a[0], a[1], a[2], a[3]);
            _mm_storeu_ps(sb + i, s);
            maxv = _mm256_max_ps(maxv, _mm256_set_m128(s, s));
        }
        for (; i < run; i++) {
            const int64_t kr = kb + i * kv_width;
            __m256 a = _mm256_mul_ps(qv[0], kv8(k, kr, H));
            for (int c = 1; c < NV; c++) a = _mm256_fmadd_ps(qv[c], kv8(k, kr + 8 * c, H), a);
            // The lone positions at a run's end keep their own sum order (the calibrated numerics of the
            // int16 parity tests: the most sensitive adapters' worst token moves by 0.015 nats with it); only a
            // window starting mid-block makes paged and contiguous caches differ here, in ulps.
            const float s = tk_hsum8(a);
            sb[i] = s;
            maxv = _mm256_max_ps(maxv, _mm256_set1_ps(s));
        }
    }
    const float maxs = tk_hmax8(maxv);
    const __m256 m = _mm256_set1_ps(maxs);
    const int64_t n = span - lo;
    __m256 sumv = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= n; p += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(scores + p), m));
        _mm256_storeu_ps(scores + p, e);
        sumv = _mm256_add_ps(sumv, e);
    }
    float sum = tk_hsum8(sumv);
    for (; p < n; p++) {
        scores[p] = expf(scores[p] - maxs);
        sum += scores[p];
    }
    __m256 o[16];
    for (int c = 0; c < NV; c++) o[c] = _mm256_setzero_ps();
    for (int64_t p0 = lo, run; p0 < span; p0 += run) {
        const int64_t vb = tk_kv_run(blocks, block_tokens, p0, span, &run) * kv_width;
        const float *sb = scores + (p0 - lo);
        for (int64_t i = 0; i < run; i++) {
            const __m256 w = _mm256_set1_ps(sb[i]);
            for (int c = 0; c < NV; c++) o[c] = _mm256_fmadd_ps(w, kv8(v, vb + i * kv_width + 8 * c, H), o[c]);
        }
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (int c = 0; c < NV; c++) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(o[c], inv));
}

/// Scores of P consecutive key rows (kv_width apart) against G scaled queries (qs, 256 floats each) for hd 256:
/// s[j * n + i] for head j, row i. Each key vector is loaded once for all G heads; each output has its own
/// accumulator, summed in the same order whatever P is, so a position's score does not depend on how rows are grouped.
TARGET INLINE void scores_256(const float *qs, const void *k, int64_t kr, const int H, int64_t kv_width, const int G,
                              const int P, float *s, int64_t n) {
    __m256 acc[8];
    for (int x = 0; x < P * G; x++) acc[x] = _mm256_setzero_ps();
    // Unrolled fully, the loop's query loads would be hoisted out of the caller's loop over positions into more
    // registers than there are, and spilled: a copy of qs on the stack. Kept a loop, they are plain loads from L1.
#pragma clang loop unroll_count(2)
    for (int c = 0; c < 32; c++) {
        __m256 kv[4];
        for (int i = 0; i < P; i++) kv[i] = kv8(k, kr + i * kv_width + 8 * c, H);
        for (int j = 0; j < G; j++) {
            const __m256 qj = _mm256_load_ps(qs + j * 256 + 8 * c);
            for (int i = 0; i < P; i++) acc[i * G + j] = _mm256_fmadd_ps(qj, kv[i], acc[i * G + j]);
        }
    }
    for (int i = 0; i < P; i++)
        for (int j = 0; j < G; j++) s[j * n + i] = tk_hsum8(acc[i * G + j]);
}

/// s[0..<n] = exp(s - max s); returns 1 / their sum.
TARGET static float softmax_256(float *s, int64_t n) {
    __m256 maxv = _mm256_set1_ps(-INFINITY);
    int64_t p = 0;
    for (; p + 8 <= n; p += 8) maxv = _mm256_max_ps(maxv, _mm256_loadu_ps(s + p));
    float maxs = tk_hmax8(maxv);
    for (; p < n; p++) maxs = s[p] > maxs ? s[p] : maxs;
    const __m256 m = _mm256_set1_ps(maxs);
    __m256 sumv = _mm256_setzero_ps();
    for (p = 0; p + 8 <= n; p += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + p), m));
        _mm256_storeu_ps(s + p, e);
        sumv = _mm256_add_ps(sumv, e);
    }
    float sum = tk_hsum8(sumv);
    for (; p < n; p++) {
        s[p] = expf(s[p] - maxs);
        sum += s[p];
    }
    return 1.0f / sum;
}

/// Positions per tile of the hd 256 value pass: 32 rows of 1 KB stay in L1 while the column chunks pass over them.
#define TILE_256 32

/// Attention of G query heads (hd 256) sharing one KV head over positions lo..<span. A head is 32 registers, twice
/// the register file, so the queries stay in memory (L1, G KB) and registers hold accumulators instead. Scores: each
/// key row is read once for all G heads, P rows at a time (P * G <= 8 accumulators in flight). Values: each head's
/// output in column chunks of C registers (G * C <= 12), tile by tile of positions, accumulated in `out`.
TARGET INLINE void attend_256(const float *q, int64_t lo, int64_t span, const void *k, const void *v, const int H,
                              const int32_t *blocks, int64_t block_tokens, int64_t kv_width, const int G, float scale,
                              float *out, float *scores) {
    const int P = G <= 2 ? 4 : G <= 4 ? 2 : 1;
    const int C = G == 1 ? 8 : G <= 3 ? 4 : G <= 6 ? 2 : 1;
    const int64_t n = span - lo;
    float qs[8 * 256] __attribute__((aligned(32)));
    const __m256 sv = _mm256_set1_ps(scale);
    for (int x = 0; x < G * 256; x += 8) _mm256_store_ps(qs + x, _mm256_mul_ps(_mm256_loadu_ps(q + x), sv));
    for (int64_t p0 = lo, run; p0 < span; p0 += run) {
        const int64_t kb = tk_kv_run(blocks, block_tokens, p0, span, &run) * kv_width;
        float *sb = scores + (p0 - lo);
        int64_t i = 0;
        for (; i + P <= run; i += P) scores_256(qs, k, kb + i * kv_width, H, kv_width, G, P, sb + i, n);
        for (; i < run; i++) scores_256(qs, k, kb + i * kv_width, H, kv_width, G, 1, sb + i, n);
    }
    float inv[8];
    for (int j = 0; j < G; j++) inv[j] = softmax_256(scores + j * n, n);
    for (int64_t t0 = lo; t0 < span; t0 += TILE_256) {
        const int64_t t1 = span - t0 < TILE_256 ? span : t0 + TILE_256;
        for (int c0 = 0; c0 < 32; c0 += C) {
            __m256 o[12];
            for (int j = 0; j < G; j++)
                for (int c = 0; c < C; c++)
                    o[j * C + c] = t0 == lo ? _mm256_setzero_ps() : _mm256_loadu_ps(out + j * 256 + 8 * (c0 + c));
            for (int64_t p0 = t0, run; p0 < t1; p0 += run) {
                const int64_t vb = tk_kv_run(blocks, block_tokens, p0, t1, &run) * kv_width + 8 * c0;
                const float *sb = scores + (p0 - lo);
                for (int64_t i = 0; i < run; i++) {
                    __m256 vv[8];
                    for (int c = 0; c < C; c++) vv[c] = kv8(v, vb + i * kv_width + 8 * c, H);
                    for (int j = 0; j < G; j++) {
                        const __m256 w = _mm256_broadcast_ss(sb + j * n + i);
                        for (int c = 0; c < C; c++) o[j * C + c] = _mm256_fmadd_ps(w, vv[c], o[j * C + c]);
                    }
                }
            }
            for (int j = 0; j < G; j++)
                for (int c = 0; c < C; c++) {
                    __m256 r = t1 == span ? _mm256_mul_ps(o[j * C + c], _mm256_set1_ps(inv[j])) : o[j * C + c];
                    _mm256_storeu_ps(out + j * 256 + 8 * (c0 + c), r);
                }
        }
    }
}

/// tk_attention_avx2 for a cache of fp16 (H) or fp32 values.
TARGET INLINE void attention(const float *q, int64_t start, const void *keys, const void *values, const int H,
                             const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd, float scale,
                             int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out, float *scores) {
    const int group = heads / kv_heads;
    const int64_t q_width = (int64_t)heads * hd, kv_width = (int64_t)kv_heads * hd;
    for (int64_t item = i0; item < i1; item += stride) {
        const int64_t r = item / kv_heads, span = start + r + 1, lo = tk_window_first(span, window);
        const int g = (int)(item % kv_heads);
        const void *kg = tk_kv_at(keys, (int64_t)g * hd, H), *vg = tk_kv_at(values, (int64_t)g * hd, H);
        if (hd == 256) {
            // Sub-groups of at most 8 heads (Gemma 3 has 2 to 8 query heads per KV head).
            for (int h = g * group; h < (g + 1) * group; h += 8) {
                const int n = (g + 1) * group - h < 8 ? (g + 1) * group - h : 8;
                const float *qh = q + r * q_width + (int64_t)h * hd;
                float *oh = out + r * q_width + (int64_t)h * hd;
#define A(G) case G: attend_256(qh, lo, span, kg, vg, H, blocks, block_tokens, kv_width, G, scale, oh, scores); break;
                switch (n) { A(1) A(2) A(3) A(4) A(5) A(6) A(7) A(8) }
#undef A
            }
            continue;
        }
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *qh = q + r * q_width + (int64_t)h * hd;
            float *oh = out + r * q_width + (int64_t)h * hd;
            if (hd == 64) attend_head(qh, lo, span, kg, vg, H, blocks, block_tokens, kv_width, 8, scale, oh, scores);
            else attend_head(qh, lo, span, kg, vg, H, blocks, block_tokens, kv_width, 16, scale, oh, scores);
        }
    }
}

TARGET void tk_attention_avx2(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
                              const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd,
                              float scale, int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out,
                              float *scores) {
    if (kv_type == TK_F16)
        attention(q, start, keys, values, 1, blocks, block_tokens, heads, kv_heads, hd, scale, window, i0, i1, stride,
                  out, scores);
    else
        attention(q, start, keys, values, 0, blocks, block_tokens, heads, kv_heads, hd, scale, window, i0, i1, stride,
                  out, scores);
}
#endif
