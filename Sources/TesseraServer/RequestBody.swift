import Foundation
import Hummingbird

/// Request bodies: read up to a limit (413 beyond it), decoded with messages that name the field at fault.
enum RequestBody {
    static let jsonLimit = 4 << 20

    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = jsonLimit) async throws -> T {
        try decode(type, from: try await collect(request, limit: limit, what: "request body"))
    }

    /// The whole body, or 413 naming `what` past `limit` bytes.
    static func collect(_ request: Request, limit: Int, what: String) async throws -> Data {
        do {
            var request = request
            return Data(try await request.collectBody(upTo: limit).readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "\(what) is over the limit of \(limit) bytes")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(APIError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw APIError.invalid(describe(error), param: param(error))
        } catch {
            throw APIError.invalid("request body is not valid JSON")
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }

    private static func param(_ error: DecodingError) -> String? {
        switch error {
        case .keyNotFound(let key, let c): return (path(c).isEmpty ? "" : path(c) + ".") + key.stringValue
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return path(c).isEmpty ? nil : path(c)
        @unknown default: return nil
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let c):
            let at = path(c)
            return "missing required field '\(at.isEmpty ? "" : at + ".")\(key.stringValue)'"
        case .typeMismatch(let type, let c):
            let detail = c.debugDescription.hasPrefix("Expected to decode") ? "expected \(typeName(type))" : c.debugDescription
            return "field '\(path(c))' has the wrong type: \(detail)"
        case .valueNotFound(let type, let c):
            return "field '\(path(c))' is null, expected \(typeName(type))"
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "request body is not valid JSON" : "field '\(path(c))': \(c.debugDescription)"
        @unknown default:
            return "request body does not match the API"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int32.Type, is Int64.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)"
        }
    }
}
