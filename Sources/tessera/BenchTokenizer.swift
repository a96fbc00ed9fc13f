import Foundation
import TesseraFormats
import TesseraTokenizer

/// `tessera bench --tokenizer`: seconds to tokenize a 1 MB text, Tessera beside llama.cpp's `llama-tokenize` on the
/// same vocabulary file, one run each. llama-tokenize is timed as a process on the text minus a process on an empty
/// text, so its start-up and vocabulary load are left out as Tessera's are (loaded once before the clock starts).
struct TokenizerBench {
    let vocabularies: [String]
    let textPath: String?
    let llamaTokenize: String?

    func run(json: Bool) throws {
        let text = try textPath.map { path -> String in
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read --tokenizer-text \(path)") }
            return String(decoding: data, as: UTF8.self)
        } ?? Self.sampleText(bytes: 1 << 20)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bench-tok-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let textFile = dir.appendingPathComponent("text.txt"), emptyFile = dir.appendingPathComponent("empty.txt")
        try Data(text.utf8).write(to: textFile)
        try Data("a".utf8).write(to: emptyFile)

        var rows: [[String: Any]] = []
        for path in vocabularies where FileManager.default.fileExists(atPath: path) {
            let tokenizer = try runOrExit { try Tokenizer(gguf: GGUFFile(path: path)) }
            _ = tokenizer.encode(String(text.prefix(10_000)), parseSpecial: false)  // warm-up
            let start = Date()
            let ids = tokenizer.encode(text, parseSpecial: false)
            let tessera = Date().timeIntervalSince(start)
            var row: [String: Any] = ["vocabulary": URL(fileURLWithPath: path).lastPathComponent, "bytes": text.utf8.count,
                                      "tokens": ids.count, "tessera_seconds": tessera]
            if let llama = llamaTokenize {
                let full = try Self.time(llama, ["-m", path, "-f", textFile.path, "--ids", "--log-disable", "--no-parse-special"])
                let empty = try Self.time(llama, ["-m", path, "-f", emptyFile.path, "--ids", "--log-disable", "--no-parse-special"])
                row["llama_cpp_seconds"] = max(full - empty, 0)
            }
            rows.append(row)
            if !json {
                var line = String(format: "tokenize %@: %d bytes -> %d tokens, tessera %.3f s (%.1f MB/s)", row["vocabulary"] as! String,
                                  text.utf8.count, ids.count, tessera, Double(text.utf8.count) / tessera / 1e6)
                if let l = row["llama_cpp_seconds"] as? Double {
                    line += String(format: ", llama.cpp %.3f s, ratio %.2fx", l, l / tessera)
                }
                print(line)
            }
        }
        if llamaTokenize == nil && !json { print("(llama-tokenize not found: run tools/bench/setup-llama, or give --llama-tokenize PATH)") }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["tokenizer": rows], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// Wall seconds of one run of a program, its output discarded.
    static func time(_ program: String, _ arguments: [String]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let start = Date()
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIError("\(program) \(arguments.joined(separator: " ")) exited with \(p.terminationStatus)") }
        return Date().timeIntervalSince(start)
    }

    /// A deterministic mixed text of about `bytes` bytes: prose, code, numbers, whitespace runs, CJK, accents, emoji.
    static func sampleText(bytes: Int) -> String {
        let pieces = [
            "The quick brown fox jumps over the lazy dog. ", "It's 3:45pm; we'll see what they've done.\n",
            "func encode(_ text: String) -> [Int32] {\n    return tokenizer.encode(text)\n}\n", "    \t  \n\n",
            "Numbers: 1234567890, 3.14159, -42, 1e-5. ", "Über straße café naïve résumé. ", "日本語のテキストと中文文本。",
            "한국어 문장입니다. ", "Emoji 🎉🚀👍🏽 and ZWJ 👩‍👩‍👧. ", "Ελληνικά και русский текст. ",
            "<div class=\"x\">HTML &amp; entities</div>\n", "SELECT * FROM users WHERE id = 42;\n",
        ]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var out = ""
        out.reserveCapacity(bytes + 256)
        while out.utf8.count < bytes {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            out += pieces[Int(state >> 33) % pieces.count]
        }
        return out
    }
}
