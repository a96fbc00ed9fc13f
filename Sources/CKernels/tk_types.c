#include "tk_types.h"
#include <string.h>

int tk_block_values(int type) {
    switch (type) {
    case TK_F32: case TK_F16: case TK_BF16: return 1;
    case TK_Q4_0: case TK_Q4_1: case TK_Q5_0: case TK_Q5_1: case TK_Q8_0: case TK_IQ4_NL: case TK_Q4_1_F32S:
    case TK_PANEL_Q4_0: case TK_PANEL_Q4_1: case TK_PANEL_Q5_0: case TK_PANEL_Q5_1: case TK_PANEL_Q8_0:
    case TK_PANEL_Q8_0S: case TK_PANEL_IQ4_NL: return TK_QK;
    case TK_Q4_K: case TK_Q5_K: case TK_Q6_K: case TK_PANEL_Q4_K: case TK_PANEL_Q5_K: case TK_PANEL_Q6_K: return TK_QK_K;
    default: return 0;
    }
}

int tk_block_bytes(int type) {
    switch (type) {
    case TK_F32: return 4;
    case TK_F16: case TK_BF16: return 2;
    case TK_Q4_0: case TK_PANEL_Q4_0: return 2 + 16;
    case TK_Q4_1: case TK_PANEL_Q4_1: return 4 + 16;
    case TK_Q4_1_F32S: return 8 + 16;
    case TK_Q5_0: case TK_PANEL_Q5_0: return 2 + 4 + 16;
    case TK_Q5_1: case TK_PANEL_Q5_1: return 4 + 4 + 16;
    case TK_IQ4_NL: case TK_PANEL_IQ4_NL: return 2 + 16;
    case TK_Q8_0: case TK_PANEL_Q8_0: case TK_PANEL_Q8_0S: return 2 + 32;
    case TK_Q4_K: case TK_PANEL_Q4_K: return 4 + 12 + 128;
    case TK_Q5_K: case TK_PANEL_Q5_K: return 4 + 12 + 32 + 128;
    case TK_Q6_K: case TK_PANEL_Q6_K: return 128 + 64 + 16 + 2;
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
        case TK_Q4_0: return TK_PANEL_Q4_0;
        case TK_Q4_1: return TK_PANEL_Q4_1;
        case TK_Q5_0: return TK_PANEL_Q5_0;
        case TK_Q5_1: return TK_PANEL_Q5_1;
        case TK_Q8_0: return vnni ? TK_PANEL_Q8_0 : TK_PANEL_Q8_0S;
        case TK_IQ4_NL: return TK_PANEL_IQ4_NL;
        case TK_Q4_K: return TK_PANEL_Q4_K;
        case TK_Q5_K: return TK_PANEL_Q5_K;
        case TK_Q6_K: return TK_PANEL_Q6_K;
        default: break;
        }
    }
    return type == TK_Q4_1 && vnni ? TK_Q4_1_F32S : type;
}

tk_panel_layout tk_panel_layout_of(int type) {
    switch (type) {
    case TK_PANEL_Q4_0: return tk_panel_layout_for(TK_VALUES_U4, TK_SCALES_D);
    case TK_PANEL_Q4_1: return tk_panel_layout_for(TK_VALUES_U4, TK_SCALES_DM);
    case TK_PANEL_Q5_0: return tk_panel_layout_for(TK_VALUES_U5, TK_SCALES_D);
    case TK_PANEL_Q5_1: return tk_panel_layout_for(TK_VALUES_U5, TK_SCALES_DM);
    case TK_PANEL_Q8_0: return tk_panel_layout_for(TK_VALUES_U8, TK_SCALES_D);
    case TK_PANEL_Q8_0S: return tk_panel_layout_for(TK_VALUES_S8, TK_SCALES_D);
    case TK_PANEL_IQ4_NL: return tk_panel_layout_for(TK_VALUES_S4, TK_SCALES_D);
    case TK_PANEL_Q4_K: return tk_panel_layout_for(TK_VALUES_U4, TK_SCALES_K);
    case TK_PANEL_Q5_K: return tk_panel_layout_for(TK_VALUES_U5, TK_SCALES_K);
    case TK_PANEL_Q6_K: return tk_panel_layout_for(TK_VALUES_S6, TK_SCALES_K6);
    default: return (tk_panel_layout){0, 0, 0, 0, 0, 0};
    }
}

int tk_is_panel_type(int type) { return tk_panel_layout_of(type).per_unit != 0; }

int64_t tk_panel_bytes(int type, int64_t k) { return k / tk_block_values(type) * tk_block_bytes(type) * TK_PANEL; }

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

