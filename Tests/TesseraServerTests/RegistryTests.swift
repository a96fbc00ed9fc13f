import Foundation
import Synchronization
import Testing
import TesseraAdapters
import TesseraServer
import TesseraTestSupport

/// The registry protocol's behaviour, the same on both implementations: SQLite in a temporary directory and a real
/// PostgreSQL (`TestPostgres`, started by the tests). Then what only a shared registry does: replicas see each
/// other's changes within the notification delay, claim jobs exclusively, and count rate limits together.
@Suite struct RegistryTests {
    enum Backing: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// A fresh registry of that kind (a Postgres one on a database of its own).
    static func open(_ backing: Backing) throws -> any Registry {
        switch backing {
        case .sqlite:
            return try SQLiteRegistry(directory: FileManager.default.temporaryDirectory.appendingPathComponent("tessera-registry-\(UUID().uuidString)"))
        case .postgres:
            return try PostgresRegistry(url: try TestPostgres.database())
        }
    }

    static func job(_ id: String, tenant: String, at: Date, status: FineTuningJob.Status = .queued) -> FineTuningJob {
        FineTuningJob(id: id, tenantID: tenant, model: "base", trainingFile: "file-x", seed: 1, spec: "{}", status: status,
                      createdAt: at, resultFiles: "[]", attempts: 0)
    }

    /// Waits up to `seconds` for `condition` (a change reaching another replica).
    static func eventually(within seconds: Double = 2, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return try condition()
    }

    @Test(arguments: Backing.allCases) func tenantsKeysAndLimits(_ backing: Backing) throws {
        let r = try Self.open(backing)
        let (acme, key) = try r.createTenant(name: "acme", weight: 2) { $0.requestsPerMinute = 10 }
        _ = try r.createTenant(name: "beta")
        #expect(throws: RegistryError("tenant 'acme' exists")) { try r.createTenant(name: "acme") }
        #expect(throws: RegistryError.self) { try r.createTenant(name: "../etc") }
        #expect(try r.tenant(forKey: key)?.id == acme.id)
        #expect(try r.tenant(forKey: key)?.requestsPerMinute == 10)
        #expect(try r.tenant(forKey: key + "x") == nil)
        #expect(try r.tenant(forKey: "sk-nonsense") == nil)
        #expect(try r.tenants().map(\.name) == ["acme", "beta"])  // the shared adapters' owner is not a tenant

        let updated = try r.updateTenant(named: "acme") { $0.tokensPerMinute = 500; $0.maxTrainingJobs = 2; $0.weight = 3 }
        #expect(updated?.tokensPerMinute == 500)
        let read = try #require(try r.tenant(named: "acme"))
        #expect(read.tokensPerMinute == 500 && read.maxTrainingJobs == 2 && read.weight == 3 && read.requestsPerMinute == 10)
        #expect(try r.updateTenant(named: "nobody") { _ in } == nil)

        let newKey = try #require(try r.rotateKey(named: "acme"))
        #expect(try r.tenant(forKey: key) == nil)
        #expect(try r.tenant(forKey: newKey)?.id == acme.id)
        _ = try r.updateTenant(named: "acme") { $0.revoked = true }
        #expect(try r.tenant(forKey: newKey) == nil)
        #expect(r.isReachable())
    }

