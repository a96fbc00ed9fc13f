import CKernels

/// A read-only view of a row-major weight matrix in one of the kernel element formats.
/// The memory belongs to someone else (usually a memory-mapped GGUF file) and must outlive the view.
public struct WeightMatrix: @unchecked Sendable {
    /// GGML type id of the elements (`tk_type`).
    public let type: Int32
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    public let base: UnsafeRawPointer

    /// Fails when the type is unknown to the kernels or `columns` is not a whole number of blocks.
    public init?(type: Int32, rows: Int, columns: Int, base: UnsafeRawPointer) {
        let values = Int(tk_block_values(type)), bytes = Int(tk_block_bytes(type))
        guard values > 0, columns % values == 0 else { return nil }
        self.type = type
        self.rows = rows
        self.columns = columns
        self.rowBytes = columns / values * bytes
        self.base = base
    }

    /// Whether rows are interleaved in panels of 16 (the int8 kernels' layouts), so that `row` has no meaning.
    public var isPanelLayout: Bool { tk_is_panel_type(type) != 0 }

    /// Row `r`'s bytes; not for panel layouts.
    public func row(_ r: Int) -> UnsafeRawPointer {
        precondition(!isPanelLayout, "rows of a panel layout are interleaved")
        return base + r * rowBytes
    }

    /// Dequantizes row `r` into `out` (`columns` floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        if isPanelLayout {
            tk_dequantize_panel_row(type, base, Int64(r), out, Int64(columns))
        } else {
            tk_dequantize_row_generic(type, row(r), out, Int64(columns))
        }
    }
}
