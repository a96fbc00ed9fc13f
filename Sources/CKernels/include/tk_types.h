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
    /// Panel layouts for the int8 kernels (DESIGN 3.3): rows in panels of 16, one per SIMD lane, each the same bytes
    /// as the stored type (so decode streams the file's bytes). A panel is a run of units: a unit is one block of 32
    /// columns (a super-block of 256 for the K-quants), 16 rows of it:
    ///   [super header (K-quants only)] then per block of 32 columns [block header][values].
    /// Block headers: fp16 d of the 16 rows (Q4_0, Q5_0, Q8_0, IQ4_NL: the offset is implied, m = -8d, -16d, -128d)
    /// or fp16 d then fp16 m (Q4_1, Q5_1). Super headers, scale bytes transposed (byte i of row r at 16*i + r):
    /// Q4_K/Q5_K fp16 d, fp16 dmin, then the 12 packed 6-bit scale/min bytes; Q6_K fp16 d then the 16 int8 scales.
    /// Values, as vpdpbusd wants them: groups of 4 columns, 4 bytes per row, rows in order (64 bytes per group):
    ///   4-bit (Q4_0, Q4_1, Q4_K, IQ4_NL's indices, Q6_K's low bits): two groups per 64 bytes, group 2i in the low
    ///     nibbles, 2i+1 in the high (256 bytes);
    ///   5-bit (Q5_0, Q5_1, Q5_K): the 4-bit bytes, then 64 bytes whose byte 4*row + c%4 holds, in bit g, the fifth
    ///     bit of column 4g + c%4 (320 bytes);
    ///   Q6_K: the 4-bit bytes, then 128 bytes: byte 64*(g/4) + 4*row + c%4 holds in bits 2*(g%4) the top two bits
    ///     of group g (384 bytes);
    ///   8-bit (Q8_0): one byte per value, u = q + 128 for VNNI (unsigned weights), or signed q below VNNI (512).
    /// Weights: unsigned kinds w = d*u + m; signed kinds (Q8_0 signed, IQ4_NL, Q6_K) w = d*s for columns 0-15 and
    /// m*s for 16-31 (Q6_K's scales cover 16 columns), s the signed value (IQ4_NL's table entry, Q6_K's u - 32).
    TK_PANEL_Q4_0 = 110,
    TK_PANEL_Q4_1 = 111,
    TK_PANEL_Q5_0 = 112,
    TK_PANEL_Q5_1 = 113,
    TK_PANEL_Q8_0 = 114,
    TK_PANEL_Q8_0S = 115,
    TK_PANEL_IQ4_NL = 116,
    TK_PANEL_Q4_K = 117,
    TK_PANEL_Q5_K = 118,
    TK_PANEL_Q6_K = 119,
} tk_type;

/// Rows per panel of the panel layouts.
#define TK_PANEL 16

/// How a panel layout's values are stored (see TK_PANEL_Q4_0): unsigned 4-, 5-, 8-bit; signed 8-bit; 4-bit indices
/// into IQ4_NL's table; Q6_K's 6-bit.
enum { TK_VALUES_U4, TK_VALUES_U5, TK_VALUES_U8, TK_VALUES_S8, TK_VALUES_S4, TK_VALUES_S6 };
/// Where a panel layout's scales are: fp16 d per block (m implied), fp16 d and m per block, Q4_K/Q5_K's super
/// header, Q6_K's super header.
enum { TK_SCALES_D, TK_SCALES_DM, TK_SCALES_K, TK_SCALES_K6 };

/// The geometry of a panel layout, all in bytes of one panel (16 rows).
typedef struct {
    int values;        // TK_VALUES_*
    int scales;        // TK_SCALES_*
    int per_unit;      // blocks of 32 columns per unit (8 for the K-quants, else 1)
    int super_bytes;   // super header per unit
    int header_bytes;  // header per block
    int value_bytes;   // values per block
} tk_panel_layout;

