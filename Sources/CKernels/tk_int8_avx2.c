// The int8 kernels with AVX2 (vpmaddubsw: 32 byte products per instruction, summed in pairs to int16, then vpmaddwd
// to int32), for x86-64 machines without AVX-512 VNNI. Twins of tk_int8_generic.c, bit for bit.
//
// vpmaddubsw multiplies unsigned bytes by signed ones and saturates its int16 pair sums, so every sum kept in int16
// is bounded here: activations are in [-128, 127]; 4-bit weights (pair <= 3840) sum 8 groups of 4 columns in int16
// before widening, 5-bit ones (pair <= 7936) 4 groups, Q6_K's 6-bit u = s + 32 (pair <= 16128) 2 groups. Signed
// 8-bit weights (Q8_0 below VNNI, IQ4_NL's table entries) are widened to int16 instead and meet the activations as
// int16 too (256*q + q2, or q), through vpmaddwd: one product pass serves both halves of int16 activations, exactly.
#include "tk_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "tk_avx2_reduce.h"

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")


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

/// The two bits at `shift` of each byte (Q6_K's top bits of one group), moved to bits 4-5.
TARGET INLINE __m256i top_bits(__m256i bits, int shift) {
    const __m256i v = shift < 4 ? _mm256_slli_epi16(bits, 4 - shift) : shift > 4 ? _mm256_srli_epi16(bits, shift - 4) : bits;
    return _mm256_and_si256(v, _mm256_set1_epi8(0x30));
}

/// The bytes of group g (4 columns) of half h (8 rows: 32 bytes, 4 per row) of one panel block whose values start at
/// `v`: unsigned u for the unsigned kinds but U8 (which vpmaddubsw would saturate) and for Q6_K (u = s + 32), signed
/// s for the other signed kinds.
TARGET INLINE __m256i group_bytes(const int KIND, const uint8_t *v, int g, int h) {
    if (KIND == TK_VALUES_S8) return _mm256_loadu_si256((const __m256i *)(v + 64 * g + 32 * h));
    __m256i w = _mm256_loadu_si256((const __m256i *)(v + 64 * (g / 2) + 32 * h));
    w = _mm256_and_si256(g % 2 ? _mm256_srli_epi16(w, 4) : w, _mm256_set1_epi8(0x0F));
    if (KIND == TK_VALUES_U5) w = _mm256_or_si256(w, fifth_bits(_mm256_loadu_si256((const __m256i *)(v + 256 + 32 * h)), g));
    if (KIND == TK_VALUES_S4)
        w = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tk_iq4nl_values)), w);
    if (KIND == TK_VALUES_S6) {
        const __m256i top = _mm256_loadu_si256((const __m256i *)(v + 256 + 64 * (g / 4) + 32 * h));
        w = _mm256_or_si256(w, top_bits(top, 2 * (g % 4)));
    }
    return w;
}

TARGET INLINE __m256 halves8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
TARGET INLINE __m256i bytes8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }

/// Rows 8h..8h+7's scales of block b (at `header`, in the unit at `unit`), as tk_panel_scales gives them: d and m
/// for unsigned kinds, the two halves' scales for signed ones; the same fp32 operations, so the same bits.
TARGET INLINE void block_scales(const int KIND, int scales, const uint8_t *unit, const uint8_t *header, int64_t b,
                                int h, __m256 *d, __m256 *m) {
    const int j = (int)(b % 8);
    switch (scales) {
    case TK_SCALES_D:
        *d = halves8(header + 16 * h);
        *m = tk_panel_is_signed(KIND) ? *d : _mm256_mul_ps(*d, _mm256_set1_ps(tk_panel_implied_min(KIND)));
        return;
    case TK_SCALES_DM:
        *d = halves8(header + 16 * h);
        *m = halves8(header + 32 + 16 * h);
        return;
    case TK_SCALES_K: {
        const uint8_t *q = unit + 64 + 8 * h;  // the 12 packed bytes, 16 rows each (tk_k_scale_min, a lane per row)
        const __m256i six = _mm256_set1_epi32(63), four = _mm256_set1_epi32(15);
        __m256i sc, mn;
        if (j < 4) {
            sc = _mm256_and_si256(bytes8(q + 16 * j), six);
            mn = _mm256_and_si256(bytes8(q + 16 * (j + 4)), six);
        } else {
            const __m256i low = bytes8(q + 16 * (j + 4));
            const __m256i top_sc = _mm256_srli_epi32(bytes8(q + 16 * (j - 4)), 6);
            const __m256i top_mn = _mm256_srli_epi32(bytes8(q + 16 * j), 6);
            sc = _mm256_or_si256(_mm256_and_si256(low, four), _mm256_slli_epi32(top_sc, 4));
            mn = _mm256_or_si256(_mm256_srli_epi32(low, 4), _mm256_slli_epi32(top_mn, 4));
        }
        *d = _mm256_mul_ps(halves8(unit + 16 * h), _mm256_cvtepi32_ps(sc));
        *m = _mm256_xor_ps(_mm256_mul_ps(halves8(unit + 32 + 16 * h), _mm256_cvtepi32_ps(mn)), _mm256_set1_ps(-0.0f));
        return;
    }
    default: {  // TK_SCALES_K6
        const __m256 dd = halves8(unit + 16 * h);
        const __m256i s0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(unit + 32 + 32 * j + 8 * h)));
        const __m256i s1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(unit + 48 + 32 * j + 8 * h)));
        *d = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(s0));
        *m = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(s1));
        return;
    }
    }
}