/// Block `b` (32 values) of one row of `type` at `row`, as the panels store it (see TK_PANEL_Q4_0): u for unsigned
/// kinds, the signed byte for Q8_0 below VNNI (-128 becomes -127: the sign trick of the AVX2 kernels cannot negate
/// it; llama.cpp's quantizer never writes it), IQ4_NL's table index, Q6_K's unsigned 6-bit value.
static void block_values(int type, int is_signed, const uint8_t *row, int64_t b, uint8_t u[32]) {
    const uint8_t *p;
    switch (type) {
    case TK_Q4_0: case TK_IQ4_NL: nibbles(row + b * 18 + 2, u); return;
    case TK_Q4_1: nibbles(row + b * 20 + 4, u); return;
    case TK_Q5_0:
        p = row + b * 22;
        nibbles(p + 6, u);
        fifth_bits(p + 2, u);
        return;
    case TK_Q5_1:
        p = row + b * 24;
        nibbles(p + 8, u);
        fifth_bits(p + 4, u);
        return;
    case TK_Q8_0:
        p = row + b * 34 + 2;
        for (int j = 0; j < 32; j++)
            u[j] = is_signed ? (uint8_t)(p[j] == 0x80 ? -127 : (int8_t)p[j]) : (uint8_t)((int8_t)p[j] + 128);
        return;
    case TK_Q4_K: case TK_Q5_K: {
        // Sub-block j of a super-block: value l of its 32 is nibble (j odd ? high : low) of byte 32*(j/2) + l.
        const int q5 = type == TK_Q5_K;
        p = row + (b / 8) * (q5 ? 176 : 144);
        const int j = (int)(b % 8);
        const uint8_t *qs = p + (q5 ? 48 : 16) + 32 * (j / 2);
        for (int l = 0; l < 32; l++) u[l] = j % 2 ? qs[l] >> 4 : qs[l] & 0xF;
        if (q5)
            for (int l = 0; l < 32; l++) u[l] |= (uint8_t)(((p[16 + l] >> j) & 1) << 4);
        return;
    }
    case TK_Q6_K: {
        // Value i of the super-block: 128-half n = i/128, l = i%32, quarter k = (i%128)/32 picks the nibble and the
        // two high bits.
        p = row + (b / 8) * 210;
        const uint8_t *ql = p, *qh = p + 128;
        const int i0 = (int)(b % 8) * 32, n = i0 / 128, k = (i0 % 128) / 32;
        for (int l = 0; l < 32; l++) {
            uint8_t lo = ql[64 * n + l + 32 * (k % 2)];
            lo = k < 2 ? lo & 0xF : lo >> 4;
            u[l] = (uint8_t)(lo | (((qh[32 * n + l] >> (2 * k)) & 3) << 4));
        }
        return;
    }
    }
}

/// Stores stored value `v` of row `lane`, column `c` into a block's values (the inverse of tk_panel_value).
static void put_panel_value(int kind, uint8_t *values, int lane, int c, uint8_t v) {
    const int group = c / 4, at = 4 * lane + c % 4;
    if (kind == TK_VALUES_U8 || kind == TK_VALUES_S8) {
        values[64 * group + at] = v;
        return;
    }
    uint8_t *byte = values + 64 * (group / 2) + at;
    *byte = group % 2 ? (uint8_t)((*byte & 0x0F) | ((v & 0xF) << 4)) : (uint8_t)((*byte & 0xF0) | (v & 0xF));
    if (kind == TK_VALUES_U5)
        values[256 + at] = (uint8_t)((values[256 + at] & ~(1u << group)) | (((v >> 4) & 1u) << group));
    if (kind == TK_VALUES_S6) {
        uint8_t *top = values + 256 + 64 * (group / 4) + at;
        const int shift = 2 * (group % 4);
        *top = (uint8_t)((*top & ~(3u << shift)) | (((v >> 4) & 3u) << shift));
    }
}

