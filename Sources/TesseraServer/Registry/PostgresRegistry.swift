import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The registry every replica shares (DESIGN 3.8, 3.13): PostgreSQL through postgres-nio. Each write that others must
/// see NOTIFYs `tessera_registry` in its transaction; every replica LISTENs and drops what it cached of the change,
/// and tells its observers (the serving state evicts a deleted adapter's weights, the fine-tuning queue looks for
/// work). A key's tenant and a name's adapter are cached only while the LISTEN connection is up, so a missed
/// notification can never keep a revoked key or a deleted adapter alive: while it is down, every call reads the
/// database, and its reconnect empties the cache.
public final class PostgresRegistry: Registry {
    static let channel = "tessera_registry"

    let pool: PostgresPool
    let logger: Logger
    public let usage: any UsageCounter
    public var isShared: Bool { true }
    private let cache = Mutex(Cache())
    private let observers = Mutex<[@Sendable (RegistryChange) -> Void]>([])
    private let listener = Mutex<PostgresConnection?>(nil)
    private let closed = Atomic<Bool>(false)
    /// Observers run here, in commit order, off the event loop (they may call the registry).
    private let delivery = DispatchQueue(label: "tessera.registry.notifications")

    struct Cache {
        /// False while the LISTEN connection is down: nothing is cached, nothing served from it.
        var live = false
        /// Bumped by every invalidation; a read that started before one does not fill the cache.
        var generation = 0
        var tenants: [String: Tenant] = [:]
        /// "tenantID/name" to the newest version, or nil for none (a miss is cached too: lookups of shared adapters
        /// by name miss the tenant's own first on every request).
        var adapters: [String: AdapterRecord?] = [:]
        static let maxEntries = 20_000

        mutating func invalidate(_ change: RegistryChange?) {
            generation &+= 1
            switch change {
            case .tenant(let id)?: tenants[id] = nil
            case .adapter(let t, let name, _)?: adapters["\(t)/\(name)"] = nil
            case .job?: break
            case nil:
                tenants = [:]
                adapters = [:]
            }
        }
    }

    /// Connects, migrates, and starts listening. `url`: see `PostgresPool.parse`.
    public init(url: String, logger: Logger = Logger(label: "tessera.registry")) throws(RegistryError) {
        self.logger = logger
        pool = try PostgresPool(url: url, logger: logger)
        usage = SharedUsageCounter(pool: pool, logger: logger)
        try pool.withConnection("cannot migrate the registry at \(pool.location)") { try PostgresSchema.migrate($0) }
        listen()
    }

