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

/// The two bits at `shift` of each byte (Q6_K's top bits of one group), moved to bits 4-5.
TARGET INLINE __m512i top_bits(__m512i bits, int shift) {
    const __m512i v = shift < 4 ? _mm512_slli_epi16(bits, 4 - shift) : shift > 4 ? _mm512_srli_epi16(bits, shift - 4) : bits;
    return _mm512_and_si512(v, _mm512_set1_epi8(0x30));
}

/// Group pair g, g+1's weight bytes of one panel block whose values start at `v` (64 each: 16 rows x 4 columns):
/// unsigned u, signed s for Q8_0's signed kind, s + tk_panel_unsigned_offset for the other signed kinds.
TARGET INLINE void pair_bytes(const int KIND, const uint8_t *v, int g, __m512i *wa, __m512i *wb) {
    if (KIND == TK_VALUES_U8 || KIND == TK_VALUES_S8) {
        *wa = _mm512_loadu_si512(v + 64 * g);
        *wb = _mm512_loadu_si512(v + 64 * g + 64);
        return;
    }
    const __m512i n = _mm512_loadu_si512(v + 32 * g);
    *wa = _mm512_and_si512(n, _mm512_set1_epi8(0x0F));
    *wb = _mm512_and_si512(_mm512_srli_epi16(n, 4), _mm512_set1_epi8(0x0F));
    if (KIND == TK_VALUES_U5) {  // bit g of byte i is the fifth bit of group g's byte i
        const __m512i bits = _mm512_loadu_si512(v + 256);
        const __mmask64 ha = _mm512_test_epi8_mask(bits, _mm512_set1_epi8((char)(1 << g)));
        const __mmask64 hb = _mm512_test_epi8_mask(bits, _mm512_set1_epi8((char)(2 << g)));
        *wa = _mm512_mask_add_epi8(*wa, ha, *wa, _mm512_set1_epi8(0x10));
        *wb = _mm512_mask_add_epi8(*wb, hb, *wb, _mm512_set1_epi8(0x10));
    } else if (KIND == TK_VALUES_S4) {  // the table + 128 (x ^ 0x80: unsigned bytes), one copy per 128-bit lane
        const __m128i entries = _mm_loadu_si128((const __m128i *)tk_iq4nl_values);
        const __m512i table = _mm512_broadcast_i32x4(_mm_xor_si128(entries, _mm_set1_epi8((char)0x80)));
        *wa = _mm512_shuffle_epi8(table, *wa);
        *wb = _mm512_shuffle_epi8(table, *wb);
    } else if (KIND == TK_VALUES_S6) {  // groups g%4 and g%4 + 1 of the top bits' 64 bytes for g/4
        const __m512i bits = _mm512_loadu_si512(v + 256 + 64 * (g / 4));
        *wa = _mm512_or_si512(*wa, top_bits(bits, 2 * (g % 4)));
        *wb = _mm512_or_si512(*wb, top_bits(bits, 2 * (g % 4) + 2));
    }
}

/// acc + w . x for 4-byte groups, w unsigned; for Q8_0's signed w as |x| . (w with x's sign), since vpdpbusd takes
/// one unsigned operand.
TARGET INLINE __m512i dot4(const int KIND, __m512i acc, __m512i w, int32_t x4) {
    const __m512i x = _mm512_set1_epi32(x4);
    if (KIND != TK_VALUES_S8) return _mm512_dpbusd_epi32(acc, w, x);
    const __m512i signed_w = _mm512_mask_sub_epi8(w, _mm512_movepi8_mask(x), _mm512_setzero_si512(), w);
    return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(x), signed_w);
}

TARGET INLINE __m512 halves16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
TARGET INLINE __m512i bytes16(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }

