import ArgumentParser
import Foundation
import TesseraServer

/// Where the server's state is: the registry (SQLite in the data dir, or a shared PostgreSQL) and the adapter store
/// (the data dir, or a directory every replica mounts). The CLI takes the same flags as `serve`.
struct StateOptions: ParsableArguments {
    @Option(name: .long, help: "Directory of the SQLite registry, and of the adapter store unless --adapter-store names another.")
    var dataDir = "./data"

    @Option(name: .long, help: "A postgres:// URL: the registry every replica shares (password from PGPASSWORD when the URL has none). Default: SQLite in --data-dir.")
    var registry: String?

    @Option(name: .long, help: "Directory of adapter, training and job files; every replica sharing a --registry mounts the same one. Default: --data-dir.")
    var adapterStore: String?

    /// Adapters, training files, job directories and fine-tuned PEFT directories live under this.
    var storeDirectory: URL { URL(fileURLWithPath: adapterStore ?? dataDir).standardizedFileURL }

    func openRegistry() throws -> any Registry {
        try runOrExit { try TesseraServer.openRegistry(registry ?? ProcessInfo.processInfo.environment["TESSERA_REGISTRY"],
                                                        dataDirectory: URL(fileURLWithPath: dataDir)) }
    }
}