/// One U4/U5/Q6_K panel's halves h0..h0+NH-1 (8 rows each, one per lane) x NT tokens. Per block (per 16-column half
/// for Q6_K, whose halves have their own scales), the exact integer dot product of each (row, token) (I = 256*I1 + I2
/// with the residual; Q6_K's u = s + 32 corrected by 32 times the activations' sum, hs), then the twin's fmas.
TARGET INLINE void halves(const int KIND, const int SCALES, const int DUAL, const uint8_t *panel, const float *scales,
                          int64_t stride, int64_t nb, const int8_t *q, const int8_t *q2, int64_t k, const float *dx,
                          const float *sx, const int32_t *hs, float *y, int64_t ldy, int h0, const int NH, const int NT) {
    const tk_panel_layout l = tk_panel_layout_for(KIND, SCALES);
    // Groups summed in int16 before widening (see the bounds at the top of the file).
    const int G = KIND == TK_VALUES_U4 ? 8 : KIND == TK_VALUES_U5 ? 4 : 2;
    const int parts = KIND == TK_VALUES_S6 ? 2 : 1;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[2][4];
    UNROLL for (int j = 0; j < NH; j++)
        UNROLL for (int t = 0; t < NT; t++) acc[j][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int64_t unit_at = tk_panel_unit_offset(l, b), header_at = tk_panel_block_offset(l, b);
        const uint8_t *values = panel + header_at + l.header_bytes;
        if (NT == 1) {  // decode waits on memory: fetch ahead, as the VNNI kernels do
            const char *ahead = (const char *)(panel + header_at + 4 * stride);
            for (int64_t at = 0; at < stride; at += 64) _mm_prefetch(ahead + at, _MM_HINT_T0);
        }
        UNROLL for (int part = 0; part < parts; part++) {
            __m256i i1[2][4], i2[2][4], p1[2][4], p2[2][4];
            UNROLL for (int j = 0; j < NH; j++)
                UNROLL for (int t = 0; t < NT; t++) i1[j][t] = i2[j][t] = p1[j][t] = p2[j][t] = _mm256_setzero_si256();
            UNROLL for (int g = part * 8 / parts; g < (part + 1) * 8 / parts; g++) {
                __m256i w[2];
                UNROLL for (int j = 0; j < NH; j++) w[j] = group_bytes(KIND, values, g, h0 + j);
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
                __m256 d, m;  // here rather than before the products, where they would take 4 of the 16 registers
                if (scales) {
                    d = _mm256_loadu_ps(scales + 32 * b + 8 * (h0 + j));
                    m = _mm256_loadu_ps(scales + 32 * b + 16 + 8 * (h0 + j));
                } else {
                    block_scales(KIND, SCALES, panel + unit_at, panel + header_at, b, h0 + j, &d, &m);
                }
                UNROLL for (int t = 0; t < NT; t++) {
                    __m256i sum = DUAL ? _mm256_add_epi32(_mm256_slli_epi32(i1[j][t], 8), i2[j][t]) : i1[j][t];
                    const __m256 step = _mm256_set1_ps(dx[t * nb + b]);
                    if (parts == 2) {
                        sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(tk_panel_unsigned_offset(KIND) * hs[t * 2 * nb + 2 * b + part]));
                        acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(part ? m : d, step), acc[j][t]);
                    } else {
                        acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, step), acc[j][t]);
                        acc[j][t] = _mm256_fmadd_ps(m, _mm256_set1_ps(sx[t * nb + b]), acc[j][t]);
                    }
                }
            }
        }
    }
    UNROLL for (int j = 0; j < NH; j++)
        UNROLL for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy + 8 * (h0 + j), acc[j][t]);
}

