import Foundation

/// `--setup`: makes what a scenario needs on a Tessera server and removes it afterwards. With an admin key
/// (TESSERA_ADMIN_KEY) each scenario tenant becomes a server tenant of its weight, named with the run's id so runs never
/// collide, and is revoked at the end; without one, tenants use their own keys. Then every adapter the planned
/// requests name is uploaded for the tenant that names it (random PEFT LoRAs, `adapters.rank` on
/// `adapters.target_modules`, shaped by `adapters.base`) and deleted at the end.
public final class ScenarioSetup: @unchecked Sendable {
    let api: APIClient
    let scenario: Scenario
    let log: @Sendable (String) -> Void
    private(set) var createdTenants: [String] = []
    private(set) var uploaded: [(key: String?, name: String)] = []

    public init(transport: any Transport, scenario: Scenario, log: @escaping @Sendable (String) -> Void) {
        api = APIClient(transport: transport)
        self.scenario = scenario
        self.log = log
    }

    /// Keys per tenant index after setup.
    public func prepare(keys given: [String?], adminKey: String?, dataset: [DatasetEntry]) async throws -> [String?] {
        var keys = given
        let tenants = scenario.tenants.isEmpty ? [TenantSpec(name: "default")] : scenario.tenants
        if let adminKey {
            let run = String(UInt64.random(in: 0..<(1 << 30)), radix: 36)
            for (i, t) in tenants.enumerated() {
                let name = "lt-\(run)-\(t.name)"
                let a = try await api.call("POST", "/admin/tenants", key: adminKey, json: ["name": name, "weight": t.weight])
                guard a.status == 201, let key = (a.json as? [String: Any])?["api_key"] as? String else {
                    throw LoadTestError("creating tenant \(name) through /admin/tenants answered \(a.status): \(a.text)")
                }
                createdTenants.append(name)
                keys[i] = key
            }
            log("setup: created \(tenants.count) tenant(s) lt-\(run)-*")
        }
        guard scenario.adapters.distribution != .none, scenario.adapters.distribution != .explicit else { return keys }
        guard let base = scenario.adapters.base else {
            throw LoadTestError("--setup needs adapters.base (hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads) to shape the adapters")
        }
        let lora = RandomLoRA(mix: scenario.adapters, base: base)
        let needed = neededAdapters(tenants: tenants.count, dataset: dataset)
        let config = lora.config()
        let total = needed.reduce(0) { $0 + $1.count }
        log("setup: uploading \(total) adapter(s) (rank \(scenario.adapters.rank), \(scenario.adapters.target_modules.joined(separator: ",")))")
        for (tenant, indices) in needed.enumerated() {
            if keys[tenant] == nil && !indices.isEmpty {
                throw LoadTestError("tenant \(tenants[tenant].name) has no key to upload its adapters with: set OPENAI_API_KEY or its api_key_env, or TESSERA_ADMIN_KEY so --setup creates the tenants")
            }
            for index in indices.sorted() {
                let name = scenario.adapters.name(index)
                var form = Multipart()
                form.field("name", name)
                form.file("adapter_config", filename: "adapter_config.json", type: "application/json", config)
                form.file("adapter_model", filename: "adapter_model.safetensors", type: "application/octet-stream", lora.safetensors(index: index))
                let a = try await api.call("POST", "/v1/adapters", key: keys[tenant], body: form.finished(), contentType: form.contentType)
                guard (200..<300).contains(a.status) else {
                    let hint = a.status == 404 ? " (the server has no adapters API; --setup works with Tessera)" : ""
                    throw LoadTestError("uploading adapter \(name) answered \(a.status): \(a.text)\(hint)")
                }
                uploaded.append((keys[tenant], name))
            }
        }
        return keys
    }

    /// Adapter indices per tenant: those a count-bound plan names, or all of them for a duration-bound run.
    func neededAdapters(tenants: Int, dataset: [DatasetEntry]) -> [Set<Int>] {
        let m = scenario.adapters
        let index = Dictionary(uniqueKeysWithValues: (0..<m.num_adapters).map { (m.name($0), $0) })
        guard scenario.duration == nil else { return Array(repeating: Set(0..<m.num_adapters), count: tenants) }
        var out = Array(repeating: Set<Int>(), count: tenants)
        for r in Workload.plan(scenario, dataset: dataset) {
            if let a = r.adapter, let i = index[a] { out[r.tenant].insert(i) }
        }
        return out
    }

    /// Deletes what `prepare` made; reports what it could not remove rather than stopping.
    public func cleanUp(adminKey: String?) async {
        var problems = 0
        for (key, name) in uploaded {
            let a = try? await api.call("DELETE", "/v1/adapters/\(name)", key: key)
            if a.map({ !(200..<300).contains($0.status) }) ?? true { problems += 1 }
        }
        if !uploaded.isEmpty { log("clean-up: deleted \(uploaded.count - problems) of \(uploaded.count) adapter(s)") }
        uploaded.removeAll()
        if let adminKey {
            for name in createdTenants {
                let a = try? await api.call("POST", "/admin/tenants/\(name)/revoke", key: adminKey)
                if a?.status != 200 { log("clean-up: could not revoke tenant \(name)") }
            }
            if !createdTenants.isEmpty { log("clean-up: revoked \(createdTenants.count) tenant(s)") }
            createdTenants.removeAll()
        }
    }
}
