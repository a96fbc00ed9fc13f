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

    public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    /// Dequantizes row `r` into `out` (`columns` floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        tk_dequantize_row_generic(type, row(r), out, Int64(columns))
    }
}