    @Test(arguments: Backing.allCases) func adapterVersionsAndVisibility(_ backing: Backing) throws {
        let r = try Self.open(backing)
        let (a, _) = try r.createTenant(name: "acme")
        let (b, _) = try r.createTenant(name: "beta")
        let v1 = try r.addAdapter(tenantID: a.id, name: "sql", kind: "lora", bytes: 10, storeID: "a1")
        let v2 = try r.addAdapter(tenantID: a.id, name: "sql", kind: "lora", bytes: 20, storeID: "a2")
        _ = try r.addAdapter(tenantID: a.id, name: "chat", kind: "prompt", bytes: 5, storeID: "a3")
        _ = try r.addAdapter(tenantID: sharedTenantID, name: "everyone", kind: "lora", bytes: 7, storeID: "s1")
        #expect(v1.version == 1 && v2.version == 2)
        #expect(try r.adapter(tenantID: a.id, name: "sql")?.storeID == "a2")
        #expect(try r.adapters(tenantID: a.id).map { "\($0.name)@\($0.version)" } == ["chat@1", "sql@2"])
        #expect(try r.adapter(tenantID: b.id, name: "sql") == nil)  // another tenant's adapter does not exist here
        #expect(try r.visibleAdapter(tenantID: b.id, name: "everyone")?.storeID == "s1")
        #expect(try r.visibleAdapter(tenantID: b.id, name: "sql") == nil)
        #expect(try r.allStoreIDs() == ["a1", "a2", "a3", "s1"])
        #expect(try Set(r.deleteAdapter(tenantID: a.id, name: "sql")) == ["a1", "a2"])
        #expect(try r.adapter(tenantID: a.id, name: "sql") == nil)
        #expect(try r.deleteAdapter(tenantID: a.id, name: "sql") == [])
        try r.deleteAdapterRows(storeIDs: ["a3"])
        #expect(try r.allStoreIDs() == ["s1"])
        // A new version after a delete starts again at 1.
        #expect(try r.addAdapter(tenantID: a.id, name: "sql", kind: "lora", bytes: 1, storeID: "a4").version == 1)
    }

    @Test(arguments: Backing.allCases) func filesPageNewestFirst(_ backing: Backing) throws {
        let r = try Self.open(backing)
        let (a, _) = try r.createTenant(name: "acme")
        let (b, _) = try r.createTenant(name: "beta")
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<5 {
            try r.addFile(FileRecord(id: "file-\(i)", tenantID: a.id, filename: "f\(i).jsonl", purpose: i == 4 ? "fine-tune-results" : "fine-tune",
                                     bytes: 100 * (i + 1), lines: i, format: "chat", createdAt: t0.addingTimeInterval(Double(i))))
        }
        try r.addFile(FileRecord(id: "file-b", tenantID: b.id, filename: "b.jsonl", purpose: "fine-tune", bytes: 1, lines: 1, format: "chat", createdAt: t0))
        #expect(try r.files(tenantID: a.id, purpose: nil, after: nil, limit: 2).map(\.id) == ["file-4", "file-3"])
        #expect(try r.files(tenantID: a.id, purpose: nil, after: "file-3", limit: 2).map(\.id) == ["file-2", "file-1"])
        #expect(try r.files(tenantID: a.id, purpose: "fine-tune", after: nil, limit: 10).map(\.id) == ["file-3", "file-2", "file-1", "file-0"])
        #expect(try r.files(tenantID: a.id, purpose: nil, after: "file-b", limit: 1).map(\.id) == ["file-4"])  // not its cursor
        #expect(try r.file(tenantID: b.id, id: "file-1") == nil)
        #expect(try r.file(tenantID: a.id, id: "file-1")?.bytes == 200)
        #expect(try r.fileBytes(tenantID: a.id) == 1500)
        #expect(try r.deleteFile(tenantID: b.id, id: "file-1") == false)
        #expect(try r.deleteFile(tenantID: a.id, id: "file-1"))
        try r.deleteFileRows(ids: ["file-0"])
        #expect(try r.allFileIDs() == ["file-2", "file-3", "file-4", "file-b"])
    }

