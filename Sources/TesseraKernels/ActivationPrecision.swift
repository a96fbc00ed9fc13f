import CKernels
import Foundation

/// How activations enter the weight matmuls (DESIGN 3.3).
public enum ActivationPrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Quantized per block of 32 to int8 and multiplied with VNNI integer dot products, as llama.cpp does: the
    /// fastest; logprobs move from the fp32 reference about as much as llama.cpp's do (0.05 nats per token).
    case int8
    /// int8 plus the int8 residual (about 16-bit activations), two VNNI dot products per weight: logprobs within
    /// ~1e-4 nats of fp32 activations. The default where VNNI is present.
    case int16
    /// Kept in fp32 against the dequantized weights: the exact path (and the only one without AVX-512 VNNI).
    case fp32

    /// int16 where the selected kernels are AVX-512 and the CPU has VNNI, else fp32; `TESSERA_ACTIVATIONS` chooses.
    public static let selected: ActivationPrecision = {
        let vnni = CPULevel.selected == .avx512 && tk_cpu_has_vnni() != 0
        guard let env = ProcessInfo.processInfo.environment["TESSERA_ACTIVATIONS"], !env.isEmpty else {
            return vnni ? .int16 : .fp32
        }
        guard let wanted = ActivationPrecision(rawValue: env) else {
            FileHandle.standardError.write(Data("TESSERA_ACTIVATIONS=\(env) is not one of int8, int16, fp32; using the default\n".utf8))
            return vnni ? .int16 : .fp32
        }
        guard wanted == .fp32 || vnni else {
            FileHandle.standardError.write(Data("TESSERA_ACTIVATIONS=\(env) needs AVX-512 VNNI; using fp32\n".utf8))
            return .fp32
        }
        return wanted
    }()

    /// Whether weights go into the int8 kernels' panel layouts.
    public var usesPanels: Bool { self != .fp32 }

    public var description: String { rawValue }
}