    /// Stops listening and flushes counted tokens (tests open and close many registries in one process).
    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        usage.flush()
        listener.withLock { $0 }?.closeSoon()
    }

    deinit { close() }

    public func observe(_ handler: @escaping @Sendable (RegistryChange) -> Void) {
        observers.withLock { $0.append(handler) }
    }

    public func isReachable() -> Bool {
        (try? pool.withConnection("ping") { try $0.run("SELECT 1") }) != nil
    }

    // MARK: Notifications

    /// One connection LISTENs; when it closes (the database restarted, the network broke) the cache is off until a
    /// new one listens again, retried every second.
    private func listen() {
        guard !closed.load(ordering: .relaxed) else { return }
        let connection: PostgresConnection
        do {
            connection = try pool.connect()
            connection.addListener(channel: Self.channel) { [weak self] _, message in self?.received(message.payload) }
            try connection.run("LISTEN tessera_registry")
        } catch {
            logger.warning("registry notifications are off (\(error)); every call reads the database until they are back")
            delivery.asyncAfter(deadline: .now() + 1) { [weak self] in self?.listen() }
            return
        }
        listener.withLock { $0 = connection }
        cache.withLock { c in
            c.invalidate(nil)
            c.live = true
        }
        connection.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            self.cache.withLock { c in
                c.live = false
                c.invalidate(nil)
            }
            self.delivery.asyncAfter(deadline: .now() + 1) { [weak self] in self?.listen() }
        }
    }

    private func received(_ payload: String) {
        guard let change = RegistryChange(payload: payload) else {
            logger.warning("registry notification not understood: \(payload)")
            return
        }
        cache.withLock { $0.invalidate(change) }
        let handlers = observers.withLock { $0 }
        delivery.async { for h in handlers { h(change) } }
    }

    /// A write's own replica drops the stale entry at once (its notification comes back a moment later).
    func committed(_ change: RegistryChange) { cache.withLock { $0.invalidate(change) } }

    /// Serves `key` from the cache while notifications are live, else reads (and, if nothing changed meanwhile,
    /// remembers) it.
    private func cached<V>(_ get: (Cache) -> V??, _ put: (inout Cache, V?) -> Void, read: () throws(RegistryError) -> V?) throws(RegistryError) -> V? {
        let (hit, generation) = cache.withLock { c -> (V??, Int?) in c.live ? (get(c), c.generation) : (nil, nil) }
        if let hit { return hit }
        let value = try read()
        if let generation {
            cache.withLock { c in
                guard c.live, c.generation == generation else { return }
                if c.tenants.count + c.adapters.count >= Cache.maxEntries { c.invalidate(nil) }
                put(&c, value)
            }
        }
        return value
    }

    // MARK: Tenants

    public func insertTenant(_ t: Tenant) throws(RegistryError) {
        try pool.transaction("cannot create tenant '\(t.name)'") { c in
            guard try c.run("SELECT 1 FROM tenant WHERE name = \(t.name)").isEmpty else { throw RegistryError("tenant '\(t.name)' exists") }
            try c.run("""
                INSERT INTO tenant (id, name, weight, key_hash, created_at, revoked, requests_per_minute, tokens_per_minute,
                    max_concurrent, max_tokens, max_training_jobs)
                VALUES (\(t.id), \(t.name), \(t.weight), \(t.keyHash), \(t.createdAt), \(t.revoked), \(t.requestsPerMinute),
                    \(t.tokensPerMinute), \(t.maxConcurrent), \(t.maxTokens), \(t.maxTrainingJobs))
                """)
            try c.notify(.tenant(id: t.id))
        }
        committed(.tenant(id: t.id))
    }

    public func tenant(id: String) throws(RegistryError) -> Tenant? {
        // Only tenants that exist are cached: ids come from unauthenticated keys.
        return try cached({ $0.tenants[id].map { .some($0) } }, { c, t in if let t { c.tenants[id] = t } }) { () throws(RegistryError) in
            try pool.withConnection("registry read failed") { c in try c.run("SELECT * FROM tenant WHERE id = \(id)").first.map(Tenant.init) }
        }
    }

    public func tenant(named name: String) throws(RegistryError) -> Tenant? {
        try pool.withConnection("registry read failed") { c in try c.run("SELECT * FROM tenant WHERE name = \(name)").first.map(Tenant.init) }
    }

    public func tenants() throws(RegistryError) -> [Tenant] {
        try pool.withConnection("registry read failed") { c in
            try c.run("SELECT * FROM tenant WHERE id <> \(sharedTenantID) ORDER BY name").map(Tenant.init)
        }
    }

    public func saveTenant(_ t: Tenant) throws(RegistryError) {
        try pool.transaction("cannot update tenant '\(t.name)'") { c in
            try c.run("""
                UPDATE tenant SET name = \(t.name), weight = \(t.weight), key_hash = \(t.keyHash), revoked = \(t.revoked),
                    requests_per_minute = \(t.requestsPerMinute), tokens_per_minute = \(t.tokensPerMinute),
                    max_concurrent = \(t.maxConcurrent), max_tokens = \(t.maxTokens), max_training_jobs = \(t.maxTrainingJobs)
                WHERE id = \(t.id)
                """)
            try c.notify(.tenant(id: t.id))
        }
        committed(.tenant(id: t.id))
    }

    // MARK: Adapters

    public func addAdapter(tenantID: String, name: String, kind: String, bytes: Int, storeID: String) throws(RegistryError) -> AdapterRecord {
        let record = try pool.transaction("cannot record adapter '\(name)'") { c -> AdapterRecord in
            // Two replicas adding versions of one name at once: the row lock on the tenant orders them.
            try c.run("SELECT 1 FROM tenant WHERE id = \(tenantID) FOR UPDATE")
            let latest = try c.run("SELECT COALESCE(MAX(version), 0) FROM adapter WHERE tenant_id = \(tenantID) AND name = \(name)")
                .first?.decode(Int.self) ?? 0
            let r = AdapterRecord(storeID: storeID, tenantID: tenantID, name: name, version: latest + 1, kind: kind, bytes: bytes, createdAt: Date())
            try Self.insert(r, c)
            try c.notify(.adapter(tenantID: tenantID, name: name, removed: []))
            return r
        }
        committed(.adapter(tenantID: tenantID, name: name, removed: []))
        return record
    }

    static func insert(_ r: AdapterRecord, _ c: PostgresConnection) throws {
        try c.run("""
            INSERT INTO adapter (store_id, tenant_id, name, version, kind, bytes, created_at)
            VALUES (\(r.storeID), \(r.tenantID), \(r.name), \(r.version), \(r.kind), \(r.bytes), \(r.createdAt))
            """)
    }

    public func adapter(tenantID: String, name: String) throws(RegistryError) -> AdapterRecord? {
        let key = "\(tenantID)/\(name)"
        return try cached({ $0.adapters[key] }, { $0.adapters[key] = .some($1) }) { () throws(RegistryError) in
            try pool.withConnection("registry read failed") { c in
                try c.run("SELECT * FROM adapter WHERE tenant_id = \(tenantID) AND name = \(name) ORDER BY version DESC LIMIT 1")
                    .first.map(AdapterRecord.init)
            }
        }
    }

    public func adapters(tenantID: String) throws(RegistryError) -> [AdapterRecord] {
        try pool.withConnection("registry read failed") { c in
            try c.run("""
                SELECT DISTINCT ON (name) * FROM adapter WHERE tenant_id = \(tenantID) ORDER BY name, version DESC
                """).map(AdapterRecord.init)
        }
    }

    public func deleteAdapter(tenantID: String, name: String) throws(RegistryError) -> [String] {
        let ids = try pool.transaction("cannot delete adapter '\(name)'") { c -> [String] in
            let ids = try c.run("DELETE FROM adapter WHERE tenant_id = \(tenantID) AND name = \(name) RETURNING store_id")
                .map { try $0.decode(String.self) }
            if !ids.isEmpty { try c.notify(.adapter(tenantID: tenantID, name: name, removed: ids)) }
            return ids
        }
        committed(.adapter(tenantID: tenantID, name: name, removed: ids))
        return ids
    }

    public func allStoreIDs() throws(RegistryError) -> Set<String> {
        try pool.withConnection("registry read failed") { c in Set(try c.run("SELECT store_id FROM adapter").map { try $0.decode(String.self) }) }
    }

    public func deleteAdapterRows(storeIDs: [String]) throws(RegistryError) {
        guard !storeIDs.isEmpty else { return }
        let gone = try pool.transaction("cannot drop adapter rows") { c in
            let gone = try c.run("DELETE FROM adapter WHERE store_id = ANY(\(storeIDs)) RETURNING tenant_id, name, store_id")
                .map { try $0.decode((String, String, String).self) }
            for (t, name, id) in gone { try c.notify(.adapter(tenantID: t, name: name, removed: [id])) }
            return gone
        }
        for (t, name, id) in gone { committed(.adapter(tenantID: t, name: name, removed: [id])) }
    }
}
