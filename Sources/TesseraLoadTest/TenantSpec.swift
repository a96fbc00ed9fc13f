/// One tenant of a scenario: its share of requests, its scheduling weight (for `--setup` and the fairness figure) and
/// where its key comes from.
public struct TenantSpec: Codable, Sendable, Equatable {
    public var name: String
    public var share = 1.0
    public var weight = 1.0
    /// Environment variable holding the key; without it, OPENAI_API_KEY (or the key `--setup` made).
    public var api_key_env: String?

    public init(name: String, share: Double = 1, weight: Double = 1, api_key_env: String? = nil) {
        self.name = name; self.share = share; self.weight = weight; self.api_key_env = api_key_env
    }

    /// `--tenants`: "N" equal tenants t0..t(N-1), or "name:share:weight,..." (share and weight default to 1).
    public static func parseList(_ text: String) throws(LoadTestError) -> [TenantSpec] {
        if let n = Int(text) {
            guard (1...1000).contains(n) else { throw LoadTestError("--tenants takes 1 to 1000 tenants") }
            return (0..<n).map { TenantSpec(name: "t\($0)") }
        }
        return try text.split(separator: ",").map { item throws(LoadTestError) in
            let p = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...3).contains(p.count), !p[0].isEmpty, let share = p.count > 1 ? Double(p[1]) : 1,
                  let weight = p.count > 2 ? Double(p[2]) : 1 else {
                throw LoadTestError("--tenants: write name:share:weight, got \(item)")
            }
            return TenantSpec(name: p[0], share: share, weight: weight)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        share = try c.decodeIfPresent(Double.self, forKey: .share) ?? 1
        weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? 1
        api_key_env = try c.decodeIfPresent(String.self, forKey: .api_key_env)
    }
}
