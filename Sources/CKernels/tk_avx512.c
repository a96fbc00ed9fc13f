// AVX-512 kernels. Compiled for AVX-512 through target attributes only, so the package still builds for any x86-64
// and these run only after tk_cpu_best_level() said so. Each has a `_generic` twin in tk_generic.c.
#include "tk_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")))
#define INLINE static inline __attribute__((always_inline))

TARGET INLINE __m512 h2f_broadcast(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm512_set1_ps(_cvtsh_ss(h));
}

/// Q4_1's scale and minimum, converted together (one load, one conversion) and broadcast.
TARGET INLINE void q4_1_scales(const uint8_t *p, __m512 *d, __m512 *m) {
    uint32_t dm;
    memcpy(&dm, p, 4);
    __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dm)));
    *d = _mm512_broadcastss_ps(_mm512_castps512_ps128(f));
    *m = _mm512_permutexvar_ps(_mm512_set1_epi32(1), f);
}

TARGET INLINE __m512 nibble_values(void) { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }

/// A 4-bit block's 32 weights from `table`, its 16 possible values (the scale applied to 0..15 by the same fma the
/// scalar code uses, so the numbers are identical), looked up by nibble. vpermps reads only the low four bits of each
/// index, so the low nibbles need no mask: two lookups and a shift instead of two conversions and two fmas.
TARGET INLINE void nibble_lookup(__m512 table, const uint8_t *nibbles, __m512 *lo, __m512 *hi) {
    __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)nibbles));
    *lo = _mm512_permutexvar_ps(q, table);
    *hi = _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), table);
}

/// The 32 weights of one quantized block as two vectors. The only place these formats are decoded, so weights
/// dequantized into a tile (many rows) and in registers (few rows) are the same numbers.
TARGET INLINE void block_weights(const int TYPE, const uint8_t *p, __m512 *lo, __m512 *hi) {
    if (TYPE == TK_Q4_1) {
        __m512 d, m;
        q4_1_scales(p, &d, &m);
        nibble_lookup(_mm512_fmadd_ps(nibble_values(), d, m), p + 4, lo, hi);
    } else if (TYPE == TK_Q4_1_F32S) {
        __m512 d = _mm512_set1_ps(*(const float *)p), m = _mm512_set1_ps(*(const float *)(p + 4));
        nibble_lookup(_mm512_fmadd_ps(nibble_values(), d, m), p + 8, lo, hi);
    } else if (TYPE == TK_Q4_0) {
        nibble_lookup(_mm512_mul_ps(_mm512_sub_ps(nibble_values(), _mm512_set1_ps(8)), h2f_broadcast(p)), p + 2, lo, hi);
    } else {  // TK_Q8_0
        __m512 d = h2f_broadcast(p);
        *lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))), d);
        *hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))), d);
    }
}

/// A row of quantized blocks, dequantized into `y`.
TARGET INLINE void dequant_row(const int TYPE, const int BYTES, const uint8_t *p, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 32, p += BYTES, y += 32) {
        __m512 lo, hi;
        block_weights(TYPE, p, &lo, &hi);
        _mm512_storeu_ps(y, lo);
        _mm512_storeu_ps(y + 16, hi);
    }
}

TARGET static void dequant_row_f16(const uint8_t *p, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = _cvtsh_ss(h);
    }
}

/// Dequantizes one row; returns a pointer to floats (the row itself for F32, else `scratch`).
TARGET static const float *row_floats(int type, const uint8_t *row, float *scratch, int64_t k) {
    switch (type) {
    case TK_F32: return (const float *)row;
    case TK_Q4_1: dequant_row(TK_Q4_1, 20, row, scratch, k); break;
    case TK_Q4_1_F32S: dequant_row(TK_Q4_1_F32S, 24, row, scratch, k); break;
    case TK_Q4_0: dequant_row(TK_Q4_0, 18, row, scratch, k); break;
    case TK_Q8_0: dequant_row(TK_Q8_0, 34, row, scratch, k); break;
    case TK_F16: dequant_row_f16(row, scratch, k); break;
    default: tk_dequantize_row_generic(type, row, scratch, k); break;
    }
    return scratch;
}

