import Foundation
import Testing
import TesseraServer
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify's datagrams reach the socket systemd names, path or abstract; without one nothing is sent; the watchdog
/// interval is half of WatchdogSec, and only for the process systemd meant.
@Suite struct SystemdNotifierTests {
    /// A datagram socket bound at `path` (a leading '@' for the abstract namespace); returns its descriptor.
    func listen(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func receive(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
    }

    @Test(arguments: ["path", "abstract"]) func statesReachTheSocket(_ kind: String) throws {
        let name = kind == "path" ? FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
            : "@tessera-notify-\(UUID().uuidString.prefix(8))"
        let fd = try listen(name)
        defer {
            close(fd)
            if kind == "path" { unlink(name) }
        }
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": name])
        #expect(n.isActive)
        #expect(n.notify("READY=1\nSTATUS=serving"))
        #expect(receive(fd) == "READY=1\nSTATUS=serving")
        #expect(n.notify("WATCHDOG=1"))
        #expect(receive(fd) == "WATCHDOG=1")
    }

    @Test func withoutSystemdNothingIsSent() {
        let n = SystemdNotifier(environment: [:])
        #expect(!n.isActive && !n.notify("READY=1") && n.watchdogInterval == nil)
    }

    @Test func theWatchdogIsHalfItsTimeoutAndOnlyForThisProcess() {
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "20000000"]).watchdogInterval == .seconds(10))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "\(getpid())"]).watchdogInterval == .seconds(10))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval == nil)
    }
}
