import Foundation
import Synchronization

/// One `tessera train --json` child (DESIGN 1, training flow): its stdout read line by line on a thread of its own,
/// its stderr kept in a log file, its stdin a pipe the server never writes to, so that when the server dies, even by
/// SIGKILL, the child sees end-of-file and exits (`--exit-on-stdin-eof`) instead of training on as an orphan.
final class TrainerProcess: Sendable {
    private let process: Process
    private let stdin: Pipe
    let log: URL

    /// Starts `executable arguments`; `line` gets each line of stdout, `exited` the exit status once stdout has
    /// closed and the process has ended.
    init(executable: URL, arguments: [String], log: URL, line: @escaping @Sendable (String) -> Void,
         exited: @escaping @Sendable (Int32) -> Void) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let errors = try FileHandle(forWritingTo: log)
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = errors
        try process.run()
        try? errors.close()
        self.process = process
        self.stdin = stdin
        self.log = log
        let reader = stdout.fileHandleForReading
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 0x0a) {
                    let text = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    if !text.isEmpty { line(text) }
                }
            }
            process.waitUntilExit()
            try? stdin.fileHandleForWriting.close()
            exited(process.terminationStatus)
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGTERM: the trainer stops after its current step and writes a checkpoint.
    func stop() { Foundation.kill(process.processIdentifier, SIGTERM) }

    /// SIGKILL: gone at once (a cancelled job keeps nothing).
    func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }

    /// The last lines the trainer wrote to stderr: its error, when it failed.
    func lastError() -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("warning:") }
        return lines.last.map { String($0.hasPrefix("error: ") ? $0.dropFirst(7) : Substring($0)) } ?? "the trainer exited without a message"
    }
}
