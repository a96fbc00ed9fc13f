import CZstd
import Foundation

/// Whole-buffer zstd through libzstd, with the decompressed size bounded before anything is allocated (DESIGN 3.10).
enum Zstd {
    /// One frame with its content size and a checksum (verified on decompression: a damaged file is an error,
    /// never silently different weights).
    static func compress(_ data: Data, level: Int32 = 3) -> Data {
        let bound = ZSTD_compressBound(data.count)
        var out = Data(count: bound)
        let cctx = ZSTD_createCCtx()
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        let written = out.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in ZSTD_compress2(cctx, dst.baseAddress, bound, src.baseAddress, data.count) }
        }
        precondition(ZSTD_isError(written) == 0, "zstd compression cannot fail with a bound-sized buffer")
        out.count = written
        return out
    }

    /// Bytes of the first frame in `data`, or 0 when it is not a complete zstd frame.
    static func frameSize(_ data: UnsafeRawBufferPointer) -> Int {
        let n = ZSTD_findFrameCompressedSize(data.baseAddress, data.count)
        return ZSTD_isError(n) != 0 ? 0 : n
    }

    /// Decompresses one frame of exactly `size` bytes into `out`.
    static func decompress(_ data: UnsafeRawBufferPointer, into out: UnsafeMutableRawPointer, size: Int, name: String) throws(AdapterError) {
        let stated = ZSTD_getFrameContentSize(data.baseAddress, data.count)
        guard stated == UInt64(size) else { throw AdapterError("\(name): the weights frame holds \(stated) bytes, the header says \(size)") }
        let n = ZSTD_decompress(out, size, data.baseAddress, data.count)
        guard ZSTD_isError(n) == 0, n == size else {
            throw AdapterError("\(name): corrupt zstd data (\(String(cString: ZSTD_getErrorName(n))))")
        }
    }

    /// Decompresses a single frame whose header states its size, refusing anything over `limit` bytes.
    static func decompress(_ data: UnsafeRawBufferPointer, limit: Int, name: String) throws(AdapterError) -> Data {
        let size = ZSTD_getFrameContentSize(data.baseAddress, data.count)
        guard size != ZSTD_CONTENTSIZE_ERROR else { throw AdapterError("\(name): not a zstd frame") }
        guard size != ZSTD_CONTENTSIZE_UNKNOWN else { throw AdapterError("\(name): zstd frame without a content size") }
        guard size <= UInt64(limit) else { throw AdapterError("\(name): decompresses to \(size) bytes, over the limit of \(limit)") }
        var out = Data(count: Int(size))
        let n = out.withUnsafeMutableBytes { dst in ZSTD_decompress(dst.baseAddress, Int(size), data.baseAddress, data.count) }
        guard ZSTD_isError(n) == 0, n == Int(size) else {
            throw AdapterError("\(name): corrupt zstd data (\(String(cString: ZSTD_getErrorName(n))))")
        }
        return out
    }
}
