// The int8 kernels with AVX2 (vpmaddubsw: 32 byte products per instruction, summed in pairs to int16, then vpmaddwd
// to int32), for x86-64 machines without AVX-512 VNNI. Twins of tk_int8_generic.c, bit for bit.
//
// vpmaddubsw multiplies unsigned bytes by signed ones and saturates its int16 pair sums, so every sum kept in int16
// is bounded here: activations are in [-128, 127]; 4-bit weights (pair <= 3840) sum 8 groups of 4 columns in int16
// before widening, 5-bit ones (pair <= 7936) 4 groups. Signed weights (S8) are widened to int16 instead and meet the
// activations as int16 too (256*q + q2, or q), through vpmaddwd: one product pass serves both halves of int16
// activations, exactly.
#include "tk_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "tk_avx2_reduce.h"

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

enum { KIND_U4, KIND_U5, KIND_S8 };

/// 32 int32 values (4 registers, in order) saturated to int8, in order.
TARGET INLINE __m256i pack_epi8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    // The packs interleave 128-bit lanes: dwords come out as a0 b0 c0 d0 a1 b1 c1 d1 (4 values each).
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

TARGET INLINE int sum_epi8(__m256i v) {
    __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), v);
    return tk_hsum8_epi32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

TARGET void tk_quantize_rows_avx2(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2,
                                  float *dx, float *sx) {
    const int64_t nb = k / TK_QK;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t t = 0; t < nt; t++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *v = x + t * ldx + b * TK_QK;
            const int64_t at = t * k + b * TK_QK;
            __m256 f[4], amax = _mm256_setzero_ps();
            for (int i = 0; i < 4; i++) {
                f[i] = _mm256_loadu_ps(v + 8 * i);
                amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, f[i]));
            }
            const float m = tk_hmax8(amax);
            const float id = m > 0 ? 127.0f / m : 0.0f, d = m / 127.0f;
            __m256i qi[4];
            for (int i = 0; i < 4; i++) qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(f[i], _mm256_set1_ps(id)));
            const __m256i packed = pack_epi8(qi[0], qi[1], qi[2], qi[3]);
            _mm256_storeu_si256((__m256i *)(q + at), packed);
            const int sum = sum_epi8(packed);
            if (q2) {
                // The residual at 1/256 of the step, with the generic twin's operations (a product, then a difference).
                __m256i ri[4];
                for (int i = 0; i < 4; i++) {
                    __m256 r = _mm256_sub_ps(f[i], _mm256_mul_ps(_mm256_cvtepi32_ps(qi[i]), _mm256_set1_ps(d)));
                    ri[i] = _mm256_cvtps_epi32(_mm256_mul_ps(r, _mm256_set1_ps(id * 256.0f)));
                }
                const __m256i packed2 = pack_epi8(ri[0], ri[1], ri[2], ri[3]);
                _mm256_storeu_si256((__m256i *)(q2 + at), packed2);
                dx[t * nb + b] = d / 256.0f;
                sx[t * nb + b] = dx[t * nb + b] * (float)(256 * sum + sum_epi8(packed2));
            } else {
                dx[t * nb + b] = d;
                sx[t * nb + b] = d * (float)sum;
            }
        }
    }
}

/// 0x10 in each byte whose bit g is set (U5's fifth bits of group g), else 0.
TARGET INLINE __m256i fifth_bits(__m256i bits, int g) {
    const __m256i f = _mm256_and_si256(bits, _mm256_set1_epi8((char)(1 << g)));
    return g < 4 ? _mm256_slli_epi16(f, 4 - g) : g > 4 ? _mm256_srli_epi16(f, g - 4) : f;
}

/// The bytes of group g (4 columns) of half h (8 rows: 32 bytes, 4 per row) of one U4 or U5 panel block.
TARGET INLINE __m256i group_bytes(const int KIND, const uint8_t *blk, int g, int h) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 128 + 64 * (g / 2) + 32 * h));
    v = _mm256_and_si256(g % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0F));
    if (KIND == KIND_U5) v = _mm256_or_si256(v, fifth_bits(_mm256_loadu_si256((const __m256i *)(blk + 384 + 32 * h)), g));
    return v;
}

