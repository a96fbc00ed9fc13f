#if canImport(Glibc)
import Glibc
#endif
import CKernels

/// Weight memory the process owns (as opposed to a view into a mapped file), aligned for vector loads.
/// Large buffers are mapped with their pages populated in one call: touching fresh pages one fault at a time costs
/// about 2 µs each in a VM, which would be most of an adapter's cold load.
public final class OwnedWeights: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let bytes: Int
    private let mapped: Bool

    public init(bytes: Int) {
        self.bytes = bytes
        #if os(Linux)
        if bytes >= 1 << 20, let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           p != MAP_FAILED {
            // Huge pages where the kernel allows them (2 MiB: 512 times fewer pages to clear and account), then every
            // page populated in one call.
            madvise(p, bytes, MADV_HUGEPAGE)
            madvise(p, bytes, 23)  // MADV_POPULATE_WRITE (Linux 5.14); older kernels fault pages in on first touch
            pointer = p
            mapped = true
            return
        }
        #endif
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        mapped = false
    }

    deinit {
        if mapped { munmap(pointer, bytes) } else { pointer.deallocate() }
    }
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
