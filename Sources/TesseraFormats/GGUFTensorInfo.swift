/// Where one tensor lives in a GGUF file and what shape it has.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions innermost first, as GGUF stores them: a [rows, columns] matrix is `[columns, rows]`.
    public let dimensions: [Int]
    /// GGML type id as stored; `type` is nil when Tessera has no kernels for it.
    public let typeID: UInt32
    public let type: GGMLType?
    /// Offset from the start of the data section.
    public let offset: Int
    public let elementCount: Int
    /// Bytes of data, when the type is known.
    public let byteCount: Int?

    /// Shape in the usual outermost-first order, e.g. [rows, columns].
    public var shape: [Int] { dimensions.reversed() }
}
