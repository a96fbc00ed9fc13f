import Foundation

/// Files in one directory named by ids the server makes (DESIGN 3.10: nothing a user sends becomes a path), written
/// atomically: a temporary (`.ID.UUID.tmp`), fsync, rename, fsync of the directory, so a crash leaves the old state or
/// the new one and at worst a temporary, which `contents()` reports for start-up recovery. Adapters and training
/// files are both kept this way.
public struct BlobStore: Sendable {
    public let directory: URL
    /// What every stored file's name ends with after its id (".tsa.zst", ".jsonl").
    public let suffix: String

    public init(directory: URL, suffix: String) throws(FormatError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw FormatError(directory.path, "cannot create the directory (\(error.localizedDescription))")
        }
        self.directory = directory
        self.suffix = suffix
    }

    /// Ids are lowercase letters, digits and dashes, 1 to 64 of them: safe as file names on any system.
    public static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d }
    }

    public func url(_ id: String) throws(FormatError) -> URL {
        guard Self.isValidID(id) else { throw FormatError(id, "not a store id") }
        return directory.appendingPathComponent(id + suffix)
    }

    /// Writes `data` under `id`, atomically.
    public func write(_ data: Data, id: String) throws(FormatError) {
        let target = try url(id)
        let temp = directory.appendingPathComponent(".\(id).\(UUID().uuidString).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw FormatError(temp.path, "cannot create (\(String(cString: strerror(errno))))") }
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
            let reason = String(cString: strerror(errno))
            unlink(temp.path)
            throw FormatError(target.path, "cannot write (\(reason))")
        }
        let dirfd = open(directory.path, O_RDONLY)  // the rename itself must reach the disk
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    public func contains(id: String) -> Bool {
        (try? url(id)).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
    }

    /// What the directory holds: stored ids, and the temporaries of writes a crash cut short (never visible as
    /// stored files, since only a finished write is renamed to its id).
    public func contents() throws(FormatError) -> (ids: [String], temporaries: [String]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw FormatError(directory.path, "cannot list (\(error.localizedDescription))")
        }
        var ids: [String] = [], temporaries: [String] = []
        for name in names {
            if name.hasPrefix("."), name.hasSuffix(".tmp") {
                temporaries.append(name)
            } else if name.hasSuffix(suffix), case let id = String(name.dropLast(suffix.count)), Self.isValidID(id) {
                ids.append(id)
            }
        }
        return (ids, temporaries)
    }

    /// Removes a temporary left by an interrupted write (a name from `contents()`).
    public func removeTemporary(_ name: String) throws(FormatError) {
        guard name.hasPrefix("."), name.hasSuffix(".tmp"), !name.contains("/") else { throw FormatError(name, "not a temporary of the store") }
        let path = directory.appendingPathComponent(name).path
        guard unlink(path) == 0 || errno == ENOENT else { throw FormatError(path, "cannot delete (\(String(cString: strerror(errno))))") }
    }

    public func delete(id: String) throws(FormatError) {
        let target = try url(id)
        guard unlink(target.path) == 0 || errno == ENOENT else {
            throw FormatError(target.path, "cannot delete (\(String(cString: strerror(errno))))")
        }
    }
}
