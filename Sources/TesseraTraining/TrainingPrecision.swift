import TesseraKernels

/// How the trainer multiplies with the frozen base (`--precision`). The adapter, its gradients, the optimizer and
/// every other op are fp32 either way, and so are the backward products (dX = dY·W on fp32 tiles), DESIGN 3.12.
public enum TrainingPrecision: String, Sendable, CaseIterable {
    /// fp32 activations against dequantized tiles of the base, through OpenBLAS: the reference path.
    case fp32
    /// The serving kernels' int16 activations (int8 plus its int8 residual, per block of 32) against the base's own
    /// 4-to-8-bit blocks in the forward products: the update stays within ~3e-3 of fp32's. It is two int8 products
    /// per weight, which VNNI's vpdpbusd makes cheaper than fp32 FMAs but AVX2's vpmaddubsw does not: measured 6%
    /// slower than fp32 at the AVX2 level. (int8 activations alone were measured too: 0.1-0.9 relative error in
    /// the update, far outside 3e-2, because the error of every forward product reaches the gradients.)
    case int16

    /// The default: int16 where VNNI makes it faster (AVX-512), fp32 elsewhere.
    public static var auto: TrainingPrecision { CPULevel.selected == .avx512 ? .int16 : .fp32 }
}