/// NR weight rows x NT activation rows. Each output keeps its own 16-lane accumulator over k and is reduced the same
/// way whatever NR and NT are, so a row's result does not depend on how many other rows share the call.
TARGET INLINE void block(const float *const *w, const float *x, int64_t ldx, float *y, int64_t ldy,
                         int64_t k, const int NR, const int NT) {
    __m512 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 wv[4];
        for (int r = 0; r < NR; r++) wv[r] = _mm512_loadu_ps(w[r] + i);
        for (int t = 0; t < NT; t++) {
            __m512 xv = _mm512_loadu_ps(x + t * ldx + i);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (i < k) {
        __mmask16 m = (__mmask16)((1u << (k - i)) - 1);
        __m512 wv[4];
        for (int r = 0; r < NR; r++) wv[r] = _mm512_maskz_loadu_ps(m, w[r] + i);
        for (int t = 0; t < NT; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + i);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < NR; r++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

TARGET static void block_any(const float *const *w, int nr, const float *x, int64_t ldx, int nt,
                             float *y, int64_t ldy, int64_t k) {
#define B(R, T) case (R * 8 + T): block(w, x, ldx, y, ldy, k, R, T); return;
    switch (nr * 8 + nt) {
        B(4, 4) B(4, 3) B(4, 2) B(4, 1) B(3, 4) B(3, 3) B(3, 2) B(3, 1)
        B(2, 4) B(2, 3) B(2, 2) B(2, 1) B(1, 4) B(1, 3) B(1, 2) B(1, 1)
    }
#undef B
}

/// Few activation rows (decode): weights are dequantized in registers, never stored, so the step stays bound by
/// memory bandwidth. Same products in the same order as `block` over dequantized rows: identical results.
TARGET INLINE void block_direct(const int TYPE, const int BYTES, const uint8_t *const *w, const float *x, int64_t ldx,
                                float *y, int64_t ldy, int64_t k, const int NR, const int NT) {
    __m512 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0, b = 0; i < k; i += 32, b += BYTES) {
        __m512 lo[4], hi[4];
        for (int r = 0; r < NR; r++) block_weights(TYPE, w[r] + b, &lo[r], &hi[r]);
        for (int t = 0; t < NT; t++) {
            __m512 xl = _mm512_loadu_ps(x + t * ldx + i), xh = _mm512_loadu_ps(x + t * ldx + i + 16);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(hi[r], xh, _mm512_fmadd_ps(lo[r], xl, acc[r][t]));
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < NR; r++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

TARGET static void direct_any(int type, const uint8_t *const *w, int nr, const float *x, int64_t ldx, int nt,
                              float *y, int64_t ldy, int64_t k) {
#define D(TY, BY, R, T) case (R * 8 + T): block_direct(TY, BY, w, x, ldx, y, ldy, k, R, T); return;
#define ALL(TY, BY) switch (nr * 8 + nt) { \
        D(TY, BY, 4, 4) D(TY, BY, 4, 3) D(TY, BY, 4, 2) D(TY, BY, 4, 1) D(TY, BY, 3, 4) D(TY, BY, 3, 3) \
        D(TY, BY, 3, 2) D(TY, BY, 3, 1) D(TY, BY, 2, 4) D(TY, BY, 2, 3) D(TY, BY, 2, 2) D(TY, BY, 2, 1) \
        D(TY, BY, 1, 4) D(TY, BY, 1, 3) D(TY, BY, 1, 2) D(TY, BY, 1, 1) }
    if (type == TK_Q4_1) ALL(TK_Q4_1, 20)
    else if (type == TK_Q4_1_F32S) ALL(TK_Q4_1_F32S, 24)
    else if (type == TK_Q4_0) ALL(TK_Q4_0, 18)
    else ALL(TK_Q8_0, 34)
#undef ALL
#undef D
}

/// Rows are short (a few hundred bytes): fetch the block of 4 rows four blocks ahead of row r while this one computes
/// (measured: 1 block ahead 9.6, 2 ahead 10.2, 4 ahead 10.5 Gweights/s from DRAM on one thread).
TARGET INLINE void prefetch_ahead(const uint8_t *base, int64_t r, int64_t r1, size_t row_bytes) {
    if (r + 20 > r1) return;
    const char *next = (const char *)(base + (size_t)(r + 16) * row_bytes);
    for (size_t off = 0; off < 4 * row_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
}

TARGET void tk_matmul_rows_avx512(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                                  const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch) {
    const uint8_t *base = (const uint8_t *)w;
    if (nt <= 4 && (type == TK_Q4_1 || type == TK_Q4_1_F32S || type == TK_Q4_0 || type == TK_Q8_0)) {
        for (int64_t r = r0; r < r1; r += 4) {
            int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            const uint8_t *rows[4];
            for (int j = 0; j < nr; j++) rows[j] = base + (size_t)(r + j) * row_bytes;
            prefetch_ahead(base, r, r1, row_bytes);
            direct_any(type, rows, nr, x, ldx, (int)nt, y + r, ldy, k);
        }
        return;
    }
    // Token chunks keep the activations a block of weight rows meets in L2; each chunk dequantizes the rows again,
    // which costs 1/TC of the multiply-adds.
    const int64_t TC = 96;
    for (int64_t t0 = 0; t0 < nt; t0 += TC) {
        int64_t tn = nt - t0 < TC ? nt - t0 : TC;
        for (int64_t r = r0; r < r1; r += 4) {
            int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            const float *rows[4];
            prefetch_ahead(base, r, r1, row_bytes);
            for (int j = 0; j < nr; j++) rows[j] = row_floats(type, base + (size_t)(r + j) * row_bytes, scratch + j * k, k);
            for (int64_t t = 0; t < tn; t += 4) {
                int n = tn - t < 4 ? (int)(tn - t) : 4;
                block_any(rows, nr, x + (t0 + t) * ldx, ldx, n, y + (t0 + t) * ldy + r, ldy, k);
            }
        }
    }
}

TARGET void tk_rmsnorm_avx512(const float *x, const float *w, float *y, int64_t n, float eps) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { __m512 v = _mm512_loadu_ps(x + i); acc = _mm512_fmadd_ps(v, v, acc); }
    float ss = _mm512_reduce_add_ps(acc);
    for (; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    __m512 iv = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), iv), _mm512_loadu_ps(w + i)));
    for (; i < n; i++) y[i] = x[i] * inv * w[i];
}
#endif

#if defined(__x86_64__)
/// e^x to about 2 ulp (Cephes' expf polynomial), with 2^n applied by scalef so large |x| saturates cleanly.
TARGET INLINE __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-88.3762626647949f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

TARGET void tk_silu_mul_avx512(float *gate, const float *up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

TARGET double tk_log_softmax_row_avx512(float *x, int64_t n, float scale) {
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
    float m = _mm512_reduce_max_ps(vm);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    // Sixteen float sums of a few thousand terms each, added in double.
    __m512 acc = _mm512_setzero_ps();
    const __m512 mv = _mm512_set1_ps(m);
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, acc);
    double sum = 0;
    for (int l = 0; l < 16; l++) sum += lanes[l];
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    if (scale != 0) {
        const __m512 f = _mm512_set1_ps((float)(scale / sum));
        for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), f));
        for (; i < n; i++) x[i] *= (float)(scale / sum);
    }
    return m + log(sum);
}

