#include "tk_cpu.h"
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int tk_cpu_best_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return TK_LEVEL_GENERIC;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return TK_LEVEL_GENERIC;
    uint64_t xcr0 = xgetbv0();
    int ymm_saved = (xcr0 & 0x6) == 0x6;
    int zmm_saved = (xcr0 & 0xe6) == 0xe6;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return TK_LEVEL_GENERIC;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    if (avx512f && avx512bw && avx512vl && fma && zmm_saved) return TK_LEVEL_AVX512;
    if (avx2 && fma && f16c && ymm_saved) return TK_LEVEL_AVX2;
    return TK_LEVEL_GENERIC;
}

static int detect_vnni(void) {
    unsigned a, b, c, d;
    if (tk_cpu_best_level() < TK_LEVEL_AVX512 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (c >> 11) & 1;
}

int tk_cpu_has_vnni(void) {
    // cpuid traps to the hypervisor in a VM (microseconds), and kernel dispatch asks on every call: ask once.
    static _Atomic int cached = -1;
    int v = cached;
    if (v < 0) cached = v = detect_vnni();
    return v;
}
#else
int tk_cpu_best_level(void) { return TK_LEVEL_GENERIC; }
int tk_cpu_has_vnni(void) { return 0; }
#endif
