import CKernels

/// Tensor element types of GGUF files (GGML's ids). Only the ones Tessera computes on are listed;
/// a file using another type is refused when that tensor is used.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q4_K = 12, q5_K = 13, q6_K = 14, iq4_NL = 20
    case bf16 = 30

    /// Values per block.
    public var blockValues: Int { Int(tk_block_values(Int32(rawValue))) }
    /// Bytes per block.
    public var blockBytes: Int { Int(tk_block_bytes(Int32(rawValue))) }

    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .iq4_NL: "IQ4_NL"
        case .q6_K: "Q6_K"
        case .bf16: "BF16"
        }
    }
}