    @Test(arguments: Backing.allCases) func jobsClaimCompleteAndPage(_ backing: Backing) throws {
        let r = try Self.open(backing)
        let (a, _) = try r.createTenant(name: "acme")
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        try r.addJob(Self.job("ftjob-1", tenant: a.id, at: t0))
        try r.addJob(Self.job("ftjob-2", tenant: a.id, at: t0.addingTimeInterval(1)))
        #expect(try r.jobs(status: [.queued]).map(\.id) == ["ftjob-1", "ftjob-2"])
        #expect(try r.jobs(tenantID: a.id, after: nil, limit: 1).map(\.id) == ["ftjob-2"])
        #expect(try r.jobs(tenantID: a.id, after: "ftjob-2", limit: 5).map(\.id) == ["ftjob-1"])

        func claim(_ owner: String) throws -> Bool {
            var won = false
            try r.updateJob(id: "ftjob-1", event: ("info", "started")) { j in
                guard j.status == .queued else { return false }
                j.status = .running
                j.owner = owner
                j.heartbeatAt = Date()
                won = true
                return true
            }
            return won
        }
        #expect(try claim("replica-a"))
        #expect(try !claim("replica-b"))
        #expect(try r.job(id: "ftjob-1")?.owner == "replica-a")
        #expect(try r.activeJobCount(tenantID: a.id) == 1)
        let before = try #require(try r.job(id: "ftjob-1")?.heartbeatAt)
        Thread.sleep(forTimeInterval: 0.01)
        try r.heartbeat(jobIDs: ["ftjob-1"], owner: "replica-b")  // not its job: no change
        #expect(try r.job(id: "ftjob-1")?.heartbeatAt == before)
        try r.heartbeat(jobIDs: ["ftjob-1"], owner: "replica-a")
        #expect(try r.job(id: "ftjob-1")!.heartbeatAt! > before)

        for i in 0..<3 {
            try r.addEvent(jobID: "ftjob-1", level: "info", message: "step \(i)", type: "metrics", data: ["step": i])
        }
        let events = try r.events(jobID: "ftjob-1", after: nil, limit: 2)
        #expect(events.map(\.message) == ["step 2", "step 1"])
        #expect(events[0].data == #"{"step":2}"#)
        #expect(try r.events(jobID: "ftjob-1", after: events[1].id, limit: 10).map(\.message) == ["step 0", "started"])

        for step in [2, 4] {
            let model = AdapterRecord(storeID: "ck\(step)", tenantID: a.id, name: "ft:base:acme::ftjob-1:ckpt-step-\(step)", version: 1,
                                      kind: "lora", bytes: 1, createdAt: Date())
            try r.addCheckpoint(JobCheckpoint(id: "ftckpt-\(step)", jobID: "ftjob-1", step: step, model: model.name, metrics: "{}", createdAt: Date()), model: model)
        }
        #expect(try r.checkpoints(jobID: "ftjob-1").map(\.step) == [4, 2])
        #expect(try r.checkpoints(jobID: "ftjob-1", after: "ftckpt-4", limit: 10).map(\.step) == [2])
        try r.deleteCheckpoint(id: "ftckpt-2")
        #expect(try r.checkpoints(jobID: "ftjob-1").map(\.step) == [4])

        let model = AdapterRecord(storeID: "done1", tenantID: a.id, name: "ft:base:acme::ftjob-1", version: 1, kind: "lora", bytes: 1, createdAt: Date())
        let results = FileRecord(id: "file-r", tenantID: a.id, filename: "step_metrics.csv", purpose: "fine-tune-results", bytes: 3, lines: 1,
                                 format: "results", createdAt: Date())
        #expect(try r.completeJob(id: "ftjob-1", model: model, resultFile: results, trainedTokens: 42, message: "done"))
        let done = try #require(try r.job(tenantID: a.id, id: "ftjob-1"))
        #expect(done.status == .succeeded && done.fineTunedModel == model.name && done.trainedTokens == 42 && done.resultFileIDs == ["file-r"])
        #expect(try r.adapter(tenantID: a.id, name: model.name)?.storeID == "done1")
        #expect(try !r.completeJob(id: "ftjob-2", model: model, resultFile: nil, trainedTokens: 0, message: "not running"))
        #expect(try r.job(tenantID: "someone-else", id: "ftjob-1") == nil)
    }

