#include "tk_kernels.h"
#include <math.h>
#include <string.h>

static void axpy(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void tk_silu_mul_generic(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void tk_silu_mul_backward_generic(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        dg[i] = da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = da[i] * g[i] * s;
    }
}

/// exp(-2y) of gelu's sigmoid form, its argument clamped as the SIMD exps clamp theirs (so that e * s stays finite).
static inline float gelu_exp(float g) {
    float z = g * (TK_GELU_A + TK_GELU_B * g * g);
    return expf(fminf(fmaxf(z, -TK_EXP_LIMIT), TK_EXP_LIMIT));
}

void tk_gelu_mul_generic(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + gelu_exp(gate[i])) * up[i];
}

void tk_gelu_mul_backward_generic(const float *g, const float *u, const float *da, float *dg, float *du, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float x = g[i], e = gelu_exp(x), s = 1.0f / (1.0f + e);
        float xc = fminf(fmaxf(x, -100.0f), 100.0f);
        dg[i] = da[i] * u[i] * (s * (1.0f + xc * (e * s) * (TK_GELU_D + TK_GELU_E * xc * xc)));
        du[i] = da[i] * x * s;
    }
}

double tk_log_softmax_row_generic(float *x, int64_t n, float scale) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    if (scale != 0) {
        float f = (float)(scale / sum);
        for (int64_t i = 0; i < n; i++) x[i] *= f;
    }
    return m + log(sum);
}

void tk_add(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static const tk_ops generic_ops = {TK_LEVEL_GENERIC, 0, tk_matmul_rows_generic, tk_quantize_rows_generic,
                                   tk_matmul_q8_rows_generic, tk_rmsnorm_generic, tk_silu_mul_generic,
                                   tk_silu_mul_backward_generic, tk_gelu_mul_generic, tk_gelu_mul_backward_generic,
                                   tk_log_softmax_row_generic, tk_attention_generic, tk_lora_rows_generic,
                                   tk_to_fp16_generic};
#if defined(__x86_64__)
// AVX-512 without VNNI takes AVX2's int8 kernels (vpmaddubsw), and their layouts.
static const tk_ops avx2_ops = {TK_LEVEL_AVX2, 0, tk_matmul_rows_avx2, tk_quantize_rows_avx2,
                                tk_matmul_q8_rows_avx2, tk_rmsnorm_avx2, tk_silu_mul_avx2,
                                tk_silu_mul_backward_avx2, tk_gelu_mul_avx2, tk_gelu_mul_backward_avx2,
                                tk_log_softmax_row_avx2, tk_attention_avx2, tk_lora_rows_avx2, tk_to_fp16_avx2};
static const tk_ops avx512_ops = {TK_LEVEL_AVX512, 0, tk_matmul_rows_avx512, tk_quantize_rows_avx2,
                                  tk_matmul_q8_rows_avx2, tk_rmsnorm_avx512, tk_silu_mul_avx512,
                                  tk_silu_mul_backward_avx512, tk_gelu_mul_avx512, tk_gelu_mul_backward_avx512,
                                  tk_log_softmax_row_avx512, tk_attention_avx512, tk_lora_rows_avx512,
                                  tk_to_fp16_avx512};
static const tk_ops avx512_vnni_ops = {TK_LEVEL_AVX512, 1, tk_matmul_rows_avx512, tk_quantize_rows_avx512,
                                       tk_matmul_q8_rows_avx512, tk_rmsnorm_avx512, tk_silu_mul_avx512,
                                       tk_silu_mul_backward_avx512, tk_gelu_mul_avx512, tk_gelu_mul_backward_avx512,
                                       tk_log_softmax_row_avx512, tk_attention_avx512, tk_lora_rows_avx512,
                                       tk_to_fp16_avx512};
#endif

const tk_ops *tk_ops_for(int level) {
#if defined(__x86_64__)
    if (level >= TK_LEVEL_AVX512) return tk_cpu_has_vnni() ? &avx512_vnni_ops : &avx512_ops;
    if (level == TK_LEVEL_AVX2) return &avx2_ops;
#endif
    (void)level;
    return &generic_ops;
}

/// The n values at element `at` of a cache of kv_type values, as floats: in place for fp32, widened into `buffer`
/// for fp16.
static const float *kv_row(const void *kv, int kv_type, int64_t at, int64_t n, float *buffer) {
    if (kv_type != TK_F16) return (const float *)kv + at;
    const uint16_t *h = (const uint16_t *)kv + at;
    for (int64_t i = 0; i < n; i++) buffer[i] = tk_fp16_to_fp32(h[i]);
    return buffer;
}

void tk_attention_generic(const float *q, int64_t start, const void *keys, const void *values, int kv_type,
                          const int32_t *blocks, int64_t block_tokens, int heads, int kv_heads, int hd, float scale,
                          int64_t window, int64_t i0, int64_t i1, int64_t stride, float *out, float *scores) {
    const int group = heads / kv_heads;
    const int64_t q_width = (int64_t)heads * hd, kv_width = (int64_t)kv_heads * hd;
    float row[hd];
    for (int64_t item = i0; item < i1; item += stride) {
        int64_t r = item / kv_heads, span = start + r + 1, lo = tk_window_first(span, window);
        int g = (int)(item % kv_heads);
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *qr = q + r * q_width + (int64_t)h * hd;
            float max_score = -INFINITY;
            // scores[p - lo] for the row's positions lo..<span.
            for (int64_t p = lo, run; p < span; p += run) {
                const int64_t at = tk_kv_run(blocks, block_tokens, p, span, &run) * kv_width + (int64_t)g * hd;
                for (int64_t i = 0; i < run; i++) {
                    const float *k = kv_row(keys, kv_type, at + i * kv_width, hd, row);
                    float s = tk_dot_f32_generic(qr, k, hd) * scale;
                    scores[p - lo + i] = s;
                    if (s > max_score) max_score = s;
                }
            }
            float sum = 0;
            for (int64_t p = 0; p < span - lo; p++) {
                float e = expf(scores[p] - max_score);
                scores[p] = e;
                sum += e;
            }
            float *o = out + r * q_width + (int64_t)h * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            float inv = 1.0f / sum;
            for (int64_t p = lo, run; p < span; p += run) {
                const int64_t at = tk_kv_run(blocks, block_tokens, p, span, &run) * kv_width + (int64_t)g * hd;
                for (int64_t i = 0; i < run; i++)
                    axpy(scores[p - lo + i] * inv, kv_row(values, kv_type, at + i * kv_width, hd, row), o, hd);
            }
        }
    }
}

tk_attention_fn tk_attention_for(const tk_ops *ops, int heads, int kv_heads, int hd) {
    // hd 256 (Gemma 3) takes the group's heads in sub-groups of at most 8 at both levels, so any grouping.
    if (ops->level >= TK_LEVEL_AVX512 && (((hd == 64 || hd == 128) && heads / kv_heads <= 8) || hd == 256))
        return ops->attention;
    if (ops->level == TK_LEVEL_AVX2 && (hd == 64 || hd == 128 || hd == 256)) return ops->attention;
    return tk_attention_generic;
}
