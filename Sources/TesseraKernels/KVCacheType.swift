import CKernels

/// How the KV cache stores keys and values (`--kv-cache-dtype`; llama.cpp's names). Attention widens what it reads
/// to fp32 and computes the same way for both.
public enum KVCacheType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 16-bit floats, as every serving peer keeps them: half the bytes per position, so twice the sequences in a
    /// budget and half the bytes long contexts stream. Logprobs move by ~1e-4-1e-3 nats from an fp32 cache.
    case f16
    /// 32-bit floats: the exact path the parity fixtures are held to.
    case fp32

    /// What a cache stores unless told otherwise.
    public static let standard = KVCacheType.f16

    /// Bytes per stored value.
    public var bytes: Int { self == .f16 ? 2 : 4 }

    /// The kernels' type id (tk_type).
    public var kernelType: Int32 { Int32(self == .f16 ? TK_F16.rawValue : TK_F32.rawValue) }

    public var description: String { rawValue }
}