/// Signed panels: rows of signed bytes (Q8_0's as stored; IQ4_NL's and Q6_K's from `unpacked`, in Q8_0's layout)
/// widened to int16 (4 rows of 4 columns per register), activations as int16
/// (256*q + q2, exact: |products| < 2^22) broadcast 4 columns at a time, vpmaddwd into pairs of int32 per row that
/// one horizontal add and a permutation bring into row order at the end of each 16-column half. NT tokens of one
/// panel (two halves of 8 rows).
TARGET INLINE void halves_signed(const int KIND, tk_panel_layout l, const uint8_t *panel, const uint8_t *unpacked,
                                 const float *scales, int64_t stride, int64_t nb, const int16_t *x16, int64_t k,
                                 const float *dx, float *y, int64_t ldy, const int NT) {
    __m256 acc[2][2];
    UNROLL for (int j = 0; j < 2; j++)
        UNROLL for (int t = 0; t < NT; t++) acc[j][t] = _mm256_setzero_ps();
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t unit_at = tk_panel_unit_offset(l, b), header_at = tk_panel_block_offset(l, b);
        const uint8_t *values = panel + header_at + l.header_bytes;
        if (NT == 1)
            for (int64_t at = 0; at < stride; at += 64)
                _mm_prefetch((const char *)(panel + header_at + 4 * stride + at), _MM_HINT_T0);
        UNROLL for (int part = 0; part < 2; part++) {
            __m256i lo[2][2], hi[2][2];  // rows 0-3 and 4-7 of each half, two int32 per row
            UNROLL for (int j = 0; j < 2; j++)
                UNROLL for (int t = 0; t < NT; t++) lo[j][t] = hi[j][t] = _mm256_setzero_si256();
            UNROLL for (int g = 4 * part; g < 4 * part + 4; g++) {
                UNROLL for (int j = 0; j < 2; j++) {
                    const __m256i w = KIND == TK_VALUES_S8
                        ? group_bytes(KIND, values, g, j)
                        : _mm256_loadu_si256((const __m256i *)(unpacked + 512 * b + 64 * g + 32 * j));
                    const __m256i wl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));
                    const __m256i wh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));
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
                __m256 scale;
                if (scales) {
                    scale = _mm256_loadu_ps(scales + 32 * b + 16 * part + 8 * j);
                } else {
                    __m256 d, m;
                    block_scales(KIND, l.scales, panel + unit_at, panel + header_at, b, j, &d, &m);
                    scale = part ? m : d;
                }
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

/// A buffer of the calling thread (a `_Thread_local` of the caller's), grown as needed and kept; NULL when out of
/// memory.
typedef struct {
    void *data;
    size_t capacity;
} thread_buffer;

static void *at_least(thread_buffer *b, size_t bytes) {
    if (bytes > b->capacity) {
        void *grown = realloc(b->data, bytes);
        if (!grown) return NULL;
        b->data = grown;
        b->capacity = bytes;
    }
    return b->data;
}

/// The int16 activations of the signed kinds' kernel for tokens [t0, t0+n), in a buffer of the thread.
TARGET static int16_t *widened_activations(const int8_t *q, const int8_t *q2, int64_t k, int64_t n) {
    static _Thread_local thread_buffer kept;
    int16_t *buffer = (int16_t *)at_least(&kept, (size_t)(n * k) * sizeof(int16_t));
    if (!buffer) return NULL;
    int64_t i = 0;  // k is a multiple of 32
    for (; i + 16 <= n * k; i += 16) {
        __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + i)));
        if (q2) v = _mm256_add_epi16(_mm256_slli_epi16(v, 8), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q2 + i))));
        _mm256_storeu_si256((__m256i *)(buffer + i), v);
    }
    for (; i < n * k; i++) buffer[i] = (int16_t)(q2 ? 256 * q[i] + q2[i] : q[i]);
    return buffer;
}

