/// A parsed regex compiled for a Pike VM (`RegexMatcher`): Thompson's construction with the alternatives of each
/// split in priority order, so a leftmost-first simulation gives the match a backtracking ECMAScript engine
/// (libstdc++'s `std::regex`) finds, in time linear in the text.
package struct RegexProgram: Sendable {
    enum Instruction: Sendable {
        /// Consume one code unit in `sets[k]`.
        case set(Int32)
        /// Continue at both, the first preferred.
        case split(Int32, Int32)
        case jump(Int32)
        /// Zero-width: `lookaheads[k]` must hold here.
        case lookahead(Int32)
        /// `$`: the end of the piece.
        case end
        case match
    }

    struct Set: Sendable {
        /// Membership of code units below 256.
        var low: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        /// Above 255: sorted ranges, or everything (a complemented ASCII class), then negation.
        var high: [ClosedRange<UInt32>] = []
        var highAll = false
        var negated = false

        init(_ s: CharSet) {
            for c in 0..<UInt32(256) where s.contains(c) {
                let bit = UInt64(1) << UInt64(c & 63)
                switch c >> 6 {
                case 0: low.0 |= bit
                case 1: low.1 |= bit
                case 2: low.2 |= bit
                default: low.3 |= bit
                }
            }
            negated = s.negated
            highAll = !s.complementedClasses.isEmpty  // those classes are ASCII: everything above is in
            // Sorted and merged, so a binary search over upper bounds finds the only candidate.
            let sorted = s.ranges.compactMap { r in r.upperBound < 256 ? nil : max(r.lowerBound, 256)...r.upperBound }
                .sorted { $0.lowerBound < $1.lowerBound }
            for r in sorted {
                if let last = high.last, r.lowerBound <= last.upperBound &+ 1 {
                    high[high.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
                } else {
                    high.append(r)
                }
            }
        }

        @inline(__always)
        func contains(_ c: UInt32) -> Bool {
            if c < 256 {
                let word: UInt64
                switch c >> 6 {
                case 0: word = low.0
                case 1: word = low.1
                case 2: word = low.2
                default: word = low.3
                }
                return word & (UInt64(1) << UInt64(c & 63)) != 0
            }
            if highAll { return !negated }
            var lo = 0, hi = high.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if high[mid].upperBound < c { lo = mid + 1 } else { hi = mid }
            }
            let inRanges = lo < high.count && high[lo].contains(c)
            return inRanges != negated
        }
    }

    struct Lookahead: Sendable {
        let negated: Bool
        /// A one-character body (`(?!\S)`, `(?=[\p{L}])`), tested directly.
        let single: Set?
        /// Any other body, evaluated over a whole piece at once (`RegexMatcher`).
        let body: RegexProgram?
    }

    var instructions: [Instruction] = []
    var sets: [Set] = []
    var lookaheads: [Lookahead] = []
    /// Code units a match can start with, when a match cannot be empty: lets the search skip the rest.
    var firstSets: [Int32]? = nil

    init(_ node: RegexParser.Node) throws(RegexParser.Failure) {
        try emit(node)
        instructions.append(.match)
        firstSets = computeFirstSets()
    }

    private var here: Int32 { Int32(instructions.count) }

    private mutating func patch(_ at: Int32, _ inst: Instruction) { instructions[Int(at)] = inst }

    private mutating func emit(_ node: RegexParser.Node) throws(RegexParser.Failure) {
        guard instructions.count < 1 << 16 else { throw RegexParser.Failure(message: "regex too large") }
        switch node {
        case .set(let s):
            sets.append(Set(s))
            instructions.append(.set(Int32(sets.count - 1)))
        case .concat(let items):
            for item in items { try emit(item) }
        case .alternation(let branches):
            var jumps: [Int32] = []
            for (k, b) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = here
                    instructions.append(.match)  // placeholder
                    try emit(b)
                    jumps.append(here)
                    instructions.append(.match)  // placeholder
                    patch(split, .split(split + 1, here))
                } else {
                    try emit(b)
                }
            }
            for j in jumps { patch(j, .jump(here)) }
        case .repetition(let body, let minCount, let maxCount, let greedy):
            for _ in 0..<minCount { try emit(body) }
            if let maxCount {
                var splits: [Int32] = []
                for _ in minCount..<maxCount {
                    splits.append(here)
                    instructions.append(.match)  // placeholder
                    try emit(body)
                }
                for s in splits { patch(s, greedy ? .split(s + 1, here) : .split(here, s + 1)) }
            } else {
                let loop = here
                instructions.append(.match)  // placeholder
                try emit(body)
                instructions.append(.jump(loop))
                patch(loop, greedy ? .split(loop + 1, here) : .split(here, loop + 1))
            }
        case .lookahead(let body, let negated):
            if case .set(let s) = body {
                lookaheads.append(Lookahead(negated: negated, single: Set(s), body: nil))
            } else {
                let program = try RegexProgram(body)
                guard program.instructions.count <= 64 else { throw RegexParser.Failure(message: "lookahead too large") }
                lookaheads.append(Lookahead(negated: negated, single: nil, body: program))
            }
            instructions.append(.lookahead(Int32(lookaheads.count - 1)))
        case .endOfInput:
            instructions.append(.end)
        }
    }

    /// The sets reachable from the start without consuming (assertions passed as if true); nil if the start reaches
    /// `match`, i.e. the regex can match the empty string.
    private func computeFirstSets() -> [Int32]? {
        var seen = [Bool](repeating: false, count: instructions.count)
        var stack: [Int32] = [0]
        var result: [Int32] = []
        while let pc = stack.popLast() {
            guard !seen[Int(pc)] else { continue }
            seen[Int(pc)] = true
            switch instructions[Int(pc)] {
            case .set(let k): result.append(k)
            case .split(let a, let b): stack.append(b); stack.append(a)
            case .jump(let a): stack.append(a)
            case .lookahead, .end: stack.append(pc + 1)
            case .match: return nil
            }
        }
        return result
    }
}
