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
    TK_Q8_0 = 8,
    TK_Q4_K = 12,
    TK_Q6_K = 14,
    TK_BF16 = 30,
    /// Tessera's load-time layout of Q4_1: fp32 d, fp32 m, 16 nibble bytes (24 bytes). The scales become plain
    /// loads in the kernels instead of conversions; the values are identical to Q4_1's.
    TK_Q4_1_F32S = 103,
    /// Panel layouts for the int8 kernels (DESIGN 3.3), rows in panels of 16. Per panel and block of 32 columns:
    /// 16 fp32 d, 16 fp32 m (row r's weight = d[r] * u + m[r], u unsigned), then the 16 rows' u values as vpdpbusd
    /// wants them: groups of 4 columns, 4 bytes per row, rows in order (64 bytes per group of 4 columns).
    /// U4: 4-bit u (Q4_0, Q4_1), two groups per 64 bytes (group 2i in the low nibbles, 2i+1 in the high): 384 bytes.
    /// U8: 8-bit u (Q8_0 + 128): 640 bytes.
    TK_U4_X16 = 104,
    TK_U8_X16 = 105,
} tk_type;

/// Rows per panel of the X16 layouts.
#define TK_PANEL 16

// Block layouts (bytes): Q4_0 fp16 d + 16 nibble bytes; Q4_1 fp16 d, fp16 m + 16; Q8_0 fp16 d + 32 int8;
// Q4_K (256 values) fp16 d, fp16 dmin, 12 packed 6-bit scales/mins, 128 nibble bytes;
// Q6_K (256 values) 128 low-nibble bytes, 64 high-2-bit bytes, 16 int8 scales, fp16 d.
#define TK_QK 32
#define TK_QK_K 256

/// Values per block of `type` (1 for plain floats), or 0 when the type is unknown.
int tk_block_values(int type);
/// Bytes per block of `type`, or 0 when the type is unknown.
int tk_block_bytes(int type);

/// Writes `rows` rows of `k` values of `type` at `src` into `dst` in layout `target` (from tk_repacked_type);
/// returns 0 when that is not a layout of `type`.
int tk_repack(int type, int target, const void *src, void *dst, int64_t rows, int64_t k);
/// The load-time layout for a matrix of `type` with `rows` rows, or `type` itself when it is used as stored.
/// `int8` asks for the int8 kernels' panel layouts where the type has one.
int tk_repacked_type(int type, int64_t rows, int int8);
/// Whether `type` is a panel layout (rows interleaved in panels of TK_PANEL; see tk_dequantize_panel_row).
int tk_is_panel_type(int type);
/// The unsigned value of row `lane`, column `c` (0..31) in one panel block.
uint8_t tk_panel_value(int type, const uint8_t *block, int lane, int c);
/// Row `r` of a panel-layout matrix of `k` columns at `base`, dequantized into `dst`.
void tk_dequantize_panel_row(int type, const void *base, int64_t r, float *dst, int64_t k);

float tk_fp16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_fp16(float f);
float tk_bf16_to_fp32(uint16_t h);

#endif
