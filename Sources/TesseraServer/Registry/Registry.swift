import Foundation

/// The server's state (DESIGN 3.8): tenants and their hashed keys and limits, adapters and their versions, training
/// files, fine-tuning jobs with their events and checkpoints, and the per-minute usage rate limits count. One protocol,
/// two implementations: `SQLiteRegistry` (GRDB, one file in the data dir, the embedded default, one process) and
/// `PostgresRegistry` (postgres-nio, shared by every replica; LISTEN/NOTIFY tells each replica what the others changed).
/// Every change is one transaction. Calls block their thread for a local read or a round trip to the database; the
/// hot ones (a key's tenant, a name's adapter) are served from memory on a shared registry (see `PostgresRegistry`).
public protocol Registry: AnyObject, Sendable {
    /// True when other processes share this registry (replicas): start-up sweeps then spare other replicas' fresh
    /// writes, and jobs are claimed and heart-beaten.
    var isShared: Bool { get }

    /// Per-minute request and token counts of rate-limited tenants (across replicas when shared).
    var usage: any UsageCounter { get }

    /// Runs `handler` for every change another replica made (and, on a shared registry, this one), after it is
    /// committed. A process-local registry has no other writers and never calls it.
    func observe(_ handler: @escaping @Sendable (RegistryChange) -> Void)

    /// Whether the registry answers now (readiness).
    func isReachable() -> Bool

    // MARK: Tenants

    /// Inserts a new tenant; fails if its name is taken.
    func insertTenant(_ tenant: Tenant) throws(RegistryError)
    func tenant(id: String) throws(RegistryError) -> Tenant?
    func tenant(named name: String) throws(RegistryError) -> Tenant?
    /// Every tenant but the shared adapters' owner, by name.
    func tenants() throws(RegistryError) -> [Tenant]
    /// Writes a changed tenant (its id is the key).
    func saveTenant(_ tenant: Tenant) throws(RegistryError)

    // MARK: Adapters

    /// Records a new version of a tenant's adapter (its file is already in the store: files first, DESIGN 3.8).
    func addAdapter(tenantID: String, name: String, kind: String, bytes: Int, storeID: String) throws(RegistryError) -> AdapterRecord
    /// The newest version of the tenant's adapter `name`; other tenants' adapters do not exist here.
    func adapter(tenantID: String, name: String) throws(RegistryError) -> AdapterRecord?
    /// The newest version of each of the tenant's adapters, by name.
    func adapters(tenantID: String) throws(RegistryError) -> [AdapterRecord]
    /// Removes every version of the tenant's adapter; returns their store ids (the files go after the rows).
    func deleteAdapter(tenantID: String, name: String) throws(RegistryError) -> [String]
    /// Every adapter version's store id, of every tenant.
    func allStoreIDs() throws(RegistryError) -> Set<String>
    /// Drops the rows of adapter versions whose files are gone (start-up recovery only).
    func deleteAdapterRows(storeIDs: [String]) throws(RegistryError)

    // MARK: Training files

    func addFile(_ file: FileRecord) throws(RegistryError)
    /// The tenant's file `id`; other tenants' files do not exist here.
    func file(tenantID: String, id: String) throws(RegistryError) -> FileRecord?
    /// The tenant's files, newest first; `after` is the id of the last file of the previous page.
    func files(tenantID: String, purpose: String?, after: String?, limit: Int) throws(RegistryError) -> [FileRecord]
    /// Bytes of the tenant's stored files (its quota is counted against this).
    func fileBytes(tenantID: String) throws(RegistryError) -> Int
    /// Removes the row (the file goes after it); false when the tenant has no such file.
    func deleteFile(tenantID: String, id: String) throws(RegistryError) -> Bool
    func allFileIDs() throws(RegistryError) -> Set<String>
    /// Drops the rows of files that are gone (start-up recovery only).
    func deleteFileRows(ids: [String]) throws(RegistryError)

    // MARK: Fine-tuning jobs

    func addJob(_ job: FineTuningJob) throws(RegistryError)
    /// The tenant's job `id`; other tenants' jobs do not exist here.
    func job(tenantID: String, id: String) throws(RegistryError) -> FineTuningJob?
    func job(id: String) throws(RegistryError) -> FineTuningJob?
    /// The tenant's jobs, newest first; `after` is the id of the last job of the previous page.
    func jobs(tenantID: String, after: String?, limit: Int) throws(RegistryError) -> [FineTuningJob]
    /// Every job in one of `statuses`, oldest first (the queue's order).
    func jobs(status statuses: [FineTuningJob.Status]) throws(RegistryError) -> [FineTuningJob]
    /// Changes a job in one transaction, `change` seeing its current row (locked against other replicas); nil when
    /// there is no such job. `change` may refuse (return false) to leave the row as it is, as it does for a job
    /// already final or, when claiming, one another replica claimed first.
    @discardableResult
    func updateJob(id: String, event: (level: String, message: String)?, _ change: (inout FineTuningJob) -> Bool) throws(RegistryError) -> FineTuningJob?
    /// A job that succeeded: its model's adapter row and its final state, together; false if it was not running.
    func completeJob(id: String, model: AdapterRecord, resultFile: FileRecord?, trainedTokens: Int, message: String) throws(RegistryError) -> Bool
    /// Jobs of the tenant holding a training slot, on any replica (its `max_training_jobs` bounds these).
    func activeJobCount(tenantID: String) throws(RegistryError) -> Int
    /// Marks the replica's running jobs alive (a job whose owner stops beating is queued again by another replica).
    func heartbeat(jobIDs: [String], owner: String) throws(RegistryError)
    func addEvent(jobID: String, level: String, message: String, type: String, data: [String: Any]?) throws(RegistryError)
    /// A job's events, newest first; `after` is the id of the last event of the previous page.
    func events(jobID: String, after: String?, limit: Int) throws(RegistryError) -> [JobEvent]
    /// A checkpoint registered as a model: its adapter row and its checkpoint row together (the adapter's file is
    /// already in the store).
    func addCheckpoint(_ checkpoint: JobCheckpoint, model: AdapterRecord) throws(RegistryError)
    /// A job's checkpoints, newest first; `after` is the id of the last checkpoint of the previous page.
    func checkpoints(jobID: String, after: String?, limit: Int) throws(RegistryError) -> [JobCheckpoint]
    /// Removes a checkpoint row (its model, an adapter, is deleted as adapters are).
    func deleteCheckpoint(id: String) throws(RegistryError)
}