/// The 16 rows' d and m (fp32, as block_scales gives them) of every block of one panel, so that batches work them
/// out once per panel rather than once per half and group of tokens; NULL when out of memory.
TARGET static float *expanded_scales(tk_panel_layout l, const uint8_t *panel, int64_t nb) {
    static _Thread_local thread_buffer kept;
    float *buffer = (float *)at_least(&kept, (size_t)(32 * nb) * sizeof(float));
    if (!buffer) return NULL;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t unit_at = tk_panel_unit_offset(l, b), header_at = tk_panel_block_offset(l, b);
        for (int h = 0; h < 2; h++) {
            __m256 d, m;
            switch (l.values) {  // the kind matters only for the D form's m: implied, or d itself for signed kinds
            case TK_VALUES_U4: block_scales(TK_VALUES_U4, l.scales, panel + unit_at, panel + header_at, b, h, &d, &m); break;
            case TK_VALUES_U5: block_scales(TK_VALUES_U5, l.scales, panel + unit_at, panel + header_at, b, h, &d, &m); break;
            default: block_scales(TK_VALUES_S8, l.scales, panel + unit_at, panel + header_at, b, h, &d, &m); break;
            }
            _mm256_storeu_ps(buffer + 32 * b + 8 * h, d);
            _mm256_storeu_ps(buffer + 32 * b + 16 + 8 * h, m);
        }
    }
    return buffer;
}

/// IQ4_NL's or Q6_K's values of one panel as signed bytes in Q8_0's signed layout (512 per block), so that batches
/// unpack them once per panel and slice of tokens rather than once per pair of tokens; NULL when out of memory.
TARGET static uint8_t *unpacked_signed(const int KIND, tk_panel_layout l, const uint8_t *panel, int64_t nb) {
    static _Thread_local thread_buffer kept;
    uint8_t *buffer = (uint8_t *)at_least(&kept, (size_t)(512 * nb));
    if (!buffer) return NULL;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *values = panel + tk_panel_block_offset(l, b) + l.header_bytes;
        UNROLL for (int g = 0; g < 8; g++)
            UNROLL for (int h = 0; h < 2; h++) {
                __m256i w = group_bytes(KIND, values, g, h);
                if (KIND == TK_VALUES_S6)  // s = u - 32
                    w = _mm256_sub_epi8(w, _mm256_set1_epi8((char)tk_panel_unsigned_offset(KIND)));
                _mm256_storeu_si256((__m256i *)(buffer + 512 * b + 64 * g + 32 * h), w);
            }
    }
    return buffer;
}

TARGET static void halves_any(tk_panel_layout l, const uint8_t *panel, const float *scales, int64_t stride, int64_t nb,
                              const int8_t *q, const int8_t *q2, int64_t k, const float *dx, const float *sx,
                              const int32_t *hs, float *y, int64_t ldy, int h0, int nh, int nt) {
#define C(K, S, D, NH, NT) case ((K * 4 + S) * 512 + D * 256 + NH * 16 + NT): \
    halves(K, S, D, panel, scales, stride, nb, q, q2, k, dx, sx, hs, y, ldy, h0, NH, NT); return;
#define SHAPES(K, S, D) C(K, S, D, 2, 1) C(K, S, D, 1, 1) C(K, S, D, 1, 2) C(K, S, D, 1, 3) C(K, S, D, 1, 4)
#define FORMS(D) SHAPES(TK_VALUES_U4, TK_SCALES_D, D) SHAPES(TK_VALUES_U4, TK_SCALES_DM, D) \
    SHAPES(TK_VALUES_U4, TK_SCALES_K, D) SHAPES(TK_VALUES_U5, TK_SCALES_D, D) SHAPES(TK_VALUES_U5, TK_SCALES_DM, D) \
    SHAPES(TK_VALUES_U5, TK_SCALES_K, D) SHAPES(TK_VALUES_S6, TK_SCALES_K6, D)
    // The scales' form is a constant of each variant too: a switch per block costs registers the products need.
    switch ((l.values * 4 + l.scales) * 512 + (q2 != 0) * 256 + nh * 16 + nt) {
        FORMS(0) FORMS(1)
    }
#undef FORMS
#undef SHAPES
#undef C
}

