import Foundation
import Logging

/// The registry `--registry` names: a `postgres://` URL (shared by replicas), else SQLite in `dataDirectory`.
public func openRegistry(_ location: String?, dataDirectory: URL, logger: Logger = Logger(label: "tessera.registry")) throws(RegistryError) -> any Registry {
    guard let location, !location.isEmpty, location != "sqlite" else { return try SQLiteRegistry(directory: dataDirectory) }
    guard location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") else {
        throw RegistryError("--registry '\(location)': expected a postgres:// URL, or nothing for SQLite in the data directory")
    }
    return try PostgresRegistry(url: location, logger: logger)
}
