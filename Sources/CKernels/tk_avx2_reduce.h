// Horizontal reductions of 8-lane AVX2 registers, shared by the AVX2 kernel files (private to CKernels).
#ifndef TK_AVX2_REDUCE_H
#define TK_AVX2_REDUCE_H
#if defined(__x86_64__)
#include <immintrin.h>

#define TK_AVX2_REDUCE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

TK_AVX2_REDUCE float tk_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TK_AVX2_REDUCE float tk_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TK_AVX2_REDUCE int tk_hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

#undef TK_AVX2_REDUCE
#endif
#endif
