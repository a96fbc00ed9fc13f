import CKernels

/// Conversions of 16-bit floats that do not depend on the platform's Float16 support.
public enum Half {
    public static func float(fromFP16 bits: UInt16) -> Float { tk_fp16_to_fp32(bits) }
    public static func fp16(from value: Float) -> UInt16 { tk_fp32_to_fp16(value) }
    public static func float(fromBF16 bits: UInt16) -> Float { tk_bf16_to_fp32(bits) }
}
