#include "tk_types.h"
#include <string.h>

int tk_block_values(int type) {
    switch (type) {
    case TK_F32: case TK_F16: case TK_BF16: return 1;
    case TK_Q4_0: case TK_Q4_1: case TK_Q8_0: case TK_Q4_1_F32S: return TK_QK;
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

int tk_repacked_type(int type) { return type == TK_Q4_1 ? TK_Q4_1_F32S : type; }

int tk_repack(int type, const void *src, void *dst, int64_t rows, int64_t k) {
    if (type != TK_Q4_1) return 0;
    const uint8_t *p = (const uint8_t *)src;
    uint8_t *q = (uint8_t *)dst;
    for (int64_t b = 0; b < rows * (k / TK_QK); b++, p += 20, q += 24) {
        uint16_t d, m;
        memcpy(&d, p, 2);
        memcpy(&m, p + 2, 2);
        float fd = tk_fp16_to_fp32(d), fm = tk_fp16_to_fp32(m);
        memcpy(q, &fd, 4);
        memcpy(q + 4, &fm, 4);
        memcpy(q + 8, p + 4, 16);
    }
    return 1;
}