/// The 16 rows' scales of block b (at `header`, in the unit at `unit`), as tk_panel_scales gives them: d and m for
/// unsigned kinds, the two halves' scales for signed ones; the same fp32 operations, so the same bits.
TARGET INLINE void block_scales(const int KIND, int scales, const uint8_t *unit, const uint8_t *header, int64_t b,
                                __m512 *d, __m512 *m) {
    const int j = (int)(b % 8);
    switch (scales) {
    case TK_SCALES_D:
        *d = halves16(header);
        *m = tk_panel_is_signed(KIND) ? *d : _mm512_mul_ps(*d, _mm512_set1_ps(tk_panel_implied_min(KIND)));
        return;
    case TK_SCALES_DM:
        *d = halves16(header);
        *m = halves16(header + 32);
        return;
    case TK_SCALES_K: {
        const uint8_t *q = unit + 64;  // the 12 packed bytes, 16 rows each (tk_k_scale_min, a lane per row)
        const __m512i six = _mm512_set1_epi32(63), four = _mm512_set1_epi32(15);
        __m512i sc, mn;
        if (j < 4) {
            sc = _mm512_and_si512(bytes16(q + 16 * j), six);
            mn = _mm512_and_si512(bytes16(q + 16 * (j + 4)), six);
        } else {
            const __m512i low = bytes16(q + 16 * (j + 4));
            const __m512i top_sc = _mm512_srli_epi32(bytes16(q + 16 * (j - 4)), 6);
            const __m512i top_mn = _mm512_srli_epi32(bytes16(q + 16 * j), 6);
            sc = _mm512_or_si512(_mm512_and_si512(low, four), _mm512_slli_epi32(top_sc, 4));
            mn = _mm512_or_si512(_mm512_srli_epi32(low, 4), _mm512_slli_epi32(top_mn, 4));
        }
        *d = _mm512_mul_ps(halves16(unit), _mm512_cvtepi32_ps(sc));
        *m = _mm512_xor_ps(_mm512_mul_ps(halves16(unit + 32), _mm512_cvtepi32_ps(mn)), _mm512_set1_ps(-0.0f));
        return;
    }
    default: {  // TK_SCALES_K6
        const __m512 dd = halves16(unit);
        const __m512i s0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(unit + 32 + 32 * j)));
        const __m512i s1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(unit + 48 + 32 * j)));
        *d = _mm512_mul_ps(dd, _mm512_cvtepi32_ps(s0));
        *m = _mm512_mul_ps(dd, _mm512_cvtepi32_ps(s1));
        return;
    }
    }
}

