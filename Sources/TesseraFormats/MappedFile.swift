#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. Pages are shared with every other process mapping the same file,
/// which is how the base model is held once (DESIGN 1, training).
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    /// `populate` maps every page up front (one call instead of a fault per page), for files read whole at once.
    public init(path: String, populate: Bool = false) throws(FormatError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError(path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FormatError(path, "not a regular file") }
        let size = Int(st.st_size)
        guard size > 0 else { throw FormatError(path, "file is empty") }
        #if os(Linux)
        let flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0)
        #else
        let flags = MAP_PRIVATE
        #endif
        guard let p = mmap(nil, size, PROT_READ, flags, fd, 0), p != MAP_FAILED else {
            throw FormatError(path, "cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// Tells the kernel this process no longer needs the pages wholly inside `range` (for data it copied
    /// elsewhere): they leave its resident set and are read from the file again if ever touched.
    public func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (range.lowerBound + page - 1) / page * page, hi = range.upperBound / page * page
        guard lo < hi, hi <= bytes.count else { return }
        madvise(UnsafeMutableRawPointer(mutating: bytes.baseAddress! + lo), hi - lo, MADV_DONTNEED)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }
}
