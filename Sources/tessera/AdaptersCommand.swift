import ArgumentParser
import Foundation
import TesseraAdapters
import TesseraModel
import TesseraServer

/// `tessera adapters`: a data directory's adapters, as the API shows them to their tenant (DESIGN 2's CLI). An upload
/// is checked against the base model and stored as through the API: the file first, then the row.
struct AdaptersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapters",
        abstract: "List, show, upload and delete a tenant's adapters (fine-tuned models included).",
        subcommands: [List.self, Show.self, Upload.self, Delete.self])

    struct Place: ParsableArguments {
        @OptionGroup var state: StateOptions
        @Option(name: .long, help: "The tenant whose adapters these are (_shared: those every tenant may use).") var tenant: String

        func open() throws -> (any Registry, Tenant, AdapterStore) {
            let registry = try state.openRegistry()
            guard let t = try runOrExit({ try registry.tenant(named: tenant) }) else { throw CLIError("no tenant '\(tenant)' in the registry") }
            let store = try runOrExit { try AdapterStore(directory: state.storeDirectory.appendingPathComponent("adapters")) }
            return (registry, t, store)
        }
    }

    static func line(_ r: AdapterRecord) -> String {
        "\(r.name)\tv\(r.version)\t\(r.kind)\t\(r.bytes) bytes\t\(ISO8601DateFormatter().string(from: r.createdAt))"
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The tenant's adapters: name, newest version, kind, bytes, created.")
        @OptionGroup var place: Place

        func run() throws {
            let (registry, tenant, _) = try place.open()
            for r in try runOrExit({ try registry.adapters(tenantID: tenant.id) }) { print(AdaptersCommand.line(r)) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One adapter's newest version, as JSON.")
        @OptionGroup var place: Place
        @Argument(help: "The adapter's name.") var name: String

        func run() throws {
            let (registry, tenant, store) = try place.open()
            guard ModelName.isValid(name), let r = try runOrExit({ try registry.adapter(tenantID: tenant.id, name: name) }) else {
                throw CLIError("tenant '\(tenant.name)' has no adapter '\(name)'")
            }
            let info: [String: Any] = ["name": r.name, "version": r.version, "kind": r.kind, "bytes": r.bytes, "store_id": r.storeID,
                                       "stored": store.contains(id: r.storeID), "created_at": Int(r.createdAt.timeIntervalSince1970)]
            print(String(decoding: try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
        }
    }

    struct Upload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a PEFT adapter (a directory, or a .tar / .tar.zst of one) as a new version of NAME.")
        @OptionGroup var place: Place
        @OptionGroup var model: ModelOptions
        @Argument(help: "A PEFT directory (adapter_config.json + adapter_model.safetensors), or a .tar or .tar.zst of one.") var path: String
        @Option(name: .long, help: "The adapter's name in the API.") var name: String
        @Option(name: .long, help: "Largest archive or weights file, in bytes.") var maxBytes = 256 << 20

        func run() throws {
            guard Tenant.isValidName(name) else { throw CLIError("adapter name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit") }
            let (registry, tenant, store) = try place.open()
            let (lm, _) = try loadModel(model)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CLIError("\(path): no such file or directory") }
            let loaded = try runOrExit { () throws -> LoadedAdapter in
                if isDirectory.boolValue { return try PEFTAdapter.load(directory: path, model: lm, precision: .f32) }
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                guard (attributes[.size] as? Int ?? 0) <= maxBytes else { throw CLIError("\(path) is over --max-bytes \(maxBytes)") }
                let files = try AdapterUpload.unpack(archive: try Data(contentsOf: URL(fileURLWithPath: path)), limit: maxBytes)
                return try PEFTAdapter.load(config: files.config, weights: files.weights, model: lm, precision: .f32)
            }
            let storeID = AdapterRecord.newStoreID()
            let bytes = try runOrExit { try store.write(loaded, id: storeID) }
            let record: AdapterRecord
            do { record = try registry.addAdapter(tenantID: tenant.id, name: name, kind: loaded.kind.rawValue, bytes: bytes, storeID: storeID) } catch {
                try? store.delete(id: storeID)
                throw CLIError("\(error)")
            }
            for w in loaded.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            print(AdaptersCommand.line(record))
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every version of NAME (a running server stops serving it at its next request).")
        @OptionGroup var place: Place
        @Argument(help: "The adapter's name.") var name: String

        func run() throws {
            let (registry, tenant, store) = try place.open()
            guard ModelName.isValid(name) else { throw CLIError("'\(name)' is not an adapter name") }
            let ids = try runOrExit { try registry.deleteAdapter(tenantID: tenant.id, name: name) }  // rows first, then files
            guard !ids.isEmpty else { throw CLIError("tenant '\(tenant.name)' has no adapter '\(name)'") }
            for id in ids { try? store.delete(id: id) }
            let peft = place.state.storeDirectory.appendingPathComponent("peft")
            for id in ids { try? FileManager.default.removeItem(at: peft.appendingPathComponent(id)) }
            print("deleted \(name) (\(ids.count) version\(ids.count == 1 ? "" : "s"))")
        }
    }
}