/// What a shared registry tells the replicas after a commit.
public enum RegistryChange: Sendable, Equatable {
    /// A tenant was created or changed (key rotated or revoked, limits, weight).
    case tenant(id: String)
    /// Versions of an adapter were added or removed (`removed` holds the store ids that are gone).
    case adapter(tenantID: String, name: String, removed: [String])
    /// A job was created or changed state.
    case job(id: String)

    /// The payload of a NOTIFY: a word and fields separated by spaces (names and ids never hold one, DESIGN 3.10).
    var payload: String {
        switch self {
        case .tenant(let id): "tenant \(id)"
        case .adapter(let t, let name, let removed): (["adapter", t, name] + removed).joined(separator: " ")
        case .job(let id): "job \(id)"
        }
    }

    init?(payload: String) {
        let f = payload.split(separator: " ").map(String.init)
        switch (f.first, f.count) {
        case ("tenant", 2): self = .tenant(id: f[1])
        case ("adapter", 3...): self = .adapter(tenantID: f[1], name: f[2], removed: Array(f[3...]))
        case ("job", 2): self = .job(id: f[1])
        default: return nil
        }
    }
}

/// The owner of adapters every tenant may use (vLLM's load_lora_adapter). Its id cannot be a tenant's (those are 12
/// characters) and its name cannot be one (names start with a letter or digit); it has no key.
public let sharedTenantID = "shared"

extension Registry {
    /// A new tenant and its API key (returned once; only its hash is kept). `configure` sets its limits before it is
    /// inserted, so a crash never leaves a tenant without the limits it was created with.
    public func createTenant(name: String, weight: Double = 1,
                             configure: (inout Tenant) throws(RegistryError) -> Void = { _ in }) throws(RegistryError) -> (tenant: Tenant, key: String) {
        guard Tenant.isValidName(name) else {
            throw RegistryError("tenant name '\(name)' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        guard weight.isFinite, weight > 0, weight <= 1000 else { throw RegistryError("tenant weight must be in (0, 1000], got \(weight)") }
        let id = APIKey.randomID(length: 12)
        let (key, hash) = APIKey.make(tenantID: id)
        var tenant = Tenant(id: id, name: name, weight: weight, keyHash: hash, createdAt: Date(), revoked: false)
        try configure(&tenant)
        try insertTenant(tenant)
        return (tenant, key)
    }

    /// The tenant an API key belongs to, or nil (unknown, wrong or revoked key).
    public func tenant(forKey key: String) throws(RegistryError) -> Tenant? {
        guard let (id, secret) = APIKey.parse(key), let tenant = try tenant(id: id), !tenant.revoked,
              APIKey.matches(secret, hash: tenant.keyHash) else { return nil }
        return tenant
    }

    /// The adapter a tenant means by `name`: its own, else a shared one; other tenants' adapters do not exist here.
    public func visibleAdapter(tenantID: String, name: String) throws(RegistryError) -> AdapterRecord? {
        if let own = try adapter(tenantID: tenantID, name: name) { return own }
        return try adapter(tenantID: sharedTenantID, name: name)
    }

    /// Changes a tenant (weight, limits, revocation); nil when there is no such tenant.
    public func updateTenant(named name: String, _ change: (inout Tenant) throws(RegistryError) -> Void) throws(RegistryError) -> Tenant? {
        guard var tenant = try tenant(named: name) else { return nil }
        try change(&tenant)
        try saveTenant(tenant)
        return tenant
    }

    /// A new key for the tenant; the old one stops working at once (on every replica within the notification's
    /// delay). Returns the key (shown once).
    public func rotateKey(named name: String) throws(RegistryError) -> String? {
        var key = ""
        let updated = try updateTenant(named: name) { t throws(RegistryError) in
            let (k, hash) = APIKey.make(tenantID: t.id)
            key = k
            t.keyHash = hash
            t.revoked = false
        }
        return updated == nil ? nil : key
    }

    @discardableResult
    public func updateJob(id: String, _ change: (inout FineTuningJob) -> Bool) throws(RegistryError) -> FineTuningJob? {
        try updateJob(id: id, event: nil, change)
    }

    public func checkpoints(jobID: String) throws(RegistryError) -> [JobCheckpoint] {
        try checkpoints(jobID: jobID, after: nil, limit: 1000)
    }
}

public struct RegistryError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
