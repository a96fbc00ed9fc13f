#include "tk_types.h"
#include <string.h>

int tk_block_values(int type) {
    switch (type) {
    case TK_F32: case TK_F16: case TK_BF16: return 1;
    case TK_Q4_0: case TK_Q4_1: case TK_Q8_0: case TK_Q4_1_F32S: case TK_U4_X16: case TK_U8_X16: return TK_QK;
    case TK_Q4_K: case TK_Q6_K: return TK_QK_K;
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
    case TK_U4_X16: return 384 / TK_PANEL;
    case TK_U8_X16: return 640 / TK_PANEL;
    case TK_Q8_0: return 2 + 32;
    case TK_Q4_K: return 4 + 12 + 128;
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

int tk_repacked_type(int type, int64_t rows, int int8) {
    if (int8 && rows % TK_PANEL == 0) {
        if (type == TK_Q4_0 || type == TK_Q4_1) return TK_U4_X16;
        if (type == TK_Q8_0) return TK_U8_X16;
    }
    return type == TK_Q4_1 ? TK_Q4_1_F32S : type;
}

int tk_is_panel_type(int type) { return type == TK_U4_X16 || type == TK_U8_X16; }

static float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return tk_fp16_to_fp32(h);
}

/// One stored block as d, m and 32 unsigned values u with weight = d * u + m (the scale form the panels hold).
static void unsigned_block(int type, const uint8_t *p, float *d, float *m, uint8_t u[32]) {
    *d = half_at(p);
    if (type == TK_Q8_0) {
        *m = -128.0f * *d;
        for (int j = 0; j < 32; j++) u[j] = (uint8_t)((int8_t)p[2 + j] + 128);
        return;
    }
    const uint8_t *nibbles = p + (type == TK_Q4_1 ? 4 : 2);
    *m = type == TK_Q4_1 ? half_at(p + 2) : -8.0f * *d;
    for (int j = 0; j < 16; j++) {
        u[j] = nibbles[j] & 0xF;
        u[j + 16] = nibbles[j] >> 4;
    }
}

static size_t panel_block_bytes(int type) { return (size_t)tk_block_bytes(type) * TK_PANEL; }

int tk_repack(int type, int target, const void *src, void *dst, int64_t rows, int64_t k) {
    if (target == type || tk_repacked_type(type, rows, tk_is_panel_type(target)) != target) return 0;
    const uint8_t *p = (const uint8_t *)src;
    uint8_t *q = (uint8_t *)dst;
    const int64_t nb = k / TK_QK;
    if (target == TK_Q4_1_F32S) {
        for (int64_t b = 0; b < rows * nb; b++, p += 20, q += 24) {
            float d = half_at(p), m = half_at(p + 2);
            memcpy(q, &d, 4);
            memcpy(q + 4, &m, 4);
            memcpy(q + 8, p + 4, 16);
        }
        return 1;
    }
    const size_t in_bytes = (size_t)tk_block_bytes(type), out_bytes = panel_block_bytes(target);
    for (int64_t r = 0; r < rows; r++) {
        const int lane = (int)(r % TK_PANEL);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *out = q + ((r / TK_PANEL) * nb + b) * out_bytes;
            float d, m;
            uint8_t u[32];
            unsigned_block(type, p + (r * nb + b) * in_bytes, &d, &m, u);
            memcpy(out + 4 * lane, &d, 4);
            memcpy(out + 64 + 4 * lane, &m, 4);
            for (int c = 0; c < 32; c++) {
                int group = c / 4, at = 4 * lane + c % 4;
                if (target == TK_U8_X16) {
                    out[128 + 64 * group + at] = u[c];
                } else {
                    uint8_t *byte = out + 128 + 64 * (group / 2) + at;
                    *byte = group % 2 ? (uint8_t)((*byte & 0x0F) | (u[c] << 4)) : (uint8_t)((*byte & 0xF0) | u[c]);
                }
            }
        }
    }
    return 1;
}

uint8_t tk_panel_value(int type, const uint8_t *block, int lane, int c) {
    int group = c / 4, at = 4 * lane + c % 4;
    if (type == TK_U8_X16) return block[128 + 64 * group + at];
    uint8_t byte = block[128 + 64 * (group / 2) + at];
    return group % 2 ? byte >> 4 : byte & 0x0F;
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
        for (int c = 0; c < 32; c++) dst[c] = d * tk_panel_value(type, blk, lane, c) + m;
    }
}
