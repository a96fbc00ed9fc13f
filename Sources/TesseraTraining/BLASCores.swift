import COpenBLAS
import Foundation
import TesseraKernels

/// OpenBLAS picks its kernels once, as it loads, from the CPU's model number. On a CPU it does not know (a virtual
/// machine's "Intel Xeon Processor") it falls back to Prescott's SSE3 kernels, which measured 3x slower training here
/// than its SkylakeX ones on the same AVX-512 machine. It reads `OPENBLAS_CORETYPE` only while loading, so when that
/// happened and our own dispatch (DESIGN 3.3) sees AVX2 or AVX-512, the process starts itself again with the core
/// named; `TESSERA_CPU` then picks OpenBLAS's level too.
public enum BLASCores {
    /// Cores without AVX, what OpenBLAS falls back to.
    static let preAVX: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
                                     "coppermine", "northwood", "banias", "athlon", "opteron", "barcelona", "bobcat"]

    /// The core OpenBLAS chose.
    public static var selected: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Restarts the process (same arguments and environment, plus OPENBLAS_CORETYPE) when OpenBLAS fell back to a
    /// pre-AVX core on a CPU with AVX2 or AVX-512; returns otherwise.
    public static func restartIfUndetected() {
        guard getenv("OPENBLAS_CORETYPE") == nil, preAVX.contains(selected.lowercased()) else { return }
        let core: String
        switch CPULevel.selected {
        case .avx512: core = "SkylakeX"
        case .avx2: core = "Haswell"
        default: return
        }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: it failed; go on with the slow kernels rather than not at all.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
