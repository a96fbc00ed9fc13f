#ifndef TK_KERNELS_H
#define TK_KERNELS_H
// Compute kernels. Every SIMD kernel has a `_generic` twin (portable C) that tests compare it with; `tk_ops_for`
// hands out the set for one CPU level (DESIGN 2).
#include "tk_types.h"
#include "tk_cpu.h"

/// Floats of scratch a matmul call needs per value of a row (rows of `k` values need that times k).
#define TK_MATMUL_SCRATCH_FLOATS 4

/// Dequantizes `n` values (a multiple of the type's block size) starting at `src` into `dst`.
void tk_dequantize_row_generic(int type, const void *src, float *dst, int64_t n);

/// y[t*ldy + r] = dot(W[r], x[t*ldx ..]) for r in [r0, r1), t in [0, nt).
/// `w` points at row 0; rows are `row_bytes` apart; `scratch` holds TK_MATMUL_SCRATCH_FLOATS * k floats.
/// A row's result does not depend on nt or on [r0, r1): the same sequence gives the same numbers alone or batched.
typedef void (*tk_matmul_fn)(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                             const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch);
void tk_matmul_rows_generic(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                            const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch);
void tk_matmul_rows_avx2(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                         const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch);
void tk_matmul_rows_avx512(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                           const float *x, int64_t ldx, int64_t nt, float *y, int64_t ldy, float *scratch);

/// Dot product of two float vectors (the generic kernels' building block).
float tk_dot_f32_generic(const float *a, const float *b, int64_t n);

/// y[i] = x[i] * inv_rms * w[i], inv_rms = 1/sqrt(mean(x^2) + eps).
void tk_rmsnorm_generic(const float *x, const float *w, float *y, int64_t n, float eps);
void tk_rmsnorm_avx2(const float *x, const float *w, float *y, int64_t n, float eps);
void tk_rmsnorm_avx512(const float *x, const float *w, float *y, int64_t n, float eps);

/// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void tk_silu_mul_generic(float *gate, const float *up, int64_t n);
void tk_silu_mul_avx2(float *gate, const float *up, int64_t n);
void tk_silu_mul_avx512(float *gate, const float *up, int64_t n);
/// The trainer's backward of a = silu(g) * u: dg = da * u * s * (1 + g * (1 - s)), du = da * g * s, s = sigmoid(g),
/// with the forward kernel's exp so that the pair is one function and its derivative.
void tk_silu_mul_backward_generic(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
void tk_silu_mul_backward_avx2(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
void tk_silu_mul_backward_avx512(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
/// GELU's constants, shared by every level: exp's argument -2y = g (A + B g^2) below, and 2y' = D + E g^2.
#define TK_GELU_A (-1.5957691216057308f)   /* -2 sqrt(2/pi) */
#define TK_GELU_B (-0.07135481627260025f)  /* -2 sqrt(2/pi) 0.044715 */
#define TK_GELU_D 1.5957691216057308f      /* 2 sqrt(2/pi) */
#define TK_GELU_E 0.21406444881780076f     /* 6 sqrt(2/pi) 0.044715 */
#define TK_EXP_LIMIT 88.3762626647949f     /* the SIMD exps' clamp of their argument */
/// gate[i] = gelu(gate[i]) * up[i], gelu the tanh approximation 0.5 g (1 + tanh(y)), y = sqrt(2/pi) (g + 0.044715 g^3)
/// (Hugging Face's gelu_pytorch_tanh, llama.cpp's ggml_gelu), computed as g * sigmoid(2y) = g / (1 + exp(-2y)): the
/// same function without 1 + tanh's cancellation for negative g. exp's argument is clamped to +-TK_EXP_LIMIT at
/// every level (the generic kernel clamps as the SIMD exps do).
void tk_gelu_mul_generic(float *gate, const float *up, int64_t n);
void tk_gelu_mul_avx2(float *gate, const float *up, int64_t n);
void tk_gelu_mul_avx512(float *gate, const float *up, int64_t n);
/// The backward of a = gelu(g) * u: dg = da * u * gelu'(g), du = da * gelu(g), with s = sigmoid(2y), e = exp(-2y):
/// gelu'(g) = s * (1 + 2 g e s y'), y' = sqrt(2/pi) (1 + 3 * 0.044715 g^2); e * s is 1 - s without its cancellation.
/// g is clamped to +-100 inside y' only, where the term is below fp32's range anyway, so that g^2 cannot overflow
/// into inf * 0.
void tk_gelu_mul_backward_generic(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
void tk_gelu_mul_backward_avx2(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
void tk_gelu_mul_backward_avx512(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
/// One row of the trainer's cross-entropy over `n` logits: returns log(sum(exp(x))); when `scale` is not 0, also
/// overwrites x with softmax(x) * scale (the row of the loss's gradient, before the target's -scale).
double tk_log_softmax_row_generic(float *x, int64_t n, float scale);
double tk_log_softmax_row_avx2(float *x, int64_t n, float scale);
double tk_log_softmax_row_avx512(float *x, int64_t n, float scale);

/// y[i] += x[i] (memory-bound; the compiler's vectorization is enough).
void tk_add(const float *x, float *y, int64_t n);

/// Causal GQA attention. Items are (row, KV head) pairs, item = row * kv_heads + kv_head; this call takes items
/// i0, i0 + stride, ... below i1 (threads interleave, since later rows see more positions).
/// q, out: [rows, heads*hd]; row r, at position P = start + r, sees positions lo...P, lo = max(0, P - window + 1)
/// (a sliding window, Hugging Face's and llama.cpp's standard one: key position p is masked when P - p >= window), or
/// 0...P when window is 0. Scores are scale * q.k (1/sqrt(hd) for the usual attention). keys, values: rows of
/// kv_heads*hd values of kv_type (TK_F32, or TK_F16: widened exactly, then the same fp32 arithmetic); the
/// sequence's position p is in row blocks[p / block_tokens] * block_tokens + p % block_tokens (a paged cache,
/// DESIGN 3.5), or in row p when blocks is NULL. scores: scratch of (heads / kv_heads) * n floats, n = the most
/// positions a row sees (start+rows, or at most window).
typedef void (*tk_attention_fn)(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
                                const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd,
                                float scale, int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out,
                                float *scores);
void tk_attention_generic(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
                          const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd, float scale,
                          int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out, float *scores);
void tk_attention_avx2(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
                       const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd, float scale,
                       int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out, float *scores);
void tk_attention_avx512(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
                         const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd, float scale,
                         int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out, float *scores);

/// Element i of a cache of fp16 (`half`) or fp32 values.
static inline const void *tk_kv_at(const void *kv, int64_t i, int half) {
    return (const char *)kv + i * (half ? 2 : 4);
}

/// The first position a row seeing positions 0..<span attends to under `window` (0: no window).
static inline int64_t tk_window_first(int64_t span, int64_t window) {
    return window > 0 && span > window ? span - window : 0;
}

/// First row of the run of positions starting at p (any position: a block boundary, 0, or a window's start), and how
/// many follow it contiguously within `span` positions.
static inline int64_t tk_kv_run(const int32_t *blocks, int64_t block_tokens, int64_t p, int64_t span, int64_t *run) {
    if (!blocks) {
        *run = span - p;
        return p;
    }
    int64_t left = block_tokens - p % block_tokens;
    *run = span - p < left ? span - p : left;
    return (int64_t)blocks[p / block_tokens] * block_tokens + p % block_tokens;
}

/// Activations for the int8 kernels (DESIGN 3.3): each token row's blocks of 32 values quantized to int8 with step
/// d = max|x| / 127 (q = round-to-nearest-even(x * 127 / max|x|)). With `q2` (else NULL), the residual x - d*q too,
/// at step d/256: x = d*q + d/256*q2 to within max|x|/65000, which keeps logprobs within ~1e-4 of fp32 activations.
/// dx is the step of the combined value (d, or d/256 for 256*q + q2) and sx = dx * sum(combined values), for the
/// weights' offsets. q, q2: [nt, k]; dx, sx: [nt, k / 32]. Every level gives the same bytes.
typedef void (*tk_quantize_fn)(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2, float *dx,
                               float *sx);
void tk_quantize_rows_generic(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2, float *dx,
                              float *sx);
void tk_quantize_rows_avx2(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2, float *dx,
                           float *sx);
void tk_quantize_rows_avx512(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2, float *dx,
                             float *sx);

/// hs[t*(k/16) + i] = the sum of activations 16i..16i+15 of token t (256*q + q2 with the residual): what the signed
/// layouts stored above their values (IQ4_NL's, Q6_K's) take off their products, once per matmul for every panel.
void tk_half_sums(const int8_t *q, const int8_t *q2, int64_t nt, int64_t k, int32_t *hs);
/// Whether panel layout `type` needs tk_half_sums' sums.
int tk_needs_half_sums(int type);

/// y[t*ldy + r] = W[r] . x[t] for a panel-layout W (TK_PANEL_*, tk_types.h), rows r0..<r1 (multiples of 16), from
/// activations quantized by tk_quantize_fn (q2 NULL or not, as quantized). Per block b: y = fma((float)I, d*dx, y)
/// then y = fma(m, sx, y), I the exact integer dot product of the block with q (or 256*q + q2); for the signed kinds,
/// y = fma((float)I_lo, d*dx, y) then y = fma((float)I_hi, m*dx, y) over the two 16-column halves. The same
/// operations in the same order at every level and for any nt, so every level gives the same bits and a row's result
/// does not depend on the batch. The AVX2 kernel takes every layout but TK_PANEL_Q8_0 (VNNI's) at speed.
typedef void (*tk_matmul_q8_fn)(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                                const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                                float *y, int64_t ldy);
void tk_matmul_q8_rows_generic(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                               const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                               float *y, int64_t ldy);
void tk_matmul_q8_rows_avx2(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                            const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                            float *y, int64_t ldy);
void tk_matmul_q8_rows_avx512(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                              const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                              float *y, int64_t ldy);

/// One sequence's use of one adapter on one projection (DESIGN 3.4), for rows [row0, row0 + rows) of x and y.
typedef struct {
    const void *a;      ///< [rank, k] of `type`
    const void *bt;     ///< [rank, n] of `type` (B transposed), the adapter's scale folded in
    const float *dora;  ///< [n] DoRA row factors, or NULL
    int64_t row0, rows;
    int32_t rank, type; ///< type: TK_F32 or TK_F16
    float weight;       ///< the sequence's weight for this adapter (1 for DoRA)
} tk_lora_item;

/// Value i of a LoRA factor stored as `type` (TK_F32 or TK_F16).
static inline float tk_lora_value(const void *m, int type, int64_t i) {
    return type == TK_F16 ? tk_fp16_to_fp32(((const uint16_t *)m)[i]) : ((const float *)m)[i];
}

/// Adds LoRA deltas to rows [r0, r1) of y ([., n], ldy) from x ([., k], ldx): for each item in order, for each of
/// its rows in range, t = A x[r], then y[r] = y[r] + sum_j (weight * t[j]) * Bt[j] (j in order), then for DoRA
/// y[r] = dora * y[r]. A row's numbers depend only on that row and its items, never on the other rows, the range or
/// the thread. `scratch` holds the largest rank's floats.
typedef void (*tk_lora_fn)(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                           int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch);
void tk_lora_rows_generic(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                          int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch);
void tk_lora_rows_avx2(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                       int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch);
void tk_lora_rows_avx512(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                         int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch);

/// y[i] = fp16(x[i]), rounding to nearest even (finite inputs; every level gives the same bits).
typedef void (*tk_to_fp16_fn)(const float *x, uint16_t *y, int64_t n);
void tk_to_fp16_generic(const float *x, uint16_t *y, int64_t n);
void tk_to_fp16_avx2(const float *x, uint16_t *y, int64_t n);
void tk_to_fp16_avx512(const float *x, uint16_t *y, int64_t n);

typedef struct {
    int level;
    /// Whether the int8 kernels are VNNI ones (unsigned 8-bit weight layouts; see tk_repacked_type).
    int vnni;
    tk_matmul_fn matmul_rows;
    tk_quantize_fn quantize_rows;
    tk_matmul_q8_fn matmul_q8_rows;
    void (*rmsnorm)(const float *x, const float *w, float *y, int64_t n, float eps);
    void (*silu_mul)(float *gate, const float *up, int64_t n);
    void (*silu_mul_backward)(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
    void (*gelu_mul)(float *gate, const float *up, int64_t n);
    void (*gelu_mul_backward)(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n);
    double (*log_softmax_row)(float *x, int64_t n, float scale);
    tk_attention_fn attention;
    tk_lora_fn lora_rows;
    tk_to_fp16_fn to_fp16;
} tk_ops;

/// The level's attention kernel when it handles this head size and grouping, else the generic one.
tk_attention_fn tk_attention_for(const tk_ops *ops, int heads, int kv_heads, int hd);

/// The kernels of `level`, or of the best level below it that this build has.
const tk_ops *tk_ops_for(int level);

#endif