TARGET void tk_silu_mul_backward_avx512(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i), d = _mm512_loadu_ps(da + i);
        const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        const __m512 ds = _mm512_mul_ps(d, s);
        _mm512_storeu_ps(du + i, _mm512_mul_ps(ds, x));
        const __m512 k = _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one);  // 1 + g (1 - s)
        _mm512_storeu_ps(dg + i, _mm512_mul_ps(_mm512_mul_ps(ds, _mm512_loadu_ps(u + i)), k));
    }
    tk_silu_mul_backward_generic(g + i, u + i, da + i, dg + i, du + i, n - i);
}
#endif

#if defined(__x86_64__)
/// exp(-2y) of gelu's sigmoid form (tk_kernels.h), -2y = g (A + B g^2); exp512 clamps its argument as the twin does.
TARGET INLINE __m512 gelu_exp512(__m512 g) {
    const __m512 ab = _mm512_fmadd_ps(_mm512_set1_ps(TK_GELU_B), _mm512_mul_ps(g, g), _mm512_set1_ps(TK_GELU_A));
    return exp512(_mm512_mul_ps(g, ab));
}

TARGET void tk_gelu_mul_avx512(float *gate, const float *up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 a = _mm512_div_ps(g, _mm512_add_ps(one, gelu_exp512(g)));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(a, _mm512_loadu_ps(up + i)));
    }
    tk_gelu_mul_generic(gate + i, up + i, n - i);
}

