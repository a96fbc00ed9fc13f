// Portable reference kernels: simple loops that any C compiler gets right. SIMD variants are tested against these.
#include "tk_kernels.h"
#include <math.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void dequant_q4_0(const uint8_t *b, float *y) {
    float d = tk_fp16_to_fp32(rd16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = ((int)(qs[j] & 0xF) - 8) * d;
        y[j + 16] = ((int)(qs[j] >> 4) - 8) * d;
    }
}

static void dequant_q4_1(const uint8_t *b, float *y) {
    float d = tk_fp16_to_fp32(rd16(b));
    float m = tk_fp16_to_fp32(rd16(b + 2));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (qs[j] & 0xF) * d + m;
        y[j + 16] = (qs[j] >> 4) * d + m;
    }
}

static void dequant_q4_1_f32s(const uint8_t *b, float *y) {
    float d, m;
    memcpy(&d, b, 4);
    memcpy(&m, b + 4, 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        y[j] = (qs[j] & 0xF) * d + m;
        y[j + 16] = (qs[j] >> 4) * d + m;
    }
}

static void dequant_q5(const uint8_t *b, float *y, int with_min) {
    float d = tk_fp16_to_fp32(rd16(b)), m = with_min ? tk_fp16_to_fp32(rd16(b + 2)) : 0;
    uint32_t qh;
    memcpy(&qh, b + (with_min ? 4 : 2), 4);
    const uint8_t *qs = b + (with_min ? 8 : 6);
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4), hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        if (with_min) {
            y[j] = lo * d + m;
            y[j + 16] = hi * d + m;
        } else {
            y[j] = (lo - 16) * d;
            y[j + 16] = (hi - 16) * d;
        }
    }
}

static void dequant_iq4_nl(const uint8_t *b, float *y) {
    float d = tk_fp16_to_fp32(rd16(b));
    for (int j = 0; j < 16; j++) {
        y[j] = d * tk_iq4nl_values[b[2 + j] & 0xF];
        y[j + 16] = d * tk_iq4nl_values[b[2 + j] >> 4];
    }
}

static void dequant_q8_0(const uint8_t *b, float *y) {
    float d = tk_fp16_to_fp32(rd16(b));
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = qs[j] * d;
}

/// Q4_K, and Q5_K when `qh` (its 32 bytes of fifth bits) is given.
static void dequant_k(const uint8_t *b, const uint8_t *qh, const uint8_t *q, float *y) {
    float d = tk_fp16_to_fp32(rd16(b));
    float dmin = tk_fp16_to_fp32(rd16(b + 2));
    const uint8_t *scales = b + 4;
    int is = 0;
    for (int j = 0; j < TK_QK_K; j += 64) {
        uint8_t sc, m;
        tk_k_scale_min(is, scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        tk_k_scale_min(is + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) y[l] = d1 * ((q[l] & 0xF) | (qh ? ((qh[l] >> is) & 1) << 4 : 0)) - m1;
        for (int l = 0; l < 32; l++) y[l + 32] = d2 * ((q[l] >> 4) | (qh ? ((qh[l] >> (is + 1)) & 1) << 4 : 0)) - m2;
        y += 64;
        q += 32;
        is += 2;
    }
}

static void dequant_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b;
    const uint8_t *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = tk_fp16_to_fp32(rd16(b + 208));
    for (int n = 0; n < TK_QK_K; n += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

void tk_dequantize_row_generic(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)src;
    switch (type) {
    case TK_F32: memcpy(dst, src, (size_t)n * 4); return;
    case TK_F16: for (int64_t i = 0; i < n; i++) dst[i] = tk_fp16_to_fp32(rd16(p + 2 * i)); return;
    case TK_BF16: for (int64_t i = 0; i < n; i++) dst[i] = tk_bf16_to_fp32(rd16(p + 2 * i)); return;
    default: break;
    }
    int bv = tk_block_values(type), bb = tk_block_bytes(type);
    if (bv == 0) return;
    for (int64_t i = 0; i < n / bv; i++, p += bb, dst += bv) {
        switch (type) {
        case TK_Q4_0: dequant_q4_0(p, dst); break;
        case TK_Q4_1: dequant_q4_1(p, dst); break;
        case TK_Q4_1_F32S: dequant_q4_1_f32s(p, dst); break;
        case TK_Q5_0: dequant_q5(p, dst, 0); break;
        case TK_Q5_1: dequant_q5(p, dst, 1); break;
        case TK_IQ4_NL: dequant_iq4_nl(p, dst); break;
        case TK_Q8_0: dequant_q8_0(p, dst); break;
        case TK_Q4_K: dequant_k(p, NULL, p + 16, dst); break;
        case TK_Q5_K: dequant_k(p, p + 16, p + 48, dst); break;
        case TK_Q6_K: dequant_q6_k(p, dst); break;
        }
    }
}

float tk_dot_f32_generic(const float *a, const float *b, int64_t n) {
    // Eight independent partial sums: the compiler can keep them in one vector register, and the
    // summation order is fixed, so results do not depend on how callers split their work.
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void tk_matmul_rows_generic(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                            const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch) {
    const uint8_t *base = (const uint8_t *)w;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * row_bytes;
        // Every activation row shares one dequantized weight row. The arithmetic is the same however many rows
        // there are, so a sequence gets identical logits alone or in a batch.
        tk_dequantize_row_generic(type, row, scratch, k);
        for (int64_t t = 0; t < nt; t++) y[t * ldy + r] = tk_dot_f32_generic(scratch, x + t * ldx, k);
    }
}

void tk_rmsnorm_generic(const float *x, const float *w, float *y, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
}
