// The int8 formulation (DESIGN 3.3) in portable C: the reference the VNNI kernels must match bit for bit.
#include "tk_kernels.h"
#include <math.h>
#include <string.h>

static int8_t saturate8(long v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }

void tk_quantize_rows_generic(const float *x, int64_t ldx, int64_t nt, int64_t k, int8_t *q, int8_t *q2, float *dx,
                              float *sx) {
    const int64_t nb = k / TK_QK;
    for (int64_t t = 0; t < nt; t++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *v = x + t * ldx + b * TK_QK;
            const int64_t at = t * k + b * TK_QK;
            float amax = 0;
            for (int i = 0; i < TK_QK; i++) amax = fmaxf(amax, fabsf(v[i]));
            const float id = amax > 0 ? 127.0f / amax : 0.0f, d = amax / 127.0f;
            int sum = 0, sum2 = 0;
            for (int i = 0; i < TK_QK; i++) {
                q[at + i] = saturate8(lrintf(v[i] * id));
                sum += q[at + i];
                if (q2) {
                    float residual = v[i] - (float)q[at + i] * d;
                    q2[at + i] = saturate8(lrintf(residual * (id * 256.0f)));
                    sum2 += q2[at + i];
                }
            }
            dx[t * nb + b] = q2 ? d / 256.0f : d;
            sx[t * nb + b] = dx[t * nb + b] * (float)(q2 ? 256 * sum + sum2 : sum);
        }
    }
}

/// The exact integer dot product of columns [c0, c1) of one panel block row with quantized activations (combined
/// with the residual as 256*q + q2 when there is one).
static int32_t block_dot(int kind, const uint8_t *values, int lane, const int8_t *qb, const int8_t *rb, int c0, int c1) {
    int32_t dot = 0, dot2 = 0;
    for (int c = c0; c < c1; c++) dot += tk_panel_value(kind, values, lane, c) * qb[c];
    if (!rb) return dot;
    for (int c = c0; c < c1; c++) dot2 += tk_panel_value(kind, values, lane, c) * rb[c];
    return dot * 256 + dot2;
}

void tk_half_sums(const int8_t *q, const int8_t *q2, int64_t nt, int64_t k, int32_t *hs) {
    for (int64_t i = 0; i < nt * k / 16; i++) {
        int32_t sum = 0, sum2 = 0;
        for (int j = 0; j < 16; j++) sum += q[16 * i + j];
        if (q2) for (int j = 0; j < 16; j++) sum2 += q2[16 * i + j];
        hs[i] = q2 ? 256 * sum + sum2 : sum;
    }
}

int tk_needs_half_sums(int type) { return type == TK_PANEL_IQ4_NL || type == TK_PANEL_Q6_K; }

void tk_matmul_q8_rows_generic(int type, const void *w, int64_t k, int64_t r0, int64_t r1, const int8_t *q,
                               const int8_t *q2, const float *dx, const float *sx, const int32_t *hs, int64_t nt,
                               float *y, int64_t ldy) {
    (void)hs;  // the twin multiplies the signed values themselves
    const int64_t nb = k / TK_QK;
    const tk_panel_layout l = tk_panel_layout_of(type);
    const int is_signed = tk_panel_is_signed(l.values);
    for (int64_t r = r0; r < r1; r++) {
        const int lane = (int)(r % TK_PANEL);
        const uint8_t *panel = (const uint8_t *)w + (r / TK_PANEL) * tk_panel_bytes(type, k);
        for (int64_t t = 0; t < nt; t++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *values = panel + tk_panel_block_offset(l, b) + l.header_bytes;
                const int8_t *qb = q + t * k + b * TK_QK, *rb = q2 ? q2 + t * k + b * TK_QK : NULL;
                float d, m;
                tk_panel_scales(type, panel, b, lane, &d, &m);
                if (is_signed) {
                    // Two 16-column halves, each with its own scale; no offset.
                    acc = fmaf((float)block_dot(l.values, values, lane, qb, rb, 0, 16), d * dx[t * nb + b], acc);
                    acc = fmaf((float)block_dot(l.values, values, lane, qb, rb, 16, 32), m * dx[t * nb + b], acc);
                } else {
                    acc = fmaf((float)block_dot(l.values, values, lane, qb, rb, 0, 32), d * dx[t * nb + b], acc);
                    acc = fmaf(m, sx[t * nb + b], acc);
                }
            }
            y[t * ldy + r] = acc;
        }
    }
}
