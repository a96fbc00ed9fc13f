import Foundation
import Synchronization
import TesseraTokenizer

/// What scores RLHF's rollouts: a reward model (an adapter with a score head) or a user's program.
public protocol RewardFunction: Sendable {
    /// One reward per (prompt, answer), both as tokens.
    func rewards(prompts: [[Int32]], answers: [[Int32]]) throws -> [Double]
}

/// A reward model's score of each prompt + answer, read on the answer's last token as in its training.
public struct RewardModel: RewardFunction {
    public let pass: AdapterPass
    public let threads: Int

    public init(pass: AdapterPass, threads: Int) {
        precondition(pass.lora.hasScoreHead)
        self.pass = pass
        self.threads = threads
    }

    public func rewards(prompts: [[Int32]], answers: [[Int32]]) throws -> [Double] {
        let sequences = zip(prompts, answers).map { p, a in
            TrainingExample(tokens: p + a, weights: [Float](repeating: 0, count: p.count + a.count))
        }
        return pass.sequenceNLLs(sequences, threads: threads)
    }
}

/// A user's program as the reward: started once, it reads one JSON line per rollout on stdin,
/// `{"prompt": TEXT, "completion": TEXT}`, and answers each with one line on stdout, `{"reward": NUMBER}`.
public final class RewardCommand: RewardFunction {
    let tokenizer: Tokenizer
    let command: String
    private let state: Mutex<State>

    private struct State: @unchecked Sendable {  // only touched under the mutex
        var process: Process
        var input: FileHandle
        var output: FileHandle
        var buffer = Data()
    }

    public init(_ command: String, tokenizer: Tokenizer) throws {
        self.command = command
        self.tokenizer = tokenizer
        // A program that exits early must fail the write to it, not end the trainer with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let process = Process(), stdin = Pipe(), stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardInput = stdin
        process.standardOutput = stdout
        do { try process.run() } catch { throw TrainingFailure("--reward-command '\(command)' could not start: \(error)") }
        state = Mutex(State(process: process, input: stdin.fileHandleForWriting, output: stdout.fileHandleForReading))
    }

    deinit {
        state.withLock { s in
            try? s.input.close()
            if s.process.isRunning { s.process.terminate() }
        }
    }

    public func rewards(prompts: [[Int32]], answers: [[Int32]]) throws -> [Double] {
        try state.withLock { s in
            var out: [Double] = []
            for (p, a) in zip(prompts, answers) {
                let line = try JSONSerialization.data(withJSONObject: ["prompt": tokenizer.decode(p), "completion": tokenizer.decode(a)])
                do { try s.input.write(contentsOf: line + Data("\n".utf8)) } catch {
                    // Gone: what it wrote before it went says more than the broken pipe.
                    _ = try Self.reward(&s, command: command)
                    throw TrainingFailure("--reward-command '\(command)' stopped reading its input: \(error)")
                }
                out.append(try Self.reward(&s, command: command))
            }
            return out
        }
    }

    /// The next line of the program's output, as its reward.
    private static func reward(_ s: inout State, command: String) throws -> Double {
        while true {
            if let newline = s.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = s.buffer[s.buffer.startIndex..<newline]
                s.buffer = Data(s.buffer[(newline + 1)...])
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                      let r = (object["reward"] as? NSNumber)?.doubleValue, r.isFinite else {
                    throw TrainingFailure("--reward-command '\(command)' answered '\(String(decoding: line.prefix(200), as: UTF8.self))', not {\"reward\": NUMBER}")
                }
                return r
            }
            let more = s.output.availableData
            guard !more.isEmpty else { throw TrainingFailure("--reward-command '\(command)' exited before answering") }
            guard s.buffer.count + more.count <= 1 << 20 else { throw TrainingFailure("--reward-command '\(command)': a line past 1 MiB") }
            s.buffer += more
        }
    }
}