TARGET void tk_gelu_mul_backward_avx512(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), lim = _mm512_set1_ps(100.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i), d = _mm512_loadu_ps(da + i);
        const __m512 e = gelu_exp512(x), s = _mm512_div_ps(one, _mm512_add_ps(one, e));
        _mm512_storeu_ps(du + i, _mm512_mul_ps(_mm512_mul_ps(d, x), s));
        const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_sub_ps(_mm512_setzero_ps(), lim)), lim);
        const __m512 dy = _mm512_fmadd_ps(_mm512_set1_ps(TK_GELU_E), _mm512_mul_ps(xc, xc), _mm512_set1_ps(TK_GELU_D));
        const __m512 k = _mm512_fmadd_ps(_mm512_mul_ps(xc, _mm512_mul_ps(e, s)), dy, one);  // 1 + g e s 2y'
        _mm512_storeu_ps(dg + i, _mm512_mul_ps(_mm512_mul_ps(d, _mm512_loadu_ps(u + i)), _mm512_mul_ps(s, k)));
    }
    tk_gelu_mul_backward_generic(g + i, u + i, da + i, dg + i, du + i, n - i);
}
#endif

#if defined(__x86_64__)
/// 16 keys or values at element i of a cache row stored as fp16 (H) or fp32: fp16 widens exactly, so both give the
/// same floats for the same stored values.
TARGET INLINE __m512 kv16(const void *row, int64_t i, const int H) {
    return H ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)))
             : _mm512_loadu_ps((const float *)row + i);
}

/// Attention for one query row and one KV head with its `group` query heads, over positions lo..<span: each key and
/// value vector is loaded once for all heads of the group, and the outputs stay in registers. hd is 16 * nv (64 or
/// 128), group <= 8. scores[j * n + p - lo] for head j, n = span - lo.
TARGET INLINE void attend_group(const float *q, int64_t lo, int64_t span, const void *k, const void *v, const int H,
                                const int32_t *blocks, int64_t block_tokens, int64_t kv_width, const int group,
                                const int nv, float scale, float *out, float *scores) {
    const int hd = nv * 16;
    const int64_t n = span - lo;
    __m512 qv[8][8];
    for (int j = 0; j < group; j++)
        for (int c = 0; c < nv; c++) qv[j][c] = _mm512_mul_ps(_mm512_loadu_ps(q + j * hd + c * 16), _mm512_set1_ps(scale));
    float maxs[8];
    for (int j = 0; j < group; j++) maxs[j] = -INFINITY;
    for (int64_t p0 = lo, run; p0 < span; p0 += run) {
        const int64_t kb = tk_kv_run(blocks, block_tokens, p0, span, &run) * kv_width;
        float *sb = scores + (p0 - lo);
        for (int64_t i = 0; i < run; i++) {
            __m512 kv[8];
            for (int c = 0; c < nv; c++) kv[c] = kv16(k, kb + i * kv_width + c * 16, H);
            for (int j = 0; j < group; j++) {
                __m512 acc = _mm512_mul_ps(qv[j][0], kv[0]);
                for (int c = 1; c < nv; c++) acc = _mm512_fmadd_ps(qv[j][c], kv[c], acc);
                float s = _mm512_reduce_add_ps(acc);
                sb[j * n + i] = s;
                if (s > maxs[j]) maxs[j] = s;
            }
        }
    }
    float inv[8];
    for (int j = 0; j < group; j++) {
        float *sj = scores + j * n;
        __m512 m = _mm512_set1_ps(maxs[j]), sum = _mm512_setzero_ps();
        int64_t p = 0;
        for (; p + 16 <= n; p += 16) {
            __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(sj + p), m));
            _mm512_storeu_ps(sj + p, e);
            sum = _mm512_add_ps(sum, e);
        }
        if (p < n) {
            __mmask16 mask = (__mmask16)((1u << (n - p)) - 1);
            __m512 e = _mm512_maskz_mov_ps(mask, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, sj + p), m)));
            _mm512_mask_storeu_ps(sj + p, mask, e);
            sum = _mm512_add_ps(sum, e);
        }
        inv[j] = 1.0f / _mm512_reduce_add_ps(sum);
    }
    __m512 o[8][8];
    for (int j = 0; j < group; j++)
        for (int c = 0; c < nv; c++) o[j][c] = _mm512_setzero_ps();
    for (int64_t p0 = lo, run; p0 < span; p0 += run) {
        const int64_t vb = tk_kv_run(blocks, block_tokens, p0, span, &run) * kv_width;
        const float *sb = scores + (p0 - lo);
        for (int64_t i = 0; i < run; i++) {
            __m512 vv[8];
            for (int c = 0; c < nv; c++) vv[c] = kv16(v, vb + i * kv_width + c * 16, H);
            for (int j = 0; j < group; j++) {
                __m512 w = _mm512_set1_ps(sb[j * n + i]);
                for (int c = 0; c < nv; c++) o[j][c] = _mm512_fmadd_ps(w, vv[c], o[j][c]);
            }
        }
    }
    for (int j = 0; j < group; j++)
        for (int c = 0; c < nv; c++) _mm512_storeu_ps(out + j * hd + c * 16, _mm512_mul_ps(o[j][c], _mm512_set1_ps(inv[j])));
}

