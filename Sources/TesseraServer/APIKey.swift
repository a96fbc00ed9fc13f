import Crypto
import Foundation

/// API keys: `tsk_<tenant id>_<secret>`. Only SHA-256 of the secret is stored (DESIGN 3.10); a key is found by its id
/// part and its secret compared in constant time, so neither lookups nor comparisons leak how much of a guess matched.
public enum APIKey {
    public static func make(tenantID: String) -> (key: String, hash: Data) {
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let secret = bytes.map { String(format: "%02x", $0) }.joined()
        return ("tsk_\(tenantID)_\(secret)", hash(secret))
    }

    /// Server-made ids (tenants, stored adapters): lowercase letters and digits, safe as key parts and file names.
    static func randomID(length: Int) -> String {
        String((0..<length).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    }

    public static func hash(_ secret: String) -> Data { Data(SHA256.hash(data: Data(secret.utf8))) }

    /// (tenant id, secret) of a well-formed key.
    public static func parse(_ key: String) -> (tenantID: String, secret: String)? {
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "tsk", !parts[1].isEmpty, parts[1].utf8.count <= 64, parts[2].utf8.count == 64 else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    /// Equal digests, in time that does not depend on where they differ.
    public static func matches(_ secret: String, hash stored: Data) -> Bool {
        let h = hash(secret)
        guard h.count == stored.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(h, stored) { diff |= a ^ b }
        return diff == 0
    }
}