    @Test(arguments: Backing.allCases) func usageCountsPerMinute(_ backing: Backing) throws {
        let r = try Self.open(backing)
        let (a, _) = try r.createTenant(name: "acme")
        let u = r.usage
        for _ in 0..<3 { #expect(try u.admit(tenantID: a.id, minute: 100, promptTokens: 10, requestsPerMinute: 3, tokensPerMinute: nil) == nil) }
        #expect(try u.admit(tenantID: a.id, minute: 100, promptTokens: 10, requestsPerMinute: 3, tokensPerMinute: nil) == .requests(limit: 3))
        #expect(try u.admit(tenantID: a.id, minute: 101, promptTokens: 10, requestsPerMinute: 3, tokensPerMinute: nil) == nil)  // a new window
        #expect(try u.admit(tenantID: a.id, minute: 101, promptTokens: 50, requestsPerMinute: nil, tokensPerMinute: 100) == nil)
        #expect(try u.admit(tenantID: a.id, minute: 101, promptTokens: 50, requestsPerMinute: nil, tokensPerMinute: 100) == .tokens(limit: 100, used: 60))
        #expect(try u.admit(tenantID: a.id, minute: 101, promptTokens: 500, requestsPerMinute: nil, tokensPerMinute: 100) != nil)
        u.charge(tenantID: a.id, minute: 101, tokens: 30)
        u.flush()
        #expect(try u.admit(tenantID: a.id, minute: 101, promptTokens: 20, requestsPerMinute: nil, tokensPerMinute: 100) == .tokens(limit: 100, used: 90))
    }

    // MARK: - A shared registry

    @Test func replicasSeeEachOthersChangesWithinTwoSeconds() throws {
        let url = try TestPostgres.database()
        let a = try PostgresRegistry(url: url), b = try PostgresRegistry(url: url)
        defer { a.close(); b.close() }
        let seen = Mutex<[RegistryChange]>([])
        b.observe { change in seen.withLock { $0.append(change) } }
        let (tenant, key) = try a.createTenant(name: "acme")
        // B reads (and caches) the tenant and a miss for the adapter...
        #expect(try Self.eventually { try b.tenant(forKey: key)?.id == tenant.id })
        #expect(try b.visibleAdapter(tenantID: tenant.id, name: "sql") == nil)
        // ...then A's changes reach it.
        _ = try a.addAdapter(tenantID: tenant.id, name: "sql", kind: "lora", bytes: 1, storeID: "a1")
        #expect(try Self.eventually { try b.visibleAdapter(tenantID: tenant.id, name: "sql")?.storeID == "a1" })
        _ = try a.deleteAdapter(tenantID: tenant.id, name: "sql")
        #expect(try Self.eventually { try b.visibleAdapter(tenantID: tenant.id, name: "sql") == nil })
        _ = try a.updateTenant(named: "acme") { $0.revoked = true }
        #expect(try Self.eventually { try b.tenant(forKey: key) == nil })
        #expect(Self.eventually { seen.withLock { $0.contains(.adapter(tenantID: tenant.id, name: "sql", removed: ["a1"])) } })
        #expect(seen.withLock { $0.contains(.tenant(id: tenant.id)) })
    }

    /// The database restarting cuts every connection: calls work again once it is back, and the cache, off while
    /// notifications were down, is live again, so a change made after the restart still reaches the other replica.
    @Test func aRestartedDatabaseLosesNoChange() throws {
        let server = try TestPostgres.standalone("restart", portOffset: 1)
        let url = try server.database()
        let a = try PostgresRegistry(url: url), b = try PostgresRegistry(url: url)
        defer { a.close(); b.close() }
        let (_, key) = try a.createTenant(name: "acme")
        #expect(try Self.eventually { try b.tenant(forKey: key) != nil })
        try server.restart()
        // The first calls may meet connections the restart cut; within a few seconds both answer again.
        #expect(Self.eventually(within: 10) { ((try? b.tenant(forKey: key)) ?? nil) != nil && a.isReachable() })
        #expect(Self.eventually(within: 10) { (try? a.updateTenant(named: "acme") { $0.revoked = true }) != nil })
        #expect(Self.eventually(within: 4) { ((try? b.tenant(forKey: key)) ?? nil) == nil })
    }

    /// NOTIFY payloads are capped at 8000 bytes: deleting an adapter with hundreds of versions still commits and tells
    /// the other replicas.
    @Test func deletingManyVersionsFitsOneNotification() throws {
        let url = try TestPostgres.database()
        let a = try PostgresRegistry(url: url), b = try PostgresRegistry(url: url)
        defer { a.close(); b.close() }
        let (tenant, _) = try a.createTenant(name: "acme")
        for _ in 0..<400 { _ = try a.addAdapter(tenantID: tenant.id, name: "busy", kind: "lora", bytes: 1, storeID: AdapterRecord.newStoreID()) }
        #expect(try Self.eventually { try b.adapter(tenantID: tenant.id, name: "busy")?.version == 400 })
        #expect(try a.deleteAdapter(tenantID: tenant.id, name: "busy").count == 400)
        #expect(try Self.eventually { try b.adapter(tenantID: tenant.id, name: "busy") == nil })
    }

    @Test func onlyOneReplicaClaimsAJob() throws {
        let url = try TestPostgres.database()
        let replicas = try (0..<4).map { _ in try PostgresRegistry(url: url) }
        defer { for r in replicas { r.close() } }
        let (tenant, _) = try replicas[0].createTenant(name: "acme")
        try replicas[0].addJob(Self.job("ftjob-1", tenant: tenant.id, at: Date()))
        let winners = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: replicas.count) { i in
            var won = false
            _ = try? replicas[i].updateJob(id: "ftjob-1", event: nil) { j in
                guard j.status == .queued else { return false }
                j.status = .running
                j.owner = "r\(i)"
                won = true
                return true
            }
            if won { winners.withLock { $0.append(i) } }
        }
        let w = winners.withLock { $0 }
        #expect(w.count == 1)
        #expect(try replicas[0].job(id: "ftjob-1")?.owner == "r\(w.first ?? -1)")
    }

