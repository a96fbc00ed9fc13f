// The int8 kernels with AVX-512 VNNI (vpdpbusd: 64 byte products per instruction, 4x the multiply-adds of an fp32
// fma). Twins of tk_int8_generic.c; compiled through target attributes, run only where tk_cpu_has_vnni() said so.
#include "tk_kernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#define INLINE static inline __attribute__((always_inline))
/// Register-blocked loops must be unrolled fully, or their accumulators live in memory.
#define UNROLL _Pragma("clang loop unroll(full)")

TARGET void tk_quantize_rows_avx512(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2,
                                    float *dx, float *sx) {
    const int64_t nb = k / TK_QK;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t t = 0; t < nt; t++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *v = x + t * ldx + b * TK_QK;
            const int64_t at = t * k + b * TK_QK;
            __m512 lo = _mm512_loadu_ps(v), hi = _mm512_loadu_ps(v + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, lo), _mm512_andnot_ps(sign, hi)));
            const float id = amax > 0 ? 127.0f / amax : 0.0f, d = amax / 127.0f;
            __m512i ql = _mm512_cvtps_epi32(_mm512_mul_ps(lo, _mm512_set1_ps(id)));
            __m512i qh = _mm512_cvtps_epi32(_mm512_mul_ps(hi, _mm512_set1_ps(id)));
            _mm_storeu_si128((__m128i *)(q + at), _mm512_cvtsepi32_epi8(ql));
            _mm_storeu_si128((__m128i *)(q + at + 16), _mm512_cvtsepi32_epi8(qh));
            int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(ql, qh));
            if (q2) {
                // The residual at 1/256 of the step: x = d*q + d/256*q2 to within d/512.
                __m512 rl = _mm512_sub_ps(lo, _mm512_mul_ps(_mm512_cvtepi32_ps(ql), _mm512_set1_ps(d)));
                __m512 rh = _mm512_sub_ps(hi, _mm512_mul_ps(_mm512_cvtepi32_ps(qh), _mm512_set1_ps(d)));
                __m512i rql = _mm512_cvtps_epi32(_mm512_mul_ps(rl, _mm512_set1_ps(id * 256.0f)));
                __m512i rqh = _mm512_cvtps_epi32(_mm512_mul_ps(rh, _mm512_set1_ps(id * 256.0f)));
                __m128i bl = _mm512_cvtsepi32_epi8(rql), bh = _mm512_cvtsepi32_epi8(rqh);
                _mm_storeu_si128((__m128i *)(q2 + at), bl);
                _mm_storeu_si128((__m128i *)(q2 + at + 16), bh);
                int sum2 = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(bl), _mm512_cvtepi8_epi32(bh)));
                dx[t * nb + b] = d / 256.0f;
                sx[t * nb + b] = dx[t * nb + b] * (float)(256 * sum + sum2);
            } else {
                dx[t * nb + b] = d;
                sx[t * nb + b] = d * (float)sum;
            }
        }
    }
}

enum { KIND_U4, KIND_U5, KIND_U8, KIND_S8 };

/// Group pair g, g+1's weight bytes of one panel block (64 each: 16 rows x 4 columns).
TARGET INLINE void pair_bytes(const int KIND, const uint8_t *blk, int g, __m512i *wa, __m512i *wb) {
    if (KIND == KIND_U8 || KIND == KIND_S8) {
        *wa = _mm512_loadu_si512(blk + 128 + 64 * g);
        *wb = _mm512_loadu_si512(blk + 192 + 64 * g);
        return;
    }
    __m512i v = _mm512_loadu_si512(blk + 128 + 32 * g);
    *wa = _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
    *wb = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F));
    if (KIND == KIND_U5) {  // bit g of byte i is the fifth bit of group g's byte i
        const __m512i bits = _mm512_loadu_si512(blk + 384);
        const __mmask64 ha = _mm512_test_epi8_mask(bits, _mm512_set1_epi8((char)(1 << g)));
        const __mmask64 hb = _mm512_test_epi8_mask(bits, _mm512_set1_epi8((char)(2 << g)));
        *wa = _mm512_mask_add_epi8(*wa, ha, *wa, _mm512_set1_epi8(0x10));
        *wb = _mm512_mask_add_epi8(*wb, hb, *wb, _mm512_set1_epi8(0x10));
    }
}