/// One U4/U5 panel's halves h0..h0+NH-1 (8 rows each, one per lane) x NT tokens. Per block, the exact integer dot
/// product of each (row, token) (I = 256*I1 + I2 with the residual), then the twin's fmas.
TARGET INLINE void halves(const int KIND, const int DUAL, const uint8_t *panel, int64_t nb, const int8_t *q,
                          const int8_t *q2, int64_t k, const float *dx, const float *sx, float *y, int64_t ldy,
                          int h0, const int NH, const int NT) {
    const int64_t block_bytes = KIND == KIND_U4 ? 384 : 448;
    // Groups summed in int16 before widening (see the bounds at the top of the file).
    const int G = KIND == KIND_U4 ? 8 : 4;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[2][4];
    UNROLL for (int j = 0; j < NH; j++)
        UNROLL for (int t = 0; t < NT; t++) acc[j][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (NT == 1) {  // decode waits on memory: fetch ahead, as the VNNI kernels do
            const char *ahead = (const char *)(panel + (b + 4) * block_bytes);
            for (int l = 0; l < block_bytes; l += 64) _mm_prefetch(ahead + l, _MM_HINT_T0);
        }
        __m256i i1[2][4], i2[2][4], p1[2][4], p2[2][4];
        UNROLL for (int j = 0; j < NH; j++)
            UNROLL for (int t = 0; t < NT; t++) i1[j][t] = i2[j][t] = p1[j][t] = p2[j][t] = _mm256_setzero_si256();
        UNROLL for (int g = 0; g < 8; g++) {
            __m256i w[2];
            UNROLL for (int j = 0; j < NH; j++)
                w[j] = group_bytes(KIND, panel + b * block_bytes, g, h0 + j);
            UNROLL for (int t = 0; t < NT; t++) {
                const int64_t at = t * k + b * TK_QK + 4 * g;
                int32_t xa, xr = 0;
                memcpy(&xa, q + at, 4);
                if (DUAL) memcpy(&xr, q2 + at, 4);
                const __m256i xb = _mm256_set1_epi32(xa), rb = _mm256_set1_epi32(xr);
                UNROLL for (int j = 0; j < NH; j++) {
                    p1[j][t] = _mm256_add_epi16(p1[j][t], _mm256_maddubs_epi16(w[j], xb));
                    if (DUAL) p2[j][t] = _mm256_add_epi16(p2[j][t], _mm256_maddubs_epi16(w[j], rb));
                }
            }
            if ((g + 1) % G == 0) {
                UNROLL for (int j = 0; j < NH; j++)
                    UNROLL for (int t = 0; t < NT; t++) {
                        i1[j][t] = _mm256_add_epi32(i1[j][t], _mm256_madd_epi16(p1[j][t], ones));
                        p1[j][t] = _mm256_setzero_si256();
                        if (DUAL) {
                            i2[j][t] = _mm256_add_epi32(i2[j][t], _mm256_madd_epi16(p2[j][t], ones));
                            p2[j][t] = _mm256_setzero_si256();
                        }
                    }
            }
        }
        UNROLL for (int j = 0; j < NH; j++) {
            const uint8_t *blk = panel + b * block_bytes;
            const __m256 d = _mm256_loadu_ps((const float *)(blk + 32 * (h0 + j)));
            const __m256 m = _mm256_loadu_ps((const float *)(blk + 64 + 32 * (h0 + j)));
            UNROLL for (int t = 0; t < NT; t++) {
                const __m256i sum = DUAL ? _mm256_add_epi32(_mm256_slli_epi32(i1[j][t], 8), i2[j][t]) : i1[j][t];
                acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(dx[t * nb + b])), acc[j][t]);
                acc[j][t] = _mm256_fmadd_ps(m, _mm256_set1_ps(sx[t * nb + b]), acc[j][t]);
            }
        }
    }
    UNROLL for (int j = 0; j < NH; j++)
        UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy + 8 * (h0 + j), acc[j][t]);
}

