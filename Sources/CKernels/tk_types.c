#include "tk_types.h"
#include <string.h>

int tk_block_values(int type) {
    switch (type) {
    case TK_F32: case TK_F16: case TK_BF16: return 1;
    case TK_Q4_0: case TK_Q4_1: case TK_Q5_0: case TK_Q5_1: case TK_Q8_0: case TK_IQ4_NL: case TK_Q4_1_F32S:
    case TK_U4_X16: case TK_U5_X16: case TK_U8_X16: case TK_S8_X16: return TK_QK;
    case TK_Q4_K: case TK_Q5_K: case TK_Q6_K: return TK_QK_K;
    default: return 0;
    }
}

int tk_block_bytes(int type) {
    switch (type) {
    case TK_F32: return 4;
    case TK_F16: case TK_BF16: return 2;
    case TK_Q4_0: return 2 + 16;
    case TK_Q4_1: return 4 + 16;
    case TK_Q4_1_F32S: return 8 + 16;
    case TK_Q5_0: return 2 + 4 + 16;
    case TK_Q5_1: return 4 + 4 + 16;
    case TK_IQ4_NL: return 2 + 16;
    case TK_U4_X16: return 384 / TK_PANEL;
    case TK_U5_X16: return 448 / TK_PANEL;
    case TK_U8_X16: case TK_S8_X16: return 640 / TK_PANEL;
    case TK_Q8_0: return 2 + 32;
    case TK_Q4_K: return 4 + 12 + 128;
    case TK_Q5_K: return 4 + 12 + 32 + 128;
    case TK_Q6_K: return 128 + 64 + 16 + 2;
    default: return 0;
    }
}

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float tk_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        // Zero or subnormal: value = man * 2^-24.
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (man << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t tk_fp32_to_fp16(float f) {
    // Round to nearest even, with overflow to infinity and gradual underflow.
    uint32_t x = f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}

float tk_bf16_to_fp32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

const int8_t tk_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

int tk_repacked_type(int type, int64_t rows, int int8, int vnni) {
    if (int8 && rows % TK_PANEL == 0) {
        switch (type) {
        case TK_Q4_0: case TK_Q4_1: case TK_Q4_K: return TK_U4_X16;
        case TK_Q5_0: case TK_Q5_1: case TK_Q5_K: return TK_U5_X16;
        case TK_Q8_0: return vnni ? TK_U8_X16 : TK_S8_X16;
        case TK_IQ4_NL: case TK_Q6_K: return TK_S8_X16;
        default: break;
        }
    }
    return type == TK_Q4_1 && vnni ? TK_Q4_1_F32S : type;
}

int tk_is_panel_type(int type) {
    return type == TK_U4_X16 || type == TK_U5_X16 || type == TK_U8_X16 || type == TK_S8_X16;
}

static float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return tk_fp16_to_fp32(h);
}

static void nibbles(const uint8_t *qs, uint8_t u[32]) {
    for (int j = 0; j < 16; j++) {
        u[j] = qs[j] & 0xF;
        u[j + 16] = qs[j] >> 4;
    }
}

/// Adds Q5_0/Q5_1's fifth bits (bit j of the 32-bit field belongs to value j).
static void fifth_bits(const uint8_t *qh, uint8_t u[32]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    for (int j = 0; j < 32; j++) u[j] |= (uint8_t)(((h >> j) & 1) << 4);
}

void tk_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/// Block `b` (32 values) of one row of `type` at `row`, as the panels hold it: unsigned u with weight d * u + m, or,
/// for a signed target, s with weight d * s (columns 0-15) and m * s (16-31). Every product below is exact in fp32
/// (an fp16 times an integer of at most 8 bits), so the panel's weights are the stored ones, but for Q4_0/Q5_0/
/// Q8_0 (d * u - c*d is one rounding from d * (u - c)) and a Q8_0 value of -128, which becomes -127 in S8 (the
/// sign trick of the AVX2 kernels cannot negate it; llama.cpp's quantizer never writes it).
static void panel_block(int type, int is_signed, const uint8_t *row, int64_t b, float *d, float *m, uint8_t u[32]) {
    const uint8_t *p;
    switch (type) {
    case TK_Q4_0:
        p = row + b * 18;
        *d = half_at(p), *m = -8.0f * *d;
        nibbles(p + 2, u);
        return;
    case TK_Q4_1:
        p = row + b * 20;
        *d = half_at(p), *m = half_at(p + 2);
        nibbles(p + 4, u);
        return;
    case TK_Q5_0:
        p = row + b * 22;
        *d = half_at(p), *m = -16.0f * *d;
        nibbles(p + 6, u);
        fifth_bits(p + 2, u);
        return;
    case TK_Q5_1:
        p = row + b * 24;
        *d = half_at(p), *m = half_at(p + 2);
        nibbles(p + 8, u);
        fifth_bits(p + 4, u);
        return;
    case TK_Q8_0:
        p = row + b * 34;
        *d = half_at(p);
        if (is_signed) {
            *m = *d;
            for (int j = 0; j < 32; j++) u[j] = (uint8_t)(p[2 + j] == 0x80 ? -127 : (int8_t)p[2 + j]);
        } else {
            *m = -128.0f * *d;
            for (int j = 0; j < 32; j++) u[j] = (uint8_t)((int8_t)p[2 + j] + 128);
        }
        return;
    case TK_IQ4_NL:
        p = row + b * 18;
        *d = *m = half_at(p);
        nibbles(p + 2, u);
        for (int j = 0; j < 32; j++) u[j] = (uint8_t)tk_iq4nl_values[u[j]];
        return;
    case TK_Q4_K: case TK_Q5_K: {
        // Sub-block j of a super-block: value l of its 32 is nibble (j odd ? high : low) of byte 32*(j/2) + l.
        const int q5 = type == TK_Q5_K;
        p = row + (b / 8) * (q5 ? 176 : 144);
        const int j = (int)(b % 8);
        uint8_t sc, mn;
        tk_k_scale_min(j, p + 4, &sc, &mn);
        *d = half_at(p) * (float)sc;
        *m = -(half_at(p + 2) * (float)mn);
        const uint8_t *qs = p + (q5 ? 48 : 16) + 32 * (j / 2);
        for (int l = 0; l < 32; l++) u[l] = j % 2 ? qs[l] >> 4 : qs[l] & 0xF;
        if (q5)
            for (int l = 0; l < 32; l++) u[l] |= (uint8_t)(((p[16 + l] >> j) & 1) << 4);
        return;
    }
    case TK_Q6_K: {
        // Value i of the super-block: 128-half n = i/128, l = i%32, quarter k = (i%128)/32 picks the nibble and the
        // two high bits; its scale is sc[i/16].
        p = row + (b / 8) * 210;
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        const float dd = half_at(p + 208);
        const int i0 = (int)(b % 8) * 32, n = i0 / 128, k = (i0 % 128) / 32;
        for (int l = 0; l < 32; l++) {
            uint8_t lo = ql[64 * n + l + 32 * (k % 2)];
            lo = k < 2 ? lo & 0xF : lo >> 4;
            uint8_t hi = (qh[32 * n + l] >> (2 * k)) & 3;
            u[l] = (uint8_t)(int8_t)((lo | (hi << 4)) - 32);
        }
        *d = dd * (float)sc[i0 / 16];
        *m = dd * (float)sc[i0 / 16 + 1];
        return;
    }
    }
}

