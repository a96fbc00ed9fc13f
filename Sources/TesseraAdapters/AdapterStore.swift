import Foundation
import TesseraFormats
import TesseraModel

/// Adapters on disk in the data dir, in the internal form (`AdapterCodec`), one file per version, named by an id the
/// server makes (DESIGN 3.10: a user's adapter name never becomes a path), written atomically (`BlobStore`).
public struct AdapterStore: Sendable {
    /// The files themselves (start-up recovery sweeps them like the other stores).
    public let files: BlobStore
    public var directory: URL { files.directory }

    public init(directory: URL) throws(AdapterError) {
        do { files = try BlobStore(directory: directory, suffix: ".tsa.zst") } catch { throw AdapterError(error.description) }
    }

    public static func isValidID(_ id: String) -> Bool { BlobStore.isValidID(id) }

    func url(_ id: String) throws(AdapterError) -> URL {
        do { return try files.url(id) } catch { throw AdapterError("adapter id '\(id)' is not a store id") }
    }

    /// Writes `adapter` under `id`; returns the bytes on disk. Load it with fp32 deltas (`precision: .f32`) so the
    /// stored form is exact whatever precision the server later runs.
    @discardableResult
    public func write(_ adapter: LoadedAdapter, id: String) throws(AdapterError) -> Int {
        let data = AdapterCodec.encode(adapter)
        do { try files.write(data, id: id) } catch { throw AdapterError(error.description) }
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

    public func contains(id: String) -> Bool { files.contains(id: id) }

    /// Stored ids, and the temporaries of writes a crash cut short.
    public func contents() throws(AdapterError) -> (ids: [String], temporaries: [String]) {
        do { return try files.contents() } catch { throw AdapterError(error.description) }
    }

    /// Removes a temporary left by an interrupted write (a name from `contents()`).
    public func removeTemporary(_ name: String) throws(AdapterError) {
        do { try files.removeTemporary(name) } catch { throw AdapterError(error.description) }
    }

    public func delete(id: String) throws(AdapterError) {
        do { try files.delete(id: id) } catch { throw AdapterError(error.description) }
    }
}
