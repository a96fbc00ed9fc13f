import Foundation
import TesseraFormats
import TesseraModel

/// Adapters on disk in the data dir, in the internal form (`AdapterCodec`), one file per version, named by an id the
/// server makes (DESIGN 3.10: a user's adapter name never becomes a path). Writes are atomic: a temporary file,
/// fsync, then rename, so a crash leaves either the old state or the new one.
public struct AdapterStore: Sendable {
    public let directory: URL

    public init(directory: URL) throws(AdapterError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw AdapterError("\(directory.path): cannot create the adapter directory (\(error.localizedDescription))")
        }
        self.directory = directory
    }

    /// Ids are lowercase letters, digits and dashes, 1 to 64 of them: safe as file names on any system.
    public static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d }
    }

    func url(_ id: String) throws(AdapterError) -> URL {
        guard Self.isValidID(id) else { throw AdapterError("adapter id '\(id)' is not a store id") }
        return directory.appendingPathComponent(id + ".tsa.zst")
    }

    /// Writes `adapter` under `id`; returns the bytes on disk. Load it with fp32 deltas (`precision: .f32`) so the
    /// stored form is exact whatever precision the server later runs.
    @discardableResult
    public func write(_ adapter: LoadedAdapter, id: String) throws(AdapterError) -> Int {
        let target = try url(id)
        let data = AdapterCodec.encode(adapter)
        let temp = directory.appendingPathComponent(".\(id).\(UUID().uuidString).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw AdapterError("\(temp.path): cannot create (\(String(cString: strerror(errno))))") }
        let written = data.withUnsafeBytes { raw -> Bool in
            var at = 0
            while at < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + at, raw.count - at)
                if n <= 0 { return false }
                at += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard written, rename(temp.path, target.path) == 0 else {
            unlink(temp.path)
            throw AdapterError("\(target.path): cannot write (\(String(cString: strerror(errno))))")
        }
        let dirfd = open(directory.path, O_RDONLY)  // the rename itself must reach the disk
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
        return data.count
    }

    public func read(id: String, config: ModelConfig, precision: LowRankDelta.Precision = .selected) throws(AdapterError) -> LoadedAdapter {
        let source = try url(id)
        // Mapped, not read: zstd decompresses straight from the page cache (a cold load is then about one copy).
        let file: MappedFile
        do {
            file = try MappedFile(path: source.path, populate: true)
        } catch {
            throw FileManager.default.fileExists(atPath: source.path)
                ? AdapterError("\(source.lastPathComponent): cannot be read (\(error.message))")
                : AdapterError("adapter '\(id)' is not in the store")
        }
        return try AdapterCodec.decode(file.bytes, config: config, name: source.lastPathComponent, precision: precision)
    }

    public func contains(id: String) -> Bool {
        (try? url(id)).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
    }

    /// What the directory holds: stored ids, and the temporaries of writes a crash cut short (never visible as
    /// adapters, since only a finished write is renamed to its id).
    public func contents() throws(AdapterError) -> (ids: [String], temporaries: [String]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw AdapterError("\(directory.path): cannot list (\(error.localizedDescription))")
        }
        var ids: [String] = [], temporaries: [String] = []
        for name in names {
            if name.hasPrefix("."), name.hasSuffix(".tmp") {
                temporaries.append(name)
            } else if name.hasSuffix(".tsa.zst"), case let id = String(name.dropLast(".tsa.zst".count)), Self.isValidID(id) {
                ids.append(id)
            }
        }
        return (ids, temporaries)
    }

    /// Removes a temporary left by an interrupted write (a name from `contents()`).
    public func removeTemporary(_ name: String) throws(AdapterError) {
        guard name.hasPrefix("."), name.hasSuffix(".tmp"), !name.contains("/") else { throw AdapterError("'\(name)' is not a temporary of the store") }
        let path = directory.appendingPathComponent(name).path
        guard unlink(path) == 0 || errno == ENOENT else {
            throw AdapterError("\(path): cannot delete (\(String(cString: strerror(errno))))")
        }
    }

    public func delete(id: String) throws(AdapterError) {
        let target = try url(id)
        guard unlink(target.path) == 0 || errno == ENOENT else {
            throw AdapterError("\(target.path): cannot delete (\(String(cString: strerror(errno))))")
        }
    }
}
