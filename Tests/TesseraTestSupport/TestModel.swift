import Foundation
import TesseraFormats

/// The default model, shared by the test targets. `make test` fetches it before the tests run.
public enum TestModel {
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var path: String {
        ProcessInfo.processInfo.environment["TESSERA_MODEL"]
            ?? repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }

    /// The built `tessera` executable (of the same configuration as the tests).
    public static var executable: URL {
        #if DEBUG
        let config = "debug"
        #else
        let config = "release"
        #endif
        return repositoryRoot.appendingPathComponent(".build/\(config)/tessera")
    }

    /// Opened once per test process; the mapping is shared by every test.
    public static let gguf: GGUFFile = {
        do {
            return try GGUFFile(path: path)
        } catch {
            fatalError("the default model is needed by the tests; run scripts/fetch-model first (\(error))")
        }
    }()

    /// Reads a JSON Lines fixture into decoded records.
    public static func jsonLines<T: Decodable>(_ url: URL, as: T.Type) throws -> [T] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }
}
