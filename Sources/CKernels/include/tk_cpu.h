#ifndef TK_CPU_H
#define TK_CPU_H
// Run-time CPU feature detection (cpuid + xgetbv) and the kernel level chosen from it.

typedef enum { TK_LEVEL_GENERIC = 0, TK_LEVEL_AVX2 = 1, TK_LEVEL_AVX512 = 2 } tk_level;

/// The best level this CPU and OS support (the OS must save the wider registers, which xgetbv tells).
int tk_cpu_best_level(void);
/// Whether the CPU has AVX-512 VNNI (vpdpbusd), which the int8 kernels need (on top of TK_LEVEL_AVX512).
int tk_cpu_has_vnni(void);

#endif