/// acc + w . x for 4-byte groups, w unsigned; for signed w (S8) as |x| . (w with x's sign), since vpdpbusd takes
/// one unsigned operand.
TARGET INLINE __m512i dot4(const int KIND, __m512i acc, __m512i w, int32_t x4) {
    const __m512i x = _mm512_set1_epi32(x4);
    if (KIND != KIND_S8) return _mm512_dpbusd_epi32(acc, w, x);
    const __m512i signed_w = _mm512_mask_sub_epi8(w, _mm512_movepi8_mask(x), _mm512_setzero_si512(), w);
    return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(x), signed_w);
}

/// NP panels (16 rows each, one row per lane) x NT tokens. Per block (per 16-column half for S8, whose halves have
/// their own scales), each (panel, token) gets its exact integer dot product from vpdpbusd (with a residual,
/// I = 256*I1 + I2), then the fmas of the generic twin.
TARGET INLINE void panels(const int KIND, const int DUAL, const uint8_t *panel, int64_t panel_bytes, int64_t nb,
                          const int8_t *q, const int8_t *q2, int64_t k, const float *dx, const float *sx, float *y,
                          int64_t ldy, const int NP, const int NT) {
    const int64_t block_bytes = KIND == KIND_U4 ? 384 : KIND == KIND_U5 ? 448 : 640;
    const int parts = KIND == KIND_S8 ? 2 : 1;
    __m512 acc[8][8];
    UNROLL for (int p = 0; p < NP; p++)
        UNROLL for (int t = 0; t < NT; t++) acc[p][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (NT <= 2) {  // decode waits on memory: fetch 4 blocks ahead (measured +15% tokens/s over none; 2 and 8 alike)
            UNROLL for (int p = 0; p < NP; p++) {
                const char *ahead = (const char *)(panel + p * panel_bytes + (b + 4) * block_bytes);
                for (int l = 0; l < block_bytes; l += 64) _mm_prefetch(ahead + l, _MM_HINT_T0);
            }
        }
        UNROLL for (int part = 0; part < parts; part++) {
            __m512i i1[8][8], i2[8][8];
            UNROLL for (int p = 0; p < NP; p++)
                UNROLL for (int t = 0; t < NT; t++) i1[p][t] = i2[p][t] = _mm512_setzero_si512();
            UNROLL for (int g = part * 4; g < (parts == 2 ? part * 4 + 4 : 8); g += 2) {
                UNROLL for (int p = 0; p < NP; p++) {
                    __m512i wa, wb;
                    pair_bytes(KIND, panel + p * panel_bytes + b * block_bytes, g, &wa, &wb);
                    UNROLL for (int t = 0; t < NT; t++) {
                        const int64_t at = t * k + b * TK_QK + 4 * g;
                        int32_t xa, xb;
                        memcpy(&xa, q + at, 4);
                        memcpy(&xb, q + at + 4, 4);
                        if (DUAL) {
                            i1[p][t] = dot4(KIND, dot4(KIND, i1[p][t], wa, xa), wb, xb);
                            memcpy(&xa, q2 + at, 4);
                            memcpy(&xb, q2 + at + 4, 4);
                            i2[p][t] = dot4(KIND, dot4(KIND, i2[p][t], wa, xa), wb, xb);
                        } else {
                            i1[p][t] = dot4(KIND, i1[p][t], wa, xa);
                            i2[p][t] = dot4(KIND, i2[p][t], wb, xb);
                        }
                    }
                }
            }
            UNROLL for (int p = 0; p < NP; p++) {
                const uint8_t *blk = panel + p * panel_bytes + b * block_bytes;
                __m512 d = _mm512_loadu_ps((const float *)blk), m = _mm512_loadu_ps((const float *)(blk + 64));
                UNROLL for (int t = 0; t < NT; t++) {
                    __m512i sum = DUAL ? _mm512_add_epi32(_mm512_slli_epi32(i1[p][t], 8), i2[p][t])
                                       : _mm512_add_epi32(i1[p][t], i2[p][t]);
                    const __m512 step = _mm512_set1_ps(dx[t * nb + b]);
                    if (KIND == KIND_S8) {
                        acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(part ? m : d, step), acc[p][t]);
                    } else {
                        acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, step), acc[p][t]);
                        acc[p][t] = _mm512_fmadd_ps(m, _mm512_set1_ps(sx[t * nb + b]), acc[p][t]);
                    }
                }
            }
        }
    }
    UNROLL for (int p = 0; p < NP; p++)
        UNROLL for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ldy + 16 * p, acc[p][t]);
}