/// Scores of P consecutive key rows (kv_width apart) against G scaled queries (qs, 256 floats each) for hd 256:
/// s[j * n + i] for head j, row i. Each key vector is loaded once for all G heads; each output has its own
/// accumulator, summed in the same order whatever P is, so a position's score does not depend on how rows are grouped.
TARGET INLINE void scores_256(const float *qs, const void *k, int64_t kr, const int H, int64_t kv_width, const int G,
                              const int P, float *s, int64_t n) {
    __m512 acc[8];
    for (int x = 0; x < P * G; x++) acc[x] = _mm512_setzero_ps();
    // Unrolled fully, the loop's query loads would be hoisted out of the caller's loop over positions into more
    // registers than there are, and spilled: a copy of qs on the stack. Kept a loop, they are plain loads from L1.
#pragma clang loop unroll_count(2)
    for (int c = 0; c < 16; c++) {
        __m512 kv[4];
        for (int i = 0; i < P; i++) kv[i] = kv16(k, kr + i * kv_width + 16 * c, H);
        for (int j = 0; j < G; j++) {
            const __m512 qj = _mm512_load_ps(qs + j * 256 + 16 * c);
            for (int i = 0; i < P; i++) acc[i * G + j] = _mm512_fmadd_ps(qj, kv[i], acc[i * G + j]);
        }
    }
    for (int i = 0; i < P; i++)
        for (int j = 0; j < G; j++) s[j * n + i] = _mm512_reduce_add_ps(acc[i * G + j]);
}

/// s[0..<n] = exp(s - max s); returns 1 / their sum.
TARGET static float softmax_256(float *s, int64_t n) {
    __m512 maxv = _mm512_set1_ps(-INFINITY);
    int64_t p = 0;
    for (; p + 16 <= n; p += 16) maxv = _mm512_max_ps(maxv, _mm512_loadu_ps(s + p));
    if (p < n) {
        const __mmask16 mask = (__mmask16)((1u << (n - p)) - 1);
        maxv = _mm512_mask_max_ps(maxv, mask, maxv, _mm512_maskz_loadu_ps(mask, s + p));
    }
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(maxv));
    __m512 sum = _mm512_setzero_ps();
    for (p = 0; p + 16 <= n; p += 16) {
        const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + p), m));
        _mm512_storeu_ps(s + p, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (p < n) {
        const __mmask16 mask = (__mmask16)((1u << (n - p)) - 1);
        const __m512 e = _mm512_maskz_mov_ps(mask, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + p), m)));
        _mm512_mask_storeu_ps(s + p, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(sum);
}

/// Positions per tile of the hd 256 value pass: 32 rows of 1 KB stay in L1 while the column chunks pass over them.
#define TILE_256 32

