import Foundation
import Hummingbird
import TesseraAdapters
import TesseraModel

/// `/v1/adapters`: a tenant uploads, lists, reads and deletes its own adapters. Another tenant's adapter answers 404,
/// as if absent; names never become paths (files are named by server-made ids).
struct AdapterRoutes {
    let state: ServingState
    /// Where fine-tuned models keep their PEFT directories (removed with the model).
    var jobs: TrainingJobs? = nil

    struct AdapterInfo: Encodable {
        var id: String
        var object = "adapter"
        var version: Int
        var kind: String
        var bytes: Int
        var created_at: Int
        var parent: String
        var warnings: [String]?
    }

    struct List<Item: Encodable>: Encodable {
        var object = "list"
        var data: [Item]
    }

    func info(_ r: AdapterRecord, warnings: [String]? = nil) -> AdapterInfo {
        AdapterInfo(id: r.name, version: r.version, kind: r.kind, bytes: r.bytes, created_at: Int(r.createdAt.timeIntervalSince1970),
                    parent: state.modelID, warnings: warnings)
    }

    /// multipart/form-data: `name`, and `adapter_config` + `adapter_model`, or `file` (a .tar or .tar.zst of the PEFT
    /// directory). Checked against the base model (422 with the reason) before anything is stored.
    func upload(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let form = try await UploadForm.read(request, limit: state.maxUploadBytes)
        guard let nameData = form.parts["name"] else { throw APIError.invalid("missing field 'name'", param: "name") }
        let name = String(decoding: nameData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Tenant.isValidName(name) else {
            throw APIError.invalid("adapter name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", param: "name")
        }
        guard name != state.modelID else { throw APIError.invalid("'\(name)' is the base model's id", param: "name") }
        let files: (config: Data, weights: Data)
        if let archive = form.parts["file"] {
            do { files = try AdapterUpload.unpack(archive: archive, limit: state.maxUploadBytes) } catch {
                throw APIError(.unprocessableContent, error.message, param: "file", code: "adapter_refused")
            }
        } else if let config = form.parts["adapter_config"], let weights = form.parts["adapter_model"] {
            files = (config, weights)
        } else {
            throw APIError.invalid("send 'adapter_config' and 'adapter_model', or 'file' (a .tar or .tar.zst of the PEFT directory)")
        }
        let (loaded, storeID) = try await Self.save(state, param: nil) { (model) throws(AdapterError) in
            try PEFTAdapter.load(config: files.config, weights: files.weights, model: model, precision: .f32)
        }
        let record: AdapterRecord
        do {
            record = try state.registry.addAdapter(tenantID: tenant.id, name: name, kind: loaded.kind.rawValue,
                                                   bytes: loaded.weights.bytes, storeID: storeID)
        } catch {
            try? state.store.delete(id: storeID)
            throw error
        }
        return try .json(info(record, warnings: loaded.warnings), status: .created)
    }

    func list(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        return try .json(List(data: try state.registry.adapters(tenantID: tenant.id).map { info($0) }))
    }

    func get(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        return try .json(info(try record(context, tenant)))
    }

    func delete(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let name = try record(context, tenant).name
        let ids = try state.registry.deleteAdapter(tenantID: tenant.id, name: name)  // rows first, then files
        for id in ids {
            try? state.store.delete(id: id)
            await state.adapters.remove(id: id)  // requests in flight keep the weights they hold
        }
        jobs?.forget(storeIDs: ids)
        state.metrics.forget(tenant: tenant.name, model: name, adapterKeys: ids)
        return try .json(DeletedInfo(id: name, object: ModelName.isFineTuned(name) ? "model" : "adapter"))
    }

    struct DeletedInfo: Encodable {
        var id: String
        var object = "adapter"
        var deleted = true
    }

    private func record(_ context: ServerContext, _ tenant: Tenant) throws -> AdapterRecord {
        let name = context.parameters.get("name") ?? ""
        guard ModelName.isValid(name), let r = try state.registry.adapter(tenantID: tenant.id, name: name) else {
            throw APIError(.notFound, "adapter '\(name)' not found", param: "name", code: "adapter_not_found")
        }
        return r
    }
}

extension AdapterRoutes {
    /// Loads and checks an adapter (422 with the reason when refused) and writes it to the store under a new
    /// server-made id: the file first, the registry row after (DESIGN 3.8). Parsing and checking can take a while
    /// (DoRA norms against the base), so it runs off the HTTP threads.
    static func save(
        _ state: ServingState, param: String?, _ load: @escaping @Sendable (any LanguageModel) throws(AdapterError) -> LoadedAdapter
    ) async throws -> (LoadedAdapter, storeID: String) {
        let model = state.model, store = state.store
        let storeID = AdapterRecord.newStoreID()
        let loaded: LoadedAdapter = try await onWorkerThread {
            let loaded: LoadedAdapter
            do { loaded = try load(model) } catch let e as AdapterError {
                throw APIError(.unprocessableContent, e.message, param: param, code: "adapter_refused")
            }
            try store.write(loaded, id: storeID)
            return loaded
        }
        return (loaded, storeID)
    }
}

/// Runs blocking work on a thread of its own, never on Swift's cooperative pool (DESIGN 3.7).
func onWorkerThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