/// S8 panels: rows of signed bytes widened to int16 (4 rows of 4 columns per register), activations as int16
/// (256*q + q2, exact: |products| < 2^22) broadcast 4 columns at a time, vpmaddwd into pairs of int32 per row that
/// one horizontal add and a permutation bring into row order at the end of each 16-column half. NT tokens of one
/// panel (two halves of 8 rows).
TARGET INLINE void halves_s8(const uint8_t *panel, int64_t nb, const int16_t *x16, int64_t k, const float *dx,
                             float *y, int64_t ldy, const int NT) {
    __m256 acc[2][2];
    UNROLL for (int j = 0; j < 2; j++)
        UNROLL for (int t = 0; t < NT; t++) acc[j][t] = _mm256_setzero_ps();
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = panel + b * 640;
        if (NT == 1) for (int l = 0; l < 640; l += 64) _mm_prefetch((const char *)(blk + 4 * 640 + l), _MM_HINT_T0);
        UNROLL for (int part = 0; part < 2; part++) {
            __m256i lo[2][2], hi[2][2];  // rows 0-3 and 4-7 of each half, two int32 per row
            UNROLL for (int j = 0; j < 2; j++)
                UNROLL for (int t = 0; t < NT; t++) lo[j][t] = hi[j][t] = _mm256_setzero_si256();
            UNROLL for (int g = 4 * part; g < 4 * part + 4; g++) {
                UNROLL for (int j = 0; j < 2; j++) {
                    const uint8_t *w = blk + 128 + 64 * g + 32 * j;
                    const __m256i wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w));
                    const __m256i wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 16)));
                    UNROLL for (int t = 0; t < NT; t++) {
                        int64_t x4;
                        memcpy(&x4, x16 + t * k + b * TK_QK + 4 * g, 8);
                        const __m256i xb = _mm256_set1_epi64x(x4);
                        lo[j][t] = _mm256_add_epi32(lo[j][t], _mm256_madd_epi16(wl, xb));
                        hi[j][t] = _mm256_add_epi32(hi[j][t], _mm256_madd_epi16(wh, xb));
                    }
                }
            }
            UNROLL for (int j = 0; j < 2; j++) {
                const __m256 scale = _mm256_loadu_ps((const float *)(blk + 64 * part + 32 * j));
                UNROLL for (int t = 0; t < NT; t++) {
                    const __m256i sum = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(lo[j][t], hi[j][t]), order);
                    acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(scale, _mm256_set1_ps(dx[t * nb + b])),
                                                acc[j][t]);
                }
            }
        }
    }
    UNROLL for (int j = 0; j < 2; j++)
        UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy + 8 * j, acc[j][t]);
}

/// The int16 activations of S8's kernel for tokens [t0, t0+n): a buffer per thread, grown as needed and kept.
TARGET static int16_t *widened_activations(const int8_t *q, const int8_t *q2, int64_t k, int64_t n) {
    static _Thread_local int16_t *buffer;
    static _Thread_local int64_t capacity;
    if (n * k > capacity) {
        int16_t *grown = (int16_t *)realloc(buffer, (size_t)(n * k) * sizeof(int16_t));
        if (!grown) return NULL;
        buffer = grown;
        capacity = n * k;
    }
    int64_t i = 0;  // k is a multiple of 32
    for (; i + 16 <= n * k; i += 16) {
        __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + i)));
        if (q2) v = _mm256_add_epi16(_mm256_slli_epi16(v, 8), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q2 + i))));
        _mm256_storeu_si256((__m256i *)(buffer + i), v);
    }
    for (; i < n * k; i++) buffer[i] = (int16_t)(q2 ? 256 * q[i] + q2[i] : q[i]);
    return buffer;
}

