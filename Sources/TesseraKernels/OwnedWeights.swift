#if canImport(Glibc)
import Glibc
#endif
import CKernels
import Synchronization

/// Weight memory the process owns (as opposed to a view into a mapped file), aligned for vector loads.
/// Buffers of 1 MiB and more are mappings in whole 2 MiB huge pages, populated in one call, and recycled through
/// `MappingPool` when freed: adapters come and go all day, and fresh pages cost a clear and an accounting each
/// (about 2 µs per 4 KiB page in a VM), which would be most of an adapter's cold load.
public final class OwnedWeights: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let bytes: Int
    private let mappedBytes: Int  // 0: from the allocator

    public init(bytes: Int) {
        self.bytes = bytes
        if bytes >= 1 << 20, let (p, size) = MappingPool.shared.take(bytes) {
            pointer = p
            mappedBytes = size
            return
        }
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        mappedBytes = 0
    }

    deinit {
        if mappedBytes > 0 { MappingPool.shared.give(pointer, mappedBytes) } else { pointer.deallocate() }
    }
}

/// Freed large weight buffers kept for reuse, up to a byte cap, by size in whole huge pages.
final class MappingPool: Sendable {
    static let shared = MappingPool(capBytes: 256 << 20)
    static let hugePage = 2 << 20

    private struct Free {
        var bySize: [Int: [UInt]] = [:]  // addresses: plain values, so the state is Sendable
        var bytes = 0
    }

    private let capBytes: Int
    private let free = Mutex<Free>(Free())

    init(capBytes: Int) {
        self.capBytes = capBytes
    }

    /// A mapping of at least `bytes`, and its size.
    func take(_ bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
        let size = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
        let reused = free.withLock { f -> UInt? in
            guard let p = f.bySize[size]?.popLast() else { return nil }
            f.bytes -= size
            return p
        }
        if let reused, let p = UnsafeMutableRawPointer(bitPattern: reused) { return (p, size) }
        #if os(Linux)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return nil
        }
        madvise(p, size, MADV_HUGEPAGE)
        madvise(p, size, 23)  // MADV_POPULATE_WRITE (Linux 5.14); older kernels fault pages in on first touch
        return (p, size)
        #else
        return nil
        #endif
    }

    func give(_ p: UnsafeMutableRawPointer, _ size: Int) {
        let address = UInt(bitPattern: p)
        let kept = free.withLock { f -> Bool in
            guard f.bytes + size <= capBytes else { return false }
            f.bySize[size, default: []].append(address)
            f.bytes += size
            return true
        }
        if !kept { munmap(p, size) }
    }
}

extension WeightMatrix {
    /// A copy in the layout the kernels of `level` run fastest on, or nil when the stored layout is already the one
    /// to use. With quantized activations, every quantized type goes into the int8 kernels' 16-row panels (rows
    /// permitting; DESIGN 3.3), in the layouts of the level's int8 kernels (VNNI or vpmaddubsw). With fp32 ones,
    /// AVX-512 gives Q4_1 fp32 scales (F32S: the scales become plain loads, +15% matmul speed for one token). The
    /// weights' values are those of the stored layout.
    public func repacked(
        for level: CPULevel = .selected, activations: ActivationPrecision = .selected
    ) -> (WeightMatrix, OwnedWeights)? {
        guard level != .generic else { return nil }
        var target = activations.usesPanels ? tk_repacked_type(type, Int64(rows), 1, level.ops.pointee.vnni) : type
        if tk_is_panel_type(target) == 0 { target = tk_repacked_type(type, Int64(rows), 0, level == .avx512 ? 1 : 0) }
        guard target != type, let out = WeightMatrix(type: target, rows: rows, columns: columns, base: base) else { return nil }
        let buffer = OwnedWeights(bytes: rows * out.rowBytes)
        guard tk_repack(type, target, base, buffer.pointer, Int64(rows), Int64(columns)) != 0 else { return nil }
        return (WeightMatrix(type: target, rows: rows, columns: columns, base: UnsafeRawPointer(buffer.pointer))!, buffer)
    }
}
