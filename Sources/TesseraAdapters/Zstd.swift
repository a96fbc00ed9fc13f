import CZstd
import Foundation

/// Whole-buffer zstd through libzstd, with the decompressed size bounded before anything is allocated (DESIGN 3.10).
enum Zstd {
    static func compress(_ data: Data, level: Int32 = 3) -> Data {
        let bound = ZSTD_compressBound(data.count)
        var out = Data(count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in ZSTD_compress(dst.baseAddress, bound, src.baseAddress, data.count, level) }
        }
        precondition(ZSTD_isError(written) == 0, "zstd compression cannot fail with a bound-sized buffer")
        out.count = written
        return out
    }

    /// Decompresses a single frame whose header states its size, refusing anything over `limit` bytes.
    static func decompress(_ data: Data, limit: Int, name: String) throws(AdapterError) -> Data {
        let size = data.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, data.count) }
        guard size != ZSTD_CONTENTSIZE_ERROR else { throw AdapterError("\(name): not a zstd frame") }
        guard size != ZSTD_CONTENTSIZE_UNKNOWN else { throw AdapterError("\(name): zstd frame without a content size") }
        guard size <= UInt64(limit) else { throw AdapterError("\(name): decompresses to \(size) bytes, over the limit of \(limit)") }
        var out = Data(count: Int(size))
        let n = out.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in ZSTD_decompress(dst.baseAddress, Int(size), src.baseAddress, data.count) }
        }
        guard ZSTD_isError(n) == 0, n == Int(size) else {
            throw AdapterError("\(name): corrupt zstd data (\(String(cString: ZSTD_getErrorName(n))))")
        }
        return out
    }
}