TARGET static void halves_any(int kind, const uint8_t *panel, int64_t nb, const int8_t *q, const int8_t *q2,
                              int64_t k, const float *dx, const float *sx, float *y, int64_t ldy, int h0, int nh,
                              int nt) {
#define C(K, D, NH, NT) case (K * 512 + D * 256 + NH * 16 + NT): \
    halves(K, D, panel, nb, q, q2, k, dx, sx, y, ldy, h0, NH, NT); return;
#define SHAPES(K, D) C(K, D, 2, 1) C(K, D, 1, 1) C(K, D, 1, 2) C(K, D, 1, 3) C(K, D, 1, 4)
    switch (kind * 512 + (q2 != 0) * 256 + nh * 16 + nt) {
        SHAPES(KIND_U4, 0) SHAPES(KIND_U5, 0) SHAPES(KIND_U4, 1) SHAPES(KIND_U5, 1)
    }
#undef SHAPES
#undef C
}

TARGET void tk_matmul_q8_rows_avx2(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                                   const int8_t *q2, const float *dx, const float *sx, int64_t nt, float *y,
                                   int64_t ldy) {
    if (type == TK_U8_X16) {  // VNNI's layout: its 8-bit unsigned bytes would saturate vpmaddubsw
        tk_matmul_q8_rows_generic(type, w, k, r0, r1, q, q2, dx, sx, nt, y, ldy);
        return;
    }
    const int kind = type == TK_U4_X16 ? KIND_U4 : type == TK_U5_X16 ? KIND_U5 : KIND_S8;
    const int64_t nb = k / TK_QK, panel_bytes = nb * tk_block_bytes(type) * TK_PANEL;
    const uint8_t *base = (const uint8_t *)w;
    if (kind == KIND_S8) {
        // Tokens in slices of 64, so the widened activations stay a bounded buffer (and in L2).
        for (int64_t t0 = 0; t0 < nt; t0 += 64) {
            const int64_t n = nt - t0 < 64 ? nt - t0 : 64;
            const int16_t *x16 = widened_activations(q + t0 * k, q2 ? q2 + t0 * k : NULL, k, n);
            if (!x16) {  // out of memory for 64 rows of activations: the twin needs none
                tk_matmul_q8_rows_generic(type, w, k, r0, r1, q + t0 * k, q2 ? q2 + t0 * k : NULL, dx + t0 * nb,
                                          sx + t0 * nb, n, y + t0 * ldy, ldy);
                continue;
            }
            for (int64_t r = r0; r < r1; r += TK_PANEL) {
                const uint8_t *panel = base + (r / TK_PANEL) * panel_bytes;
                for (int64_t t = 0; t < n; t += 2) {
                    float *out = y + (t0 + t) * ldy + r;
                    if (n - t >= 2) halves_s8(panel, nb, x16 + t * k, k, dx + (t0 + t) * nb, out, ldy, 2);
                    else halves_s8(panel, nb, x16 + t * k, k, dx + (t0 + t) * nb, out, ldy, 1);
                }
            }
        }
        return;
    }
    // Decode: one token by both halves of a panel. Batches: up to 4 tokens by one half, the panel's blocks staying in
    // L1 across token groups. Two halves by two tokens share each broadcast, but spill the 16 registers (measured at
    // 32 tokens: 4 x 1 half makes 20% more products per second; 5 or more tokens spill again).
    for (int64_t r = r0; r < r1; r += TK_PANEL) {
        const uint8_t *panel = base + (r / TK_PANEL) * panel_bytes;
        if (nt == 1) {
            halves_any(kind, panel, nb, q, q2, k, dx, sx, y + r, ldy, 0, 2, 1);
            continue;
        }
        for (int h = 0; h < 2; h++)
            for (int64_t t = 0; t < nt;) {
                const int n = nt - t >= 4 ? 4 : (int)(nt - t);
                halves_any(kind, panel, nb, q + t * k, q2 ? q2 + t * k : 0, k, dx + t * nb, sx + t * nb,
                           y + t * ldy + r, ldy, h, 1, n);
                t += n;
            }
    }
}
#endif
