import Foundation
import Synchronization

/// A throwaway PostgreSQL server for the tests (PostgreSQL 15 from Debian's packages, which `scripts/setup`
/// installs): one cluster per test process in a temporary directory, listening only on a Unix socket there, and a
/// fresh database per caller. Started on first use, stopped when the process exits.
public final class TestPostgres: Sendable {
    public let directory: URL
    public let port: Int
    let bin: URL

    /// The server of this test process, or why there is none.
    public static let shared: Result<TestPostgres, TestPostgresError> = {
        do throws(TestPostgresError) { return .success(try TestPostgres(name: "shared", portOffset: 0)) } catch { return .failure(error) }
    }()

    /// A new empty database's URL on the shared server, for `--registry` and `PostgresRegistry(url:)`.
    public static func database() throws -> String { try shared.get().database() }

    /// A server of the caller's own, for a test that stops or restarts it (the shared one serves tests running at once).
    public static func standalone(_ name: String, portOffset: Int) throws -> TestPostgres { try TestPostgres(name: name, portOffset: portOffset) }

    /// A new empty database's URL on this server.
    public func database() throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try run("psql", ["-h", socketDirectory, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        return "postgres://postgres@localhost:\(port)/\(name)?host=\(socketDirectory)"
    }

    /// Stops the server (fast: connections are cut) and starts it again.
    public func restart() throws {
        try run("pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "fast", "-w", "-t", "60", "-o", options, "restart"])
    }

    var socketDirectory: String { directory.path }
    var options: String { "-k \(directory.path) -c listen_addresses='' -p \(port) -c fsync=off -c max_connections=200" }

    init(name: String, portOffset: Int) throws(TestPostgresError) {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw TestPostgresError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin); scripts/setup installs it")
        }
        bin = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        // Short: a socket path must fit in 107 bytes.
        directory = URL(fileURLWithPath: "/tmp/tessera-pg-\(getpid())-\(name)")
        port = 20000 + Int(getpid() % 20000) + portOffset
        do {
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if getuid() == 0 { try run("/bin/chown", ["postgres:postgres", directory.path], asServer: false) }
            let data = directory.appendingPathComponent("data").path
            try run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            try run("pg_ctl", ["-D", data, "-l", directory.appendingPathComponent("log").path, "-w", "-t", "60",
                               "-o", options, "start"])
        } catch {
            throw TestPostgresError("cannot start a test PostgreSQL in \(directory.path): \(error)")
        }
        let dir = directory.path, pgctl = bin.appendingPathComponent("pg_ctl").path, asRoot = getuid() == 0
        let first = Self.stopAtExit.withLock { servers in
            servers.append((dir, pgctl, asRoot))
            return servers.count == 1
        }
        guard first else { return }
        atexit {
            for (dir, pgctl, asRoot) in TestPostgres.stopAtExit.withLock({ $0 }) {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: asRoot ? "/usr/sbin/runuser" : pgctl)
                p.arguments = (asRoot ? ["-u", "postgres", "--", pgctl] : []) + ["-D", dir + "/data", "-m", "immediate", "stop"]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try? p.run()
                p.waitUntilExit()
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
    }

    /// What the exit hook stops (a C function pointer cannot capture).
    private static let stopAtExit = Mutex<[(String, String, Bool)]>([])

    /// Runs a PostgreSQL program (as the `postgres` user when the tests run as root: the server refuses root).
    func run(_ program: String, _ arguments: [String], asServer: Bool = true) throws {
        let path = program.hasPrefix("/") || !asServer ? program : bin.appendingPathComponent(program).path
        let command = (asServer && getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [path] + arguments
        // Through bash closing every descriptor past stderr: the server pg_ctl leaves running must not inherit the
        // ones Foundation watches to learn that a child exited (this one, or another test's), or no wait would end.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", #"for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; exec "$@""#, "bash"] + command
        // Errors to a file, not a pipe, for the same reason.
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-pg-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: errors)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let message = (try? Data(contentsOf: errors)) ?? Data()
        guard p.terminationStatus == 0 else {
            throw TestPostgresError("\(program) exited with \(p.terminationStatus): \(String(decoding: message, as: UTF8.self))")
        }
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