/// Attention of G query heads (hd 256) sharing one KV head over positions lo..<span. A head is 16 registers, so
/// the group's queries and outputs (16 G each) cannot all stay in the 32: the queries stay in memory (L1, G KB) and
/// registers hold accumulators instead. Scores: each key row is read once for all G heads, P rows at a time
/// (P * G <= 8 accumulators in flight). Values: each head's output in column chunks of C registers (G * C <= 16),
/// tile by tile of positions, accumulated in `out`.
TARGET INLINE void attend_256(const float *q, int64_t lo, int64_t span, const void *k, const void *v, const int H,
                              const int32_t *blocks, int64_t block_tokens, int64_t kv_width, const int G, float scale,
                              float *out, float *scores) {
    const int P = G <= 2 ? 4 : G <= 4 ? 2 : 1;
    const int C = G == 1 ? 16 : G == 2 ? 8 : G <= 4 ? 4 : 2;
    const int64_t n = span - lo;
    float qs[8 * 256] __attribute__((aligned(64)));
    const __m512 sv = _mm512_set1_ps(scale);
    for (int x = 0; x < G * 256; x += 16) _mm512_store_ps(qs + x, _mm512_mul_ps(_mm512_loadu_ps(q + x), sv));
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
        for (int c0 = 0; c0 < 16; c0 += C) {
            __m512 o[16];
            for (int j = 0; j < G; j++)
                for (int c = 0; c < C; c++)
                    o[j * C + c] = t0 == lo ? _mm512_setzero_ps() : _mm512_loadu_ps(out + j * 256 + 16 * (c0 + c));
            for (int64_t p0 = t0, run; p0 < t1; p0 += run) {
                const int64_t vb = tk_kv_run(blocks, block_tokens, p0, t1, &run) * kv_width + 16 * c0;
                const float *sb = scores + (p0 - lo);
                for (int64_t i = 0; i < run; i++) {
                    __m512 vv[16];
                    for (int c = 0; c < C; c++) vv[c] = kv16(v, vb + i * kv_width + 16 * c, H);
                    for (int j = 0; j < G; j++) {
                        const __m512 w = _mm512_set1_ps(sb[j * n + i]);
                        for (int c = 0; c < C; c++) o[j * C + c] = _mm512_fmadd_ps(w, vv[c], o[j * C + c]);
                    }
                }
            }
            for (int j = 0; j < G; j++)
                for (int c = 0; c < C; c++) {
                    __m512 r = t1 == span ? _mm512_mul_ps(o[j * C + c], _mm512_set1_ps(inv[j])) : o[j * C + c];
                    _mm512_storeu_ps(out + j * 256 + 16 * (c0 + c), r);
                }
        }
    }
}

/// tk_attention_avx512 for a cache of fp16 (H) or fp32 values.
TARGET INLINE void attention(const float *q, int64_t start, const void *keys, const void *values, const int H,
                             const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd, float scale,
                             int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out, float *scores) {
    const int group = heads / kv_heads;
    const int64_t q_width = (int64_t)heads * hd, kv_width = (int64_t)kv_heads * hd;
    for (int64_t item = i0; item < i1; item += stride) {
        int64_t r = item / kv_heads;
        int g = (int)(item % kv_heads);
        const float *qg = q + r * q_width + (int64_t)g * group * hd;
        const void *kg = tk_kv_at(keys, (int64_t)g * hd, H), *vg = tk_kv_at(values, (int64_t)g * hd, H);
        float *og = out + r * q_width + (int64_t)g * group * hd;
        const int64_t span = start + r + 1, lo = tk_window_first(span, window);
        if (hd == 256) {
            // Sub-groups of at most 8 heads (Gemma 3 has 2 to 8 query heads per KV head).
            for (int h = 0; h < group; h += 8) {
                const int n = group - h < 8 ? group - h : 8;
                const float *qh = qg + (int64_t)h * hd;
                float *oh = og + (int64_t)h * hd;
#define A(G) case G: attend_256(qh, lo, span, kg, vg, H, blocks, block_tokens, kv_width, G, scale, oh, scores); break;
                switch (n) { A(1) A(2) A(3) A(4) A(5) A(6) A(7) A(8) }
#undef A
            }
            continue;
        }
        // Compile-time shapes keep the per-head vectors in registers.
#define A(G, NV) case (G * 16 + NV): attend_group(qg, lo, span, kg, vg, H, blocks, block_tokens, kv_width, G, NV, scale, og, scores); break;
        switch (group * 16 + hd / 16) {
            A(1, 4) A(2, 4) A(3, 4) A(4, 4) A(5, 4) A(6, 4) A(7, 4) A(8, 4)
            A(1, 8) A(2, 8) A(3, 8) A(4, 8) A(5, 8) A(6, 8) A(7, 8) A(8, 8)
        }
#undef A
    }
}

TARGET void tk_attention_avx512(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
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
