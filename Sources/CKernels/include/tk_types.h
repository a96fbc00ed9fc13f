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
} tk_type;

// Block layouts (bytes): Q4_0 fp16 d + 16 nibble bytes; Q4_1 fp16 d, fp16 m + 16; Q8_0 fp16 d + 32 int8;
// Q4_K (256 values) fp16 d, fp16 dmin, 12 packed 6-bit scales/mins, 128 nibble bytes;
// Q6_K (256 values) 128 low-nibble bytes, 64 high-2-bit bytes, 16 int8 scales, fp16 d.
#define TK_QK 32
#define TK_QK_K 256

/// Values per block of `type` (1 for plain floats), or 0 when the type is unknown.
int tk_block_values(int type);
/// Bytes per block of `type`, or 0 when the type is unknown.
int tk_block_bytes(int type);

/// Writes `rows` rows of `k` values of `type` at `src` into `dst` in the load-time layout of that type
/// (see tk_repacked_type); returns 0 when the type has none.
int tk_repack(int type, const void *src, void *dst, int64_t rows, int64_t k);
/// The load-time layout for `type`, or `type` itself when it is used as stored.
int tk_repacked_type(int type);

float tk_fp16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_fp16(float f);
float tk_bf16_to_fp32(uint16_t h);

#endif
