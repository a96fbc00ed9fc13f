import CKernels
import Foundation

/// How activations enter the weight matmuls (DESIGN 3.3).
public enum ActivationPrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Quantized per block of 32 to int8 and multiplied with integer dot products (VNNI's vpdpbusd, or AVX2's
    /// vpmaddubsw), as llama.cpp does: the fastest; logprobs move from the fp32 reference about as much as
    /// llama.cpp's do (0.05 nats per token).
    case int8
    /// int8 plus the int8 residual (about 16-bit activations), two integer dot products per weight: logprobs within
    /// ~3e-4 nats of fp32 activations. The default at the AVX2 and AVX-512 levels.
    case int16
    /// Kept in fp32 against the dequantized weights: the exact path (and the generic level's).
    case fp32

    /// int16 at the SIMD levels, fp32 at the generic one; `TESSERA_ACTIVATIONS` chooses.
    public static let selected: ActivationPrecision = {
        let integer = CPULevel.selected != .generic
        guard let env = ProcessInfo.processInfo.environment["TESSERA_ACTIVATIONS"], !env.isEmpty else {
            return integer ? .int16 : .fp32
        }
        guard let wanted = ActivationPrecision(rawValue: env) else {
            FileHandle.standardError.write(Data("TESSERA_ACTIVATIONS=\(env) is not one of int8, int16, fp32; using the default\n".utf8))
            return integer ? .int16 : .fp32
        }
        guard wanted == .fp32 || integer else {
            FileHandle.standardError.write(Data("TESSERA_ACTIVATIONS=\(env) needs the avx2 or avx512 level; using fp32\n".utf8))
            return .fp32
        }
        return wanted
    }()

    /// Whether weights go into the int8 kernels' panel layouts.
    public var usesPanels: Bool { self != .fp32 }

    public var description: String { rawValue }
}
