import CKernels

/// Weight memory the process owns (as opposed to a view into a mapped file), aligned for vector loads.
public final class OwnedWeights: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let bytes: Int

    public init(bytes: Int) {
        self.bytes = bytes
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}

extension WeightMatrix {
    /// A copy in the layout the kernels of `level` run fastest on, or nil when the stored layout is already the one
    /// to use. AVX-512: Q4_0, Q4_1 and Q8_0 go into the int8 kernels' 16-row panels when activations are quantized
    /// (rows permitting); otherwise Q4_1 gets fp32 scales (F32S: the scales become plain loads, +15% matmul speed
    /// for one token). The weights' values are those of the stored layout.
    public func repacked(
        for level: CPULevel = .selected, activations: ActivationPrecision = .selected
    ) -> (WeightMatrix, OwnedWeights)? {
        guard level == .avx512 else { return nil }
        let target = tk_repacked_type(type, Int64(rows), activations.usesPanels ? 1 : 0)
        guard target != type, let out = WeightMatrix(type: target, rows: rows, columns: columns, base: base) else { return nil }
        let buffer = OwnedWeights(bytes: rows * out.rowBytes)
        guard tk_repack(type, target, base, buffer.pointer, Int64(rows), Int64(columns)) != 0 else { return nil }
        return (WeightMatrix(type: target, rows: rows, columns: columns, base: UnsafeRawPointer(buffer.pointer))!, buffer)
    }
}