    @Test func rateLimitsHoldAcrossReplicas() throws {
        let url = try TestPostgres.database()
        let a = try PostgresRegistry(url: url), b = try PostgresRegistry(url: url)
        defer { a.close(); b.close() }
        let (tenant, _) = try a.createTenant(name: "acme")
        var admitted = 0
        for i in 0..<10 {
            let r: any Registry = i % 2 == 0 ? a : b
            if try r.usage.admit(tenantID: tenant.id, minute: 7, promptTokens: 1, requestsPerMinute: 4, tokensPerMinute: nil) == nil { admitted += 1 }
        }
        #expect(admitted == 4)
    }

    /// Start-up recovery on a shared store leaves other replicas' fresh writes alone, and never drops a row for a
    /// missing file (a store mounted wrong on one replica must not empty everyone's registry).
    @Test func recoveryOnASharedStoreSparesFreshWrites() throws {
        let r = try PostgresRegistry(url: try TestPostgres.database())
        defer { r.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-shared-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try AdapterStore(directory: dir)
        let (tenant, _) = try r.createTenant(name: "acme")
        let fresh = AdapterRecord.newStoreID(), old = AdapterRecord.newStoreID(), missing = AdapterRecord.newStoreID()
        try store.files.write(Data("fresh".utf8), id: fresh)
        try store.files.write(Data("old".utf8), id: old)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: try store.files.url(old).path)
        _ = try r.addAdapter(tenantID: tenant.id, name: "gone", kind: "lora", bytes: 1, storeID: missing)
        let report = try DataRecovery.recover(registry: r, store: store)
        #expect(report.orphanFiles == 1 && report.rowsWithoutFiles == [missing])
        #expect(store.contains(id: fresh) && !store.contains(id: old))
        #expect(try r.allStoreIDs() == [missing])
    }
}
