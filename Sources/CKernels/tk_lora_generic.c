// Per-row LoRA deltas, portable C: the twin the AVX-512 kernel is tested against (tk_lora_avx512.c).
#include "tk_kernels.h"

void tk_lora_rows_generic(const tk_lora_item *items, int64_t n_items, int64_t r0, int64_t r1, const float *x,
                          int64_t ldx, int64_t k, float *y, int64_t ldy, int64_t n, float *scratch) {
    for (int64_t it = 0; it < n_items; it++) {
        const tk_lora_item *item = &items[it];
        const int64_t lo = item->row0 > r0 ? item->row0 : r0;
        const int64_t hi = item->row0 + item->rows < r1 ? item->row0 + item->rows : r1;
        for (int64_t r = lo; r < hi; r++) {
            const float *xr = x + r * ldx;
            float *yr = y + r * ldy;
            for (int j = 0; j < item->rank; j++) {
                float t = 0;
                for (int64_t c = 0; c < k; c++) t += tk_lora_value(item->a, item->type, j * k + c) * xr[c];
                scratch[j] = item->weight * t;
            }
            for (int64_t c = 0; c < n; c++) {
                float v = yr[c];
                for (int j = 0; j < item->rank; j++) v += scratch[j] * tk_lora_value(item->bt, item->type, j * n + c);
                yr[c] = item->dora ? item->dora[c] * v : v;
            }
        }
    }
}

void tk_to_fp16_generic(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = tk_fp32_to_fp16(x[i]);
}
