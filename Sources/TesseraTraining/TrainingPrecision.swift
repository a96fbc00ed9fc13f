import TesseraKernels

/// How the trainer multiplies with the frozen base (`--precision`). The adapter, its gradients, the optimizer and
/// every other op are fp32 either way (DESIGN 3.12).
public enum TrainingPrecision: String, Sendable, CaseIterable {
    /// fp32 activations against dequantized tiles of the base, through OpenBLAS: the reference path.
    case fp32
    /// The serving kernels' int16 activations (int8 plus its int8 residual, per block of 32) against the base's own
    /// 4-to-8-bit blocks, and in backward against an int8 transpose of them: the gradients stay within ~1e-3 of
    /// fp32's, at the integer kernels' throughput on AVX2 and AVX-512 alike.
    case int16

    /// int16 where the integer kernels exist (the AVX2 and AVX-512 levels), else fp32.
    public static var auto: TrainingPrecision { CPULevel.selected == .generic ? .fp32 : .int16 }
}