/// Row `lane`'s scale bytes: the stored fp16 ones copied as they are (and the K-quants' packed bytes), so the
/// panels' weights are exactly the stored ones.
static void put_scales(int type, uint8_t *unit, uint8_t *header, const uint8_t *row, int64_t b,
                       int lane) {
    switch (type) {
    case TK_Q4_0: case TK_IQ4_NL: memcpy(header + 2 * lane, row + b * 18, 2); return;
    case TK_Q5_0: memcpy(header + 2 * lane, row + b * 22, 2); return;
    case TK_Q8_0: memcpy(header + 2 * lane, row + b * 34, 2); return;
    case TK_Q4_1: case TK_Q5_1: {
        const uint8_t *p = row + b * (type == TK_Q4_1 ? 20 : 24);
        memcpy(header + 2 * lane, p, 2);
        memcpy(header + 32 + 2 * lane, p + 2, 2);
        return;
    }
    case TK_Q4_K: case TK_Q5_K: {
        if (b % 8) return;
        const uint8_t *p = row + (b / 8) * (type == TK_Q5_K ? 176 : 144);
        memcpy(unit + 2 * lane, p, 2);
        memcpy(unit + 32 + 2 * lane, p + 2, 2);
        for (int i = 0; i < 12; i++) unit[64 + 16 * i + lane] = p[4 + i];
        return;
    }
    case TK_Q6_K: {
        if (b % 8) return;
        const uint8_t *p = row + (b / 8) * 210;
        memcpy(unit + 2 * lane, p + 208, 2);
        for (int i = 0; i < 16; i++) unit[32 + 16 * i + lane] = p[192 + i];
        return;
    }
    }
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
    const tk_panel_layout l = tk_panel_layout_of(target);
    const size_t row_bytes = (size_t)(k / tk_block_values(type)) * (size_t)tk_block_bytes(type);
    const size_t panel_bytes = row_bytes * TK_PANEL;  // the same bytes as the stored rows
    memset(q, 0, (size_t)(rows / TK_PANEL) * panel_bytes);
    for (int64_t r = 0; r < rows; r++) {
        const int lane = (int)(r % TK_PANEL);
        const uint8_t *row = p + (size_t)r * row_bytes;
        uint8_t *panel = q + (r / TK_PANEL) * panel_bytes;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *header = panel + tk_panel_block_offset(l, b);
            uint8_t u[32];
            put_scales(type, panel + tk_panel_unit_offset(l, b), header, row, b, lane);
            block_values(type, l.values == TK_VALUES_S8, row, b, u);
            for (int c = 0; c < 32; c++) put_panel_value(l.values, header + l.header_bytes, lane, c, u[c]);
        }
    }
    return 1;
}

int tk_panel_value(int kind, const uint8_t *values, int lane, int c) {
    const int group = c / 4, at = 4 * lane + c % 4;
    if (kind == TK_VALUES_U8) return values[64 * group + at];
    if (kind == TK_VALUES_S8) return (int8_t)values[64 * group + at];
    const uint8_t byte = values[64 * (group / 2) + at];
    int v = group % 2 ? byte >> 4 : byte & 0x0F;
    switch (kind) {
    case TK_VALUES_U5: return v | ((values[256 + at] >> group) & 1) << 4;
    case TK_VALUES_S4: return tk_iq4nl_values[v];
    case TK_VALUES_S6:
        return (v | ((values[256 + 64 * (group / 4) + at] >> (2 * (group % 4))) & 3) << 4) - tk_panel_unsigned_offset(kind);
    default: return v;
    }
}

void tk_panel_scales(int type, const uint8_t *panel, int64_t b, int lane, float *d, float *m) {
    const tk_panel_layout l = tk_panel_layout_of(type);
    const uint8_t *unit = panel + tk_panel_unit_offset(l, b);
    const uint8_t *header = panel + tk_panel_block_offset(l, b);
    switch (l.scales) {
    case TK_SCALES_D:
        *d = half_at(header + 2 * lane);
        // Signed kinds scale both halves by d; unsigned ones have the implied offset (exact: a power of two).
        *m = tk_panel_is_signed(l.values) ? *d : tk_panel_implied_min(l.values) * *d;
        return;
    case TK_SCALES_DM:
        *d = half_at(header + 2 * lane);
        *m = half_at(header + 32 + 2 * lane);
        return;
    case TK_SCALES_K: {
        uint8_t bytes[12], sc, mn;
        for (int i = 0; i < 12; i++) bytes[i] = unit[64 + 16 * i + lane];
        tk_k_scale_min((int)(b % 8), bytes, &sc, &mn);
        // Products of an fp16 and a 6-bit integer: exact in fp32, so the weights are the stored ones.
        *d = half_at(unit + 2 * lane) * (float)sc;
        *m = -(half_at(unit + 32 + 2 * lane) * (float)mn);
        return;
    }
    case TK_SCALES_K6: {
        const float dd = half_at(unit + 2 * lane);
        const int j = (int)(b % 8);
        *d = dd * (float)(int8_t)unit[32 + 16 * (2 * j) + lane];
        *m = dd * (float)(int8_t)unit[32 + 16 * (2 * j + 1) + lane];
        return;
    }
    }
}

void tk_dequantize_panel_row(int type, const void *base, int64_t r, float *dst, int64_t k) {
    const tk_panel_layout l = tk_panel_layout_of(type);
    const int64_t nb = k / TK_QK;
    const uint8_t *panel = (const uint8_t *)base + (r / TK_PANEL) * tk_panel_bytes(type, k);
    const int lane = (int)(r % TK_PANEL);
    const int is_signed = tk_panel_is_signed(l.values);
    for (int64_t b = 0; b < nb; b++, dst += TK_QK) {
        const uint8_t *values = panel + tk_panel_block_offset(l, b) + l.header_bytes;
        float d, m;
        tk_panel_scales(type, panel, b, lane, &d, &m);
        for (int c = 0; c < 32; c++) {
            const int v = tk_panel_value(l.values, values, lane, c);
            dst[c] = is_signed ? (c < 16 ? d : m) * (float)v : d * (float)v + m;
        }
    }
}
