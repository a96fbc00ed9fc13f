import Foundation
import Testing
import TesseraTestSupport

/// Two `tessera serve` processes sharing one PostgreSQL registry and one adapter store, on loopback, as two pods of
/// a Deployment would: what one replica is told, the other acts on within the notification delay, and killing one
/// loses nothing the other serves.
@Suite(.serialized) struct ReplicaTests {
    static let adminKey = "adm_replica_test"

    final class Replica {
        let process = Process()
        let port: Int
        let log: URL
        var base: String { "http://127.0.0.1:\(port)" }

        init(port: Int, registry: String, store: URL, data: URL) throws {
            self.port = port
            log = data.appendingPathComponent("serve.log")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = TestModel.executable
            process.arguments = ["serve", "--model", TestModel.path, "--port", "\(port)", "--data-dir", data.path,
                                 "--registry", registry, "--adapter-store", store.path, "--replica-id", "replica-\(port)",
                                 "--kv-cache-bytes", "\(64 << 20)", "--max-training-jobs", "0"]
            var env = ProcessInfo.processInfo.environment
            env["TESSERA_ADMIN_KEY"] = ReplicaTests.adminKey
            process.environment = env
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        /// Waits for `/ready` (the model loaded, the registry reachable).
        func ready() throws {
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                if (try? http("GET", "/ready").status) == 200 { return }
                guard process.isRunning else { break }
                Thread.sleep(forTimeInterval: 0.2)
            }
            throw ReplicaError("replica on \(port) never became ready: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }

        /// One request through curl: status and body.
        func http(_ method: String, _ path: String, key: String? = nil, json: String? = nil, form: [String] = []) throws -> (status: Int, body: String) {
            var args = ["-s", "-m", "60", "-X", method, "-w", "\n%{http_code}", base + path]
            if let key { args += ["-H", "Authorization: Bearer \(key)"] }
            if let json { args += ["-H", "Content-Type: application/json", "-d", json] }
            for f in form { args += ["-F", f] }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["curl"] + args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            guard let cut = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: cut)...]) else {
                throw ReplicaError("curl \(method) \(path) on \(port) failed (exit \(p.terminationStatus))")
            }
            return (status, String(text[..<cut]))
        }
    }

    struct ReplicaError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func json(_ s: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:]
    }

    /// Polls `condition` for up to `seconds`.
    static func within(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return false
    }

    @Test func twoReplicasShareTenantsAdaptersLimitsAndSurviveALoss() throws {
        let registry = try TestPostgres.database()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-replicas-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = root.appendingPathComponent("store")
        let port = 31000 + Int(getpid() % 1000) * 2
        let a = try Replica(port: port, registry: registry, store: store, data: root.appendingPathComponent("a"))
        let b = try Replica(port: port + 1, registry: registry, store: store, data: root.appendingPathComponent("b"))
        defer {
            for r in [a, b] where r.process.isRunning { r.process.terminate(); r.process.waitUntilExit() }
        }
        try a.ready()
        try b.ready()
        // A tenant made on A authenticates on B.
        let created = try a.http("POST", "/admin/tenants", key: Self.adminKey, json: #"{"name":"acme"}"#)
        #expect(created.status == 201 || created.status == 200, "\(created.body)")
        let key = try #require(Self.json(created.body)["api_key"] as? String)
        #expect(try b.http("GET", "/v1/models", key: key).status == 200)

        // An adapter uploaded on A is served by B.
        let example = TestModel.repositoryRoot.appendingPathComponent("adapters/examples/sums-lora")
        for name in ["sums", "kept"] {
            let up = try a.http("POST", "/v1/adapters", key: key, form: [
                "name=\(name)", "adapter_config=@\(example.appendingPathComponent("adapter_config.json").path)",
                "adapter_model=@\(example.appendingPathComponent("adapter_model.safetensors").path)"])
            #expect(up.status == 200 || up.status == 201, "\(up.body)")
        }
        let completion = #"{"model":"sums","prompt":"2+2=","max_tokens":3,"temperature":0}"#
        let served = try b.http("POST", "/v1/completions", key: key, json: completion)
        #expect(served.status == 200, "\(served.body)")

        // Deleting it on A makes B answer 404 within 2 s.
        #expect(try a.http("DELETE", "/v1/adapters/sums", key: key).status == 200)
        #expect(try Self.within(2) { try b.http("POST", "/v1/completions", key: key, json: completion).status == 404 })

        // A rate limit set on A holds for the sum of both replicas' traffic.
        let limited = try a.http("PATCH", "/admin/tenants/acme", key: Self.adminKey, json: #"{"requests_per_minute":4}"#)
        #expect(limited.status == 200, "\(limited.body)")
        Thread.sleep(forTimeInterval: 0.5)  // B's cached tenant is dropped on the notification
        let small = #"{"model":"kept","prompt":"1","max_tokens":1}"#
        // Alternating replicas, the two together admit 4 a minute and then refuse. The 8 requests must fall in one
        // minute that no earlier attempt counted in: start at least 15 s before a minute turns, and retry (if a minute
        // turned anyway) only in the next one, whose count the first attempt may have begun.
        var statuses: [Int] = []
        for attempt in 0..<2 {
            let second = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 60)
            if attempt > 0 || second > 45 { Thread.sleep(forTimeInterval: 60.5 - second) }
            let minute = Int(Date().timeIntervalSince1970 / 60)
            statuses = try (0..<8).map { i in try (i % 2 == 0 ? a : b).http("POST", "/v1/completions", key: key, json: small).status }
            if Int(Date().timeIntervalSince1970 / 60) == minute { break }
        }
        #expect(statuses.filter { $0 == 200 }.count == 4, "\(statuses)")
        #expect(statuses.suffix(4).allSatisfy { $0 == 429 }, "\(statuses)")
        #expect(try a.http("PATCH", "/admin/tenants/acme", key: Self.adminKey, json: #"{"requests_per_minute":null}"#).status == 200)

        // Killing A loses nothing B serves.
        kill(a.process.processIdentifier, SIGKILL)
        a.process.waitUntilExit()
        #expect(try Self.within(2) { try b.http("POST", "/v1/completions", key: key, json: small).status == 200 })
        #expect(try b.http("GET", "/v1/adapters/kept", key: key).status == 200)

        // Revoking the key (on B now, A being gone; then on a restarted A) makes the other answer 401 within 2 s.
        let a2 = try Replica(port: port, registry: registry, store: store, data: root.appendingPathComponent("a"))
        defer { if a2.process.isRunning { a2.process.terminate(); a2.process.waitUntilExit() } }
        try a2.ready()
        #expect(try a2.http("POST", "/v1/completions", key: key, json: small).status == 200)
        #expect(try a2.http("POST", "/admin/tenants/acme/revoke", key: Self.adminKey).status == 200)
        #expect(try Self.within(2) { try b.http("POST", "/v1/completions", key: key, json: small).status == 401 })
    }
}
