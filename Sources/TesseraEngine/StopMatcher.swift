/// Finds stop strings in streamed text. Text that could still turn into a stop string is held back,
/// so a stream never shows part of one.
public struct StopMatcher: Sendable {
    public let stops: [String]
    private var held = ""

    public init(stops: [String]) { self.stops = stops }

    /// Adds new text; returns what may be shown now and whether a stop string was reached (text after it is dropped).
    public mutating func append(_ text: String) -> (emit: String, stopped: Bool) {
        held += text
        guard !stops.isEmpty else { defer { held = "" }; return (held, false) }
        var earliest: String.Index?
        for s in stops {
            if let r = held.range(of: s), earliest == nil || r.lowerBound < earliest! { earliest = r.lowerBound }
        }
        if let cut = earliest {
            defer { held = "" }
            return (String(held[..<cut]), true)
        }
        // Keep the longest suffix that is a prefix of some stop string.
        var keep = 0
        for s in stops {
            for n in stride(from: min(s.count - 1, held.count), through: 1, by: -1) where held.hasSuffix(s.prefix(n)) {
                keep = max(keep, n)
                break
            }
        }
        let emit = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return (emit, false)
    }

    /// What is still held when generation ends for another reason.
    public mutating func flush() -> String {
        defer { held = "" }
        return held
    }
}