TARGET static void panels_any(int kind, const uint8_t *panel, int64_t panel_bytes, int64_t nb, const int8_t *q,
                              const int8_t *q2, int64_t k, const float *dx, const float *sx, float *y, int64_t ldy,
                              int np, int nt) {
#define C(K, D, NP, NT) case (K * 512 + D * 256 + NP * 16 + NT): \
    panels(K, D, panel, panel_bytes, nb, q, q2, k, dx, sx, y, ldy, NP, NT); return;
#define SHAPES(K, D) C(K, D, 4, 1) C(K, D, 2, 1) C(K, D, 1, 1) C(K, D, 2, 2) C(K, D, 1, 2) C(K, D, 2, 3) \
    C(K, D, 1, 3) C(K, D, 2, 4) C(K, D, 1, 4)
    switch (kind * 512 + (q2 != 0) * 256 + np * 16 + nt) {
        SHAPES(KIND_U4, 0) SHAPES(KIND_U5, 0) SHAPES(KIND_U8, 0) SHAPES(KIND_S8, 0)
        SHAPES(KIND_U4, 1) SHAPES(KIND_U5, 1) SHAPES(KIND_U8, 1) SHAPES(KIND_S8, 1)
    }
#undef SHAPES
#undef C
}

TARGET void tk_matmul_q8_rows_avx512(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                                     const int8_t *q2, const float *dx, const float *sx, int64_t nt, float *y,
                                     int64_t ldy) {
    // One token is a stream from memory, where AVX2's kernel keeps up better (its unpacking issues in parallel with
    // the loads; measured 40 against 25-30 GB/s here); the layouts are shared but for U8, and results are bitwise
    // the same either way.
    if (nt == 1 && type != TK_U8_X16) {
        tk_matmul_q8_rows_avx2(type, w, k, r0, r1, q, q2, dx, sx, nt, y, ldy);
        return;
    }
    const int kind = type == TK_U4_X16 ? KIND_U4 : type == TK_U5_X16 ? KIND_U5 : type == TK_U8_X16 ? KIND_U8 : KIND_S8;
    const int64_t nb = k / TK_QK, panel_bytes = nb * tk_block_bytes(type) * TK_PANEL;
    const uint8_t *base = (const uint8_t *)w;
    // A token's broadcast activations feed every panel of the call, and a panel's unpacked weights every token:
    // vpdpbusd with a broadcast operand issues at half rate here, so each broadcast must serve several panels.
    // Batches: 2 panels x up to 4 tokens, the panels' blocks staying in L1 across token groups. One token (U8 only:
    // the other types take AVX2's kernel above) waits on memory, not on products: one panel at a time is one
    // sequential stream, which the prefetchers follow better than four (measured on Gemma 3 270M's 262k-row Q8_0
    // head: decode 82-87 tok/s against 75-77 with four panels; SmolLM2 +1-12%).
    const int most_panels = nt == 1 ? 1 : 2;
    for (int64_t r = r0; r < r1;) {
        int np = (int)((r1 - r) / TK_PANEL);
        np = np >= most_panels ? most_panels : np >= 2 ? 2 : 1;
        const uint8_t *panel = base + (r / TK_PANEL) * panel_bytes;
        for (int64_t t = 0; t < nt;) {
            int n = nt - t < 4 ? (int)(nt - t) : 4;
            panels_any(kind, panel, panel_bytes, nb, q + t * k, q2 ? q2 + t * k : 0, k, dx + t * nb, sx + t * nb,
                       y + t * ldy + r, ldy, np, n);
            t += n;
        }
        r += TK_PANEL * np;
    }
}
#endif
