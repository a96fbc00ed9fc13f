/// Splits a `text/event-stream` body into the `data` of its events as bytes arrive in arbitrary pieces.
/// Events end at a blank line (LF or CRLF); comment lines and other fields are skipped.
public struct SSEParser {
    private var pending: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    /// Refuse to buffer a line without end forever.
    public let maxLine: Int

    public init(maxLine: Int = 8 << 20) { self.maxLine = maxLine }

    public mutating func feed(_ bytes: [UInt8]) throws(LoadTestError) -> [[UInt8]] {
        pending += bytes
        var events: [[UInt8]] = []
        var start = 0
        while let nl = pending[start...].firstIndex(of: 10) {
            var end = nl
            if end > start && pending[end - 1] == 13 { end -= 1 }
            let line = pending[start..<end]
            start = nl + 1
            if line.isEmpty {
                if hasData { events.append(data) }
                data = []; hasData = false
            } else if line.starts(with: Array("data:".utf8)) {
                var value = line.dropFirst(5)
                if value.first == 32 { value = value.dropFirst() }
                if hasData { data.append(10) }
                data += value
                hasData = true
            }
        }
        pending.removeFirst(start)
        if pending.count > maxLine { throw LoadTestError("server sent a line over \(maxLine) bytes with no end") }
        return events
    }
}