static size_t panel_block_bytes(int type) { return (size_t)tk_block_bytes(type) * TK_PANEL; }

/// Stores value `v` of row `lane`, column `c` into a panel block (the inverse of tk_panel_value).
static void put_panel_value(int type, uint8_t *out, int lane, int c, uint8_t v) {
    const int group = c / 4, at = 4 * lane + c % 4;
    if (type == TK_U8_X16 || type == TK_S8_X16) {
        out[128 + 64 * group + at] = v;
        return;
    }
    uint8_t *byte = out + 128 + 64 * (group / 2) + at;
    *byte = group % 2 ? (uint8_t)((*byte & 0x0F) | ((v & 0xF) << 4)) : (uint8_t)((*byte & 0xF0) | (v & 0xF));
    if (type == TK_U5_X16) out[384 + at] = (uint8_t)((out[384 + at] & ~(1u << group)) | (((v >> 4) & 1u) << group));
}

int tk_repack(int type, int target, const void *src, void *dst, int64_t rows, int64_t k) {
    if (target == type) return 0;
    const uint8_t *p = (const uint8_t *)src;
    uint8_t *q = (uint8_t *)dst;
    const int64_t nb = k / TK_QK;
    if (target == TK_Q4_1_F32S) {
        if (type != TK_Q4_1) return 0;
        for (int64_t b = 0; b < rows * nb; b++, p += 20, q += 24) {
            float d = half_at(p), m = half_at(p + 2);
            memcpy(q, &d, 4);
            memcpy(q + 4, &m, 4);
            memcpy(q + 8, p + 4, 16);
        }
        return 1;
    }
    if (tk_repacked_type(type, rows, 1, 1) != target && tk_repacked_type(type, rows, 1, 0) != target) return 0;
    const size_t row_bytes = (size_t)(k / tk_block_values(type)) * (size_t)tk_block_bytes(type);
    const size_t out_bytes = panel_block_bytes(target);
    memset(q, 0, (size_t)(rows / TK_PANEL * nb) * out_bytes);
    for (int64_t r = 0; r < rows; r++) {
        const int lane = (int)(r % TK_PANEL);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *out = q + ((r / TK_PANEL) * nb + b) * out_bytes;
            float d, m;
            uint8_t u[32];
            panel_block(type, target == TK_S8_X16, p + (size_t)r * row_bytes, b, &d, &m, u);
            memcpy(out + 4 * lane, &d, 4);
            memcpy(out + 64 + 4 * lane, &m, 4);
            for (int c = 0; c < 32; c++) put_panel_value(target, out, lane, c, u[c]);
        }
    }
    return 1;
}

int tk_panel_value(int type, const uint8_t *block, int lane, int c) {
    const int group = c / 4, at = 4 * lane + c % 4;
    if (type == TK_U8_X16) return block[128 + 64 * group + at];
    if (type == TK_S8_X16) return (int8_t)block[128 + 64 * group + at];
    const uint8_t byte = block[128 + 64 * (group / 2) + at];
    int v = group % 2 ? byte >> 4 : byte & 0x0F;
    if (type == TK_U5_X16) v |= ((block[384 + at] >> group) & 1) << 4;
    return v;
}

void tk_dequantize_panel_row(int type, const void *base, int64_t r, float *dst, int64_t k) {
    const int64_t nb = k / TK_QK;
    const size_t bytes = panel_block_bytes(type);
    const int lane = (int)(r % TK_PANEL);
    for (int64_t b = 0; b < nb; b++, dst += TK_QK) {
        const uint8_t *blk = (const uint8_t *)base + ((r / TK_PANEL) * nb + b) * bytes;
        float d, m;
        memcpy(&d, blk + 4 * lane, 4);
        memcpy(&m, blk + 64 + 4 * lane, 4);
        for (int c = 0; c < 32; c++) {
            const int v = tk_panel_value(type, blk, lane, c);
            dst[c] = type == TK_S8_X16 ? (c < 16 ? d : m) * (float)v : d * (float)v + m;
        }
    }
}
