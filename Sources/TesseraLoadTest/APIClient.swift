import Foundation

/// Small JSON calls beside the load (setup and clean-up), over the run's transport.
struct APIClient: Sendable {
    let transport: any Transport

    struct Answer {
        var status: Int
        var json: Any?
        var text: String
    }

    func call(_ method: String, _ path: String, key: String?, json: Any? = nil,
              body: [UInt8] = [], contentType: String? = nil) async throws -> Answer {
        var headers: [(String, String)] = []
        if let key { headers.append(("authorization", "Bearer \(key)")) }
        var payload = body
        if let json {
            payload = Array(try JSONSerialization.data(withJSONObject: json))
            headers.append(("content-type", "application/json"))
        } else if let contentType {
            headers.append(("content-type", contentType))
        }
        let response = try await transport.send(HTTPRequestSpec(method: method, path: path, headers: headers, body: payload))
        let bytes = try await response.collect(limit: 16 << 20)
        return Answer(status: response.status, json: try? JSONSerialization.jsonObject(with: Data(bytes)),
                      text: RequestRunner.errorMessage(bytes) ?? "")
    }
}
