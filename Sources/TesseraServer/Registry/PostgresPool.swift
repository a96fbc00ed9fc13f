import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// Connections to the shared registry's PostgreSQL, and a blocking call over them. The registry protocol is
/// synchronous (its SQLite twin is a local file), so a call waits for its query's future here; the futures run on
/// this pool's own event loop, which never waits, so waiting threads (HTTP handlers, the trainer's line reader)
/// cannot starve it.
final class PostgresPool: Sendable {
    let configuration: PostgresConnection.Configuration
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    /// Where the registry is, for messages (never the password).
    let location: String
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(1)
    /// Connections kept open between calls; more are opened when more threads call at once, and closed after.
    private let keptIdle = 8

    init(url: String, logger: Logger) throws(RegistryError) {
        (configuration, location) = try Self.parse(url)
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    deinit {
        for c in idle.withLock({ $0 }) { c.closeSoon() }
        group.shutdownGracefully { _ in }
    }

    func connect() throws(RegistryError) -> PostgresConnection {
        do {
            return try PostgresConnection.connect(on: group.next(), configuration: configuration,
                                                  id: nextID.add(1, ordering: .relaxed).newValue, logger: logger).wait()
        } catch {
            throw RegistryError("cannot connect to the registry at \(location): \(String(reflecting: error))")
        }
    }

    /// Runs `body` on a connection of its own (none is shared by two calls at once).
    @discardableResult
    func withConnection<T>(_ what: @autoclosure () -> String, _ body: (PostgresConnection) throws -> T) throws(RegistryError) -> T {
        let reused = idle.withLock { all -> PostgresConnection? in
            while let c = all.popLast() { if !c.isClosed { return c } }
            return nil
        }
        let c: PostgresConnection
        if let reused { c = reused } else { c = try connect() }
        defer {
            if !c.isClosed {
                let kept = idle.withLock { all -> Bool in
                    guard all.count < keptIdle else { return false }
                    all.append(c)
                    return true
                }
                if !kept { c.closeSoon() }
            }
        }
        do { return try body(c) } catch let e as RegistryError { throw e } catch {
            throw RegistryError("\(what()): \(String(reflecting: error))")
        }
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    @discardableResult
    func transaction<T>(_ what: @autoclosure () -> String, _ body: (PostgresConnection) throws -> T) throws(RegistryError) -> T {
        try withConnection(what()) { c in
            try c.run("BEGIN")
            do {
                let result = try body(c)
                try c.run("COMMIT")
                return result
            } catch {
                _ = try? c.run("ROLLBACK")
                throw error
            }
        }
    }

    /// `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require][&host=/socket/dir]`; a
    /// `host` parameter (libpq's) names a Unix socket directory instead of a TCP host. The password may also come
    /// from `PGPASSWORD`, so it stays out of command lines.
    static func parse(_ url: String) throws(RegistryError) -> (PostgresConnection.Configuration, String) {
        guard let u = URLComponents(string: url), ["postgres", "postgresql"].contains(u.scheme ?? "") else {
            throw RegistryError("--registry '\(url.split(separator: "@").last ?? "")': expected postgres://user:password@host:port/database")
        }
        let query = Dictionary((u.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let user = u.user.flatMap { $0.removingPercentEncoding } ?? ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
        let password = u.password.flatMap { $0.removingPercentEncoding } ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        let path = u.path.hasPrefix("/") ? String(u.path.dropFirst()) : u.path
        let database = path.isEmpty ? user : path
        let location: String
        var c: PostgresConnection.Configuration
        if let dir = query["host"], dir.hasPrefix("/") {
            let port = u.port ?? 5432
            c = .init(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            location = "\(dir) (port \(port)), database \(database)"
        } else {
            guard let host = u.host, !host.isEmpty else { throw RegistryError("--registry: the URL names no host") }
            let tls: PostgresConnection.Configuration.TLS
            do {
                switch query["sslmode"] ?? "prefer" {
                case "disable": tls = .disable
                case "prefer", "allow": tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case "require", "verify-ca", "verify-full": tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case let other: throw RegistryError("--registry: sslmode '\(other)' is not one of disable, prefer, require")
                }
            } catch let e as RegistryError { throw e } catch { throw RegistryError("--registry: cannot set up TLS: \(error)") }
            c = .init(host: host, port: u.port ?? 5432, username: user, password: password, database: database, tls: tls)
            location = "\(host):\(u.port ?? 5432), database \(database)"
        }
        c.options.connectTimeout = .seconds(5)
        return (c, location)
    }
}

extension PostgresConnection {
    /// Closes without waiting (the future-returning `close`, not the async one).
    func closeSoon() {
        let _: EventLoopFuture<Void> = close()
    }

    @discardableResult
    func run(_ q: PostgresQuery) throws -> PostgresQueryResult { try query(q, logger: logger).wait() }

    /// Rows changed by an UPDATE or DELETE.
    func changed(_ q: PostgresQuery) throws -> Int { try run(q).metadata.rows ?? 0 }

    /// Tells every replica (this one too) after the transaction commits. A payload must stay under PostgreSQL's 8000
    /// bytes: an adapter with hundreds of versions sends only the store ids that fit (the others leave the replicas'
    /// RAM as their caches evict them).
    func notify(_ change: RegistryChange) throws {
        var change = change
        while case .adapter(let t, let name, let removed) = change, change.payload.utf8.count > 7900 {
            change = .adapter(tenantID: t, name: name, removed: Array(removed.dropLast(removed.count / 2 + 1)))
        }
        try run("SELECT pg_notify(\(PostgresRegistry.channel), \(change.payload))")
    }
}