TARGET static void signed_any(tk_panel_layout l, const uint8_t *panel, const uint8_t *unpacked, const float *scales,
                              int64_t stride, int64_t nb, const int16_t *x16, int64_t k, const float *dx, float *y,
                              int64_t ldy, int nt) {
#define C(K, NT) case (K * 16 + NT): \
    halves_signed(K, l, panel, unpacked, scales, stride, nb, x16, k, dx, y, ldy, NT); return;
    switch (l.values * 16 + nt) {
        C(TK_VALUES_S8, 1) C(TK_VALUES_S8, 2) C(TK_VALUES_S4, 1) C(TK_VALUES_S4, 2)
        C(TK_VALUES_S6, 1) C(TK_VALUES_S6, 2)
    }
#undef C
}

TARGET void tk_matmul_q8_rows_avx2(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                                   const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                                   float *y, int64_t ldy) {
    const tk_panel_layout l = tk_panel_layout_of(type);
    if (l.values == TK_VALUES_U8) {  // VNNI's layout: its 8-bit unsigned bytes would saturate vpmaddubsw
        tk_matmul_q8_rows_generic(type, w, k, r0, r1, q, q2, dx, sx, hs, nt, y, ldy);
        return;
    }
    const int64_t nb = k / TK_QK, panel_bytes = tk_panel_bytes(type, k), stride = panel_bytes / nb;
    const uint8_t *base = (const uint8_t *)w;
    // Q6_K's single tokens take the vpmaddubsw kernel below (its 6-bit values unsigned); its batches, the signed one.
    if (l.values == TK_VALUES_S8 || l.values == TK_VALUES_S4 || (l.values == TK_VALUES_S6 && nt > 1)) {
        // Tokens in slices of 64, so the widened activations stay a bounded buffer (and in L2).
        for (int64_t t0 = 0; t0 < nt; t0 += 64) {
            const int64_t n = nt - t0 < 64 ? nt - t0 : 64;
            const int16_t *x16 = widened_activations(q + t0 * k, q2 ? q2 + t0 * k : NULL, k, n);
            if (!x16) {  // out of memory for 64 rows of activations: the twin needs none
                tk_matmul_q8_rows_generic(type, w, k, r0, r1, q + t0 * k, q2 ? q2 + t0 * k : NULL, dx + t0 * nb,
                                          sx + t0 * nb, NULL, n, y + t0 * ldy, ldy);
                continue;
            }
            for (int64_t r = r0; r < r1; r += TK_PANEL) {
                const uint8_t *panel = base + (r / TK_PANEL) * panel_bytes;
                const uint8_t *unpacked = l.values == TK_VALUES_S4 ? unpacked_signed(TK_VALUES_S4, l, panel, nb)
                                        : l.values == TK_VALUES_S6 ? unpacked_signed(TK_VALUES_S6, l, panel, nb) : NULL;
                // One pair of tokens works its scales out as it goes; more take them from one pass per panel.
                const float *scales = n > 2 ? expanded_scales(l, panel, nb) : NULL;
                if ((l.values != TK_VALUES_S8 && !unpacked) || (n > 2 && !scales)) {  // out of memory: the twin needs none
                    tk_matmul_q8_rows_generic(type, w, k, r, r + TK_PANEL, q + t0 * k, q2 ? q2 + t0 * k : NULL,
                                              dx + t0 * nb, sx + t0 * nb, NULL, n, y + t0 * ldy, ldy);
                    continue;
                }
                for (int64_t t = 0; t < n; t += 2)
                    signed_any(l, panel, unpacked, scales, stride, nb, x16 + t * k, k, dx + (t0 + t) * nb,
                               y + (t0 + t) * ldy + r, ldy, n - t >= 2 ? 2 : 1);
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
            halves_any(l, panel, NULL, stride, nb, q, q2, k, dx, sx, hs, y + r, ldy, 0, 2, 1);
            continue;
        }
        const float *scales = nt > 4 ? expanded_scales(l, panel, nb) : NULL;
        for (int h = 0; h < 2; h++)
            for (int64_t t = 0; t < nt;) {
                const int n = nt - t >= 4 ? 4 : (int)(nt - t);
                halves_any(l, panel, scales, stride, nb, q + t * k, q2 ? q2 + t * k : 0, k, dx + t * nb, sx + t * nb,
                           hs ? hs + t * (k / 16) : NULL,
                           y + t * ldy + r, ldy, h, 1, n);
                t += n;
            }
    }
}
#endif