/// The geometry of a panel layout from its values and scales kinds (a constant where they are: the kernels' variants
/// compute no offsets at run time).
static inline tk_panel_layout tk_panel_layout_for(int values, int scales) {
    const int k = scales == TK_SCALES_K || scales == TK_SCALES_K6;
    return (tk_panel_layout){
        values, scales, k ? 8 : 1,
        scales == TK_SCALES_K ? 64 + 192 : scales == TK_SCALES_K6 ? 32 + 256 : 0,
        scales == TK_SCALES_D ? 32 : scales == TK_SCALES_DM ? 64 : 0,
        values == TK_VALUES_U5 ? 320 : values == TK_VALUES_S6 ? 384 : values == TK_VALUES_U8 || values == TK_VALUES_S8 ? 512 : 256,
    };
}
/// The geometry of panel layout `type`; per_unit 0 for other types.
tk_panel_layout tk_panel_layout_of(int type);
/// Bytes of one panel (16 rows of k columns) of panel layout `type`: the stored rows' bytes.
int64_t tk_panel_bytes(int type, int64_t k);
/// Bytes of one unit (the super header and its blocks).
static inline int64_t tk_panel_unit_bytes(tk_panel_layout l) {
    return l.super_bytes + (int64_t)l.per_unit * (l.header_bytes + l.value_bytes);
}
/// Offset of the unit holding block b in a panel. Units are 1 or 8 blocks: shifts, not divisions, in the kernels'
/// loops.
static inline int64_t tk_panel_unit_offset(tk_panel_layout l, int64_t b) {
    return (b >> (l.per_unit == 8 ? 3 : 0)) * tk_panel_unit_bytes(l);
}
/// Offset of block b's header in a panel (its values follow the header).
static inline int64_t tk_panel_block_offset(tk_panel_layout l, int64_t b) {
    return tk_panel_unit_offset(l, b) + l.super_bytes + (b & (l.per_unit - 1)) * (l.header_bytes + l.value_bytes);
}
/// Whether a values kind is signed (w = d*s per 16-column half) rather than unsigned (w = d*u + m).
static inline int tk_panel_is_signed(int values) {
    return values == TK_VALUES_S8 || values == TK_VALUES_S4 || values == TK_VALUES_S6;
}
/// What the kernels' unsigned integer products take a signed kind's values above: Q6_K's stored u = s + 32, IQ4_NL's
/// table entries + 128 (the products are then corrected by this times the activations' sum, tk_half_sums); 0 for
/// Q8_0's signed bytes, which take the sign trick.
static inline int tk_panel_unsigned_offset(int values) {
    return values == TK_VALUES_S6 ? 32 : values == TK_VALUES_S4 ? 128 : 0;
}
/// The value offset an unsigned kind's m is implied by (Q4_0's -8, Q5_0's -16, Q8_0's -128), 0 for the others.
static inline float tk_panel_implied_min(int values) {
    return values == TK_VALUES_U4 ? -8.0f : values == TK_VALUES_U5 ? -16.0f : values == TK_VALUES_U8 ? -128.0f : 0.0f;
}

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
int tk_is_panel_type(int type);
/// The value (u for unsigned kinds, s for signed ones) of row `lane`, column `c` (0..31) of the block whose values
/// start at `values`.
int tk_panel_value(int values_kind, const uint8_t *values, int lane, int c);
/// Row `lane`'s scales for block b of the panel at `panel`: d and m (unsigned kinds), or the scales of columns 0-15
/// and 16-31 (signed kinds).
void tk_panel_scales(int type, const uint8_t *panel, int64_t b, int lane, float *d, float *m);
/// IQ4_NL's 16 values.
extern const int8_t tk_iq4nl_values[16];
/// Row `r` of a panel-layout matrix of `k` columns at `base`, dequantized into `dst`.
void tk_dequantize_panel_row(int type, const void *base, int64_t r, float *dst, int64_t k);

float tk_fp16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_fp16(float f);
float tk_bf16_to_fp32(uint16_t h);

#endif
