import Foundation
import Hummingbird
import TesseraAdapters

/// vLLM's `POST /v1/load_lora_adapter {"lora_name","lora_path"}` and `/v1/unload_lora_adapter {"lora_name"}`, for the
/// admin: the adapter is read from a PEFT directory inside `--lora-dir` (nothing outside it, symlinks resolved) and
/// every tenant may use it by name (a tenant's own adapter of the same name comes first).
struct LoRAAdminRoutes {
    let state: ServingState
    let root: String?

    struct Load: Decodable {
        var lora_name: String
        var lora_path: String
    }

    struct Unload: Decodable {
        var lora_name: String
    }

    func load(_ request: Request, _ context: ServerContext) async throws -> Response {
        let body = try await RequestBody.decode(Load.self, from: request)
        guard Tenant.isValidName(body.lora_name) else { throw APIError.invalid("lora_name must be 1-64 letters, digits, '.', '_' or '-'", param: "lora_name") }
        let dir = try confined(body.lora_path)
        let (loaded, storeID) = try await AdapterRoutes.save(state, param: "lora_path") { (model) throws(AdapterError) in
            try PEFTAdapter.load(directory: dir, model: model, precision: .f32)
        }
        _ = try state.registry.addAdapter(tenantID: sharedTenantID, name: body.lora_name, kind: loaded.kind.rawValue,
                                          bytes: loaded.weights.bytes, storeID: storeID)
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "Success: LoRA adapter '\(body.lora_name)' added successfully.")))
    }

    func unload(_ request: Request, _ context: ServerContext) async throws -> Response {
        let body = try await RequestBody.decode(Unload.self, from: request)
        let ids = try state.registry.deleteAdapter(tenantID: sharedTenantID, name: body.lora_name)
        guard !ids.isEmpty else { throw APIError(.notFound, "The lora adapter '\(body.lora_name)' cannot be found.", param: "lora_name") }
        for id in ids {
            try? state.store.delete(id: id)
            await state.adapters.remove(id: id)
        }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "Success: LoRA adapter '\(body.lora_name)' removed successfully.")))
    }

    /// `path` (relative to the root, or absolute inside it) as a real directory inside the root, or 400.
    private func confined(_ path: String) throws -> String {
        guard let root, !root.isEmpty else { throw APIError(.notFound, "loading adapters from disk is off: start the server with --lora-dir") }
        let base = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        let target = (path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path))
            .resolvingSymlinksInPath().standardizedFileURL.path
        guard target.hasPrefix(base + "/"), !path.contains("\0") else {
            throw APIError.invalid("lora_path must be a directory inside the server's --lora-dir", param: "lora_path")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw APIError(.notFound, "lora_path '\(path)' is not a directory inside the server's --lora-dir", param: "lora_path")
        }
        return target
    }
}