/// NP panels (16 rows each, one row per lane) x NT tokens. Per block (per 16-column half for the signed kinds, whose
/// halves have their own scales), each (panel, token) gets its exact integer dot product from vpdpbusd (with a
/// residual, I = 256*I1 + I2), then the fmas of the generic twin.
TARGET INLINE void panels(const int KIND, const int DUAL, tk_panel_layout l, const uint8_t *panel, int64_t panel_bytes,
                          int64_t stride, int64_t nb, const int8_t *q, const int8_t *q2, int64_t k, const float *dx,
                          const float *sx,
                          const int32_t *hs, float *y, int64_t ldy, const int NP, const int NT, const int FETCH) {
    const int parts = tk_panel_is_signed(KIND) ? 2 : 1;
    __m512 acc[8][8];
    UNROLL for (int p = 0; p < NP; p++)
        UNROLL for (int t = 0; t < NT; t++) acc[p][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int64_t unit_at = tk_panel_unit_offset(l, b), header_at = tk_panel_block_offset(l, b);
        // Decode waits on memory: fetch 4 blocks ahead (measured +15% tokens/s over none; 2 and 8 alike). So does a
        // batch's first group of 8 tokens, which streams the panel in; the others find it in L1, and the prefetches
        // would only cost (FETCH: measured on Gemma 3's 262k-row head at 32 tokens +11%, 512 tokens unchanged).
        if (NT <= 2 || FETCH) {
            UNROLL for (int p = 0; p < NP; p++) {
                const char *ahead = (const char *)(panel + p * panel_bytes + header_at + 4 * stride);
                for (int64_t at = 0; at < stride; at += 64) _mm_prefetch(ahead + at, _MM_HINT_T0);
            }
        }
        UNROLL for (int part = 0; part < parts; part++) {
            __m512i i1[8][8], i2[8][8];
            UNROLL for (int p = 0; p < NP; p++)
                UNROLL for (int t = 0; t < NT; t++) i1[p][t] = i2[p][t] = _mm512_setzero_si512();
            UNROLL for (int g = part * 4; g < (parts == 2 ? part * 4 + 4 : 8); g += 2) {
                UNROLL for (int p = 0; p < NP; p++) {
                    __m512i wa, wb;
                    pair_bytes(KIND, panel + p * panel_bytes + header_at + l.header_bytes, g, &wa, &wb);
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
                __m512 d, m;
                block_scales(KIND, l.scales, panel + p * panel_bytes + unit_at, panel + p * panel_bytes + header_at, b,
                             &d, &m);
                UNROLL for (int t = 0; t < NT; t++) {
                    __m512i sum = DUAL ? _mm512_add_epi32(_mm512_slli_epi32(i1[p][t], 8), i2[p][t])
                                       : _mm512_add_epi32(i1[p][t], i2[p][t]);
                    if (tk_panel_unsigned_offset(KIND))
                        sum = _mm512_sub_epi32(sum, _mm512_set1_epi32(tk_panel_unsigned_offset(KIND) * hs[t * 2 * nb + 2 * b + part]));
                    const __m512 step = _mm512_set1_ps(dx[t * nb + b]);
                    if (tk_panel_is_signed(KIND)) {
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

TARGET static void panels_any(tk_panel_layout l, const uint8_t *panel, int64_t panel_bytes, int64_t stride, int64_t nb,
                              const int8_t *q, const int8_t *q2, int64_t k, const float *dx, const float *sx,
                              const int32_t *hs, float *y, int64_t ldy, int np, int nt, int fetch) {
#define C(K, D, NP, NT, F) case (K * 1024 + D * 512 + F * 256 + NP * 16 + NT): \
    panels(K, D, l, panel, panel_bytes, stride, nb, q, q2, k, dx, sx, hs, y, ldy, NP, NT, F); return;
#define SHAPES(K, D) C(K, D, 2, 1, 0) C(K, D, 1, 1, 0) C(K, D, 2, 2, 0) C(K, D, 1, 2, 0) C(K, D, 2, 3, 0) \
    C(K, D, 1, 3, 0) C(K, D, 2, 4, 0) C(K, D, 1, 4, 0) C(K, D, 1, 5, 0) C(K, D, 1, 6, 0) C(K, D, 1, 7, 0) \
    C(K, D, 1, 8, 0) C(K, D, 1, 8, 1)
#define KINDS(D) SHAPES(TK_VALUES_U4, D) SHAPES(TK_VALUES_U5, D) SHAPES(TK_VALUES_U8, D) SHAPES(TK_VALUES_S8, D) \
    SHAPES(TK_VALUES_S4, D) SHAPES(TK_VALUES_S6, D)
    switch (l.values * 1024 + (q2 != 0) * 512 + (fetch && nt == 8) * 256 + np * 16 + nt) {
        KINDS(0) KINDS(1)
    }
#undef KINDS
#undef SHAPES
#undef C
}

TARGET void tk_matmul_q8_rows_avx512(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                                     const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                                     float *y, int64_t ldy) {
    const tk_panel_layout l = tk_panel_layout_of(type);
    // stride: bytes per block on average, the prefetch distance's unit.
    const int64_t nb = k / TK_QK, panel_bytes = tk_panel_bytes(type, k), stride = panel_bytes / nb;
    const uint8_t *base = (const uint8_t *)w;
    // A token's broadcast activations feed every panel of the call, and a panel's unpacked weights every token:
    // vpdpbusd with a broadcast operand issues at half rate here, so each broadcast must serve several panels.
    // Batches: 2 panels x up to 4 tokens, the panels' blocks staying in L1 across token groups. One token waits on
    // memory, not on products: one panel at a time is one sequential stream, which the prefetchers follow better
    // than two or four (measured on Gemma 3 270M's 262k-row Q8_0 head: decode 82-87 tok/s against 75-77 with four
    // panels; on a Llama 3.2 1B-shaped Q4_K_M file 34-36 against 30-31 with two or four). With panels the size of
    // the file, this kernel also beats AVX2's for one token (that 1B file: 33-35 tok/s against 31-33).
    // From 8 tokens on, one panel x 8 tokens: a panel's unpacked weights then serve twice the tokens, and the
    // broadcast activations are memory operands (measured on 640-column matrices, 32 and 512 tokens, against 2 x 4:
    // Q8_0 +12-15%, Q5_0 +4-6%, Q4_K +5-7%, Q6_K +25-60%).
    const int most_panels = nt == 1 || nt >= 8 ? 1 : 2, most_tokens = nt >= 8 ? 8 : 4;
    for (int64_t r = r0; r < r1;) {
        int np = (int)((r1 - r) / TK_PANEL);
        np = np >= most_panels ? most_panels : np >= 2 ? 2 : 1;
        const uint8_t *panel = base + (r / TK_PANEL) * panel_bytes;
        for (int64_t t = 0; t < nt;) {
            int n = nt - t < most_tokens ? (int)(nt - t) : most_tokens;
            panels_any(l, panel, panel_bytes, stride, nb, q + t * k, q2 ? q2 + t * k : 0, k, dx + t * nb, sx + t * nb,
                       hs ? hs + t * (k / 16) : NULL, y + t * ldy + r, ldy, np, n, t == 0);
            t += n;
        }
        r += TK_PANEL * np;
    }
}
#endif
