#ifndef TK_TYPES_H
#define TK_TYPES_H
// Weight element formats the kernels compute on. Values are GGML's type ids so a GGUF tensor's type maps 1:1.
#include <stdint.h>
#include <stddef.h>

typedef enum {
    TK_F32 = 0,
    TK_F16 = 1,
    TK_Q4_0 = 2,
    TK_Q4_1 = 3,
    TK_Q5_0 = 6,
    TK_Q5_1 = 7,
    TK_Q8_0 = 8,
    TK_Q4_K = 12,
    TK_Q5_K = 13,
    TK_Q6_K = 14,
    TK_IQ4_NL = 20,
    TK_BF16 = 30,
    /// Tessera's load-time layout of Q4_1: fp32 d, fp32 m, 16 nibble bytes (24 bytes). The scales become plain
    /// loads in the kernels instead of conversions; the values are identical to Q4_1's.
    TK_Q4_1_F32S = 103,
    /// Panel layouts for the int8 kernels (DESIGN 3.3), rows in panels of 16. Per panel and block of 32 columns:
    /// 16 fp32 d, 16 fp32 m (row r's weight = d[r] * u + m[r], u unsigned), then the 16 rows' u values as vpdpbusd
    /// wants them: groups of 4 columns, 4 bytes per row, rows in order (64 bytes per group of 4 columns).
    /// U4: 4-bit u (Q4_0, Q4_1), two groups per 64 bytes (group 2i in the low nibbles, 2i+1 in the high): 384 bytes.
    /// U5: 5-bit u (Q5_0, Q5_1, Q5_K): U4's 384 bytes for the low nibbles, then 64 bytes of fifth bits: byte
    /// 4*row + c%4 holds, in bit g, the fifth bit of column 4g + c%4 of that row (one load serves the 8 groups).
    /// U8: 8-bit u (Q8_0 + 128, for VNNI): 640 bytes.
    /// S8: signed bytes s in [-127, 127] (Q8_0 and IQ4_NL below VNNI, Q6_K everywhere): the weight is d[r] * s for
    /// columns 0-15 of the block and m[r] * s for columns 16-31 (two scales, since Q6_K's blocks are 16 wide).
    /// Bytes as in U8: 640 bytes.
    TK_U4_X16 = 104,
    TK_U8_X16 = 105,
    TK_U5_X16 = 106,
    TK_S8_X16 = 107,
} tk_type;

/// Rows per panel of the X16 layouts.
#define TK_PANEL 16

// Block layouts (bytes): Q4_0 fp16 d + 16 nibble bytes; Q4_1 fp16 d, fp16 m + 16; Q8_0 fp16 d + 32 int8;
// Q5_0 fp16 d, 4 bytes of fifth bits, 16 nibble bytes; Q5_1 fp16 d, fp16 m, 4 + 16; IQ4_NL fp16 d + 16 nibble
// bytes indexing a table of 16 int8 values;
// Q4_K (256 values) fp16 d, fp16 dmin, 12 packed 6-bit scales/mins, 128 nibble bytes;
// Q5_K (256 values) as Q4_K with 32 bytes of fifth bits before the nibbles;
// Q6_K (256 values) 128 low-nibble bytes, 64 high-2-bit bytes, 16 int8 scales, fp16 d.
#define TK_QK 32
#define TK_QK_K 256

/// Scale and min of sub-block j (0..7) from Q4_K/Q5_K's 12 packed bytes of 6-bit values.
void tk_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m);

/// Values per block of `type` (1 for plain floats), or 0 when the type is unknown.
int tk_block_values(int type);
/// Bytes per block of `type`, or 0 when the type is unknown.
int tk_block_bytes(int type);

/// Writes `rows` rows of `k` values of `type` at `src` into `dst` in layout `target` (from tk_repacked_type);
/// returns 0 when that is not a layout of `type`.
int tk_repack(int type, int target, const void *src, void *dst, int64_t rows, int64_t k);
/// The load-time layout for a matrix of `type` with `rows` rows, or `type` itself when it is used as stored.
/// `int8` asks for the int8 kernels' panel layouts where the type has one: for VNNI kernels (`vnni`, unsigned
/// weight bytes) or for AVX2's vpmaddubsw ones (which would saturate on 8-bit unsigned weights, so Q8_0 goes signed).
/// Otherwise Q4_1 gets fp32 scales where `vnni`-class (AVX-512) kernels run, and the rest stays as stored.
int tk_repacked_type(int type, int64_t rows, int int8, int vnni);
/// Whether `type` is a panel layout (rows interleaved in panels of TK_PANEL; see tk_dequantize_panel_row).
/// Signed panel layouts (S8) hold two scales per block instead of d and m.
int tk_is_panel_type(int type);
/// The value (u, or s for S8) of row `lane`, column `c` (0..31) in one panel block.
int tk_panel_value(int type, const uint8_t *block, int lane, int c);
/// IQ4_NL's 16 values.
extern const int8_t tk_iq4nl_values[16];
/// Row `r` of a panel-layout matrix of `k` columns at `base`, dequantized into `dst`.
void tk_dequantize_panel_row(int type, const void *base, int64_t r, float *dst, int64_t k);

float tk_fp16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_fp16(float f);
float tk_bf16_to_fp32(uint16_t h);

#endif
