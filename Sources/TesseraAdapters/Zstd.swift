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

    /// Any zstd stream (frames without a stated size too, as `tar --zstd` writes), stopping with an error as soon
    /// as the output would pass `limit`: a small upload cannot make the server allocate more than that.
    static func decompressStream(_ data: Data, limit: Int, name: String) throws(AdapterError) -> Data {
        let dctx = ZSTD_createDCtx()
        defer { ZSTD_freeDCtx(dctx) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var failure: AdapterError?
        data.withUnsafeBytes { src in
            var input = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            var last = 1
            while input.pos < input.size || last != 0 {
                let (status, produced) = chunk.withUnsafeMutableBytes { dst -> (Int, Int) in
                    var output = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    let r = ZSTD_decompressStream(dctx, &output, &input)
                    return (r, output.pos)
                }
                guard ZSTD_isError(status) == 0 else {
                    failure = AdapterError("\(name): corrupt zstd data (\(String(cString: ZSTD_getErrorName(status))))")
                    return
                }
                guard out.count + produced <= limit else {
                    failure = AdapterError("\(name): decompresses to more than the limit of \(limit) bytes")
                    return
                }
                out.append(contentsOf: chunk[..<produced])
                last = status
                if produced == 0 && input.pos == input.size && status != 0 {
                    failure = AdapterError("\(name): truncated zstd data")
                    return
                }
            }
        }
        if let failure { throw failure }
        return out
    }
}
