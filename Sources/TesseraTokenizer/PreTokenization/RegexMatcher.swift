/// Leftmost-first search of a `RegexProgram` over one piece of text (a Pike VM): among the matches starting at the
/// leftmost position, the one a backtracking engine would reach first. Linear in the piece: every position holds at
/// most one thread per instruction. Scratch buffers are reused across pieces.
package struct RegexMatcher {
    let program: RegexProgram
    private var current: [(pc: Int32, start: Int)] = []
    private var next: [(pc: Int32, start: Int)] = []
    private var marks: [UInt32]
    private var generation: UInt32 = 0
    private var stack: [Int32] = []
    /// Per general lookahead: for each position of the piece, the body instructions that can reach its match.
    private var lookaheadTables: [[UInt64]]
    private var lookaheadReady: [Bool]

    private var symbols = UnsafeBufferPointer<UInt32>(start: nil, count: 0)
    private var pieceStart = 0
    private var pieceEnd = 0

    package init(_ program: RegexProgram) {
        self.program = program
        marks = [UInt32](repeating: 0, count: program.instructions.count)
        lookaheadTables = Array(repeating: [], count: program.lookaheads.count)
        lookaheadReady = Array(repeating: false, count: program.lookaheads.count)
    }

    /// Starts a new piece `symbols[start..<end]`.
    mutating func reset(_ symbols: UnsafeBufferPointer<UInt32>, start: Int, end: Int) {
        self.symbols = symbols
        pieceStart = start
        pieceEnd = end
        for k in lookaheadReady.indices { lookaheadReady[k] = false }
    }

    /// The first match at or after `from` (or exactly at `from` when `anchored`), as (start, end); with
    /// `notNull`, empty matches are not accepted (std::regex's `match_not_null`).
    mutating func search(from: Int, anchored: Bool, notNull: Bool) -> (start: Int, end: Int)? {
        var pos = from
        var matched: (start: Int, end: Int)?
        current.removeAll(keepingCapacity: true)
        bumpGeneration()
        let instructions = program.instructions
        while true {
            if matched == nil && (!anchored || pos == from) {
                if current.isEmpty, !anchored, let first = program.firstSets {
                    // Nothing in flight: skip to where a match can begin.
                    guard let q = nextCandidate(from: pos, first) else { return nil }
                    if q != pos { pos = q; bumpGeneration() }
                }
                addThread(toNext: false, pc: 0, start: pos, at: pos)
            }
            if current.isEmpty {
                // The start here led nowhere: try the next position.
                if matched != nil || anchored || pos >= pieceEnd { break }
                pos += 1
                bumpGeneration()
                continue
            }
            bumpGeneration()
            next.removeAll(keepingCapacity: true)
            let symbol: UInt32? = pos < pieceEnd ? symbols[pos] : nil
            var t = 0
            while t < current.count {
                let thread = current[t]
                t += 1
                switch instructions[Int(thread.pc)] {
                case .match:
                    if notNull && pos == thread.start { continue }
                    matched = (thread.start, pos)
                    t = current.count  // lower-priority threads lose
                case .set(let k):
                    if let c = symbol, program.sets[Int(k)].contains(c) {
                        addThread(toNext: true, pc: thread.pc + 1, start: thread.start, at: pos + 1)
                    }
                default:
                    break
                }
            }
            if pos >= pieceEnd { break }
            pos += 1
            swap(&current, &next)
            if current.isEmpty && matched != nil { break }
            if anchored && current.isEmpty { break }
        }
        return matched
    }

    private mutating func bumpGeneration() {
        generation &+= 1
        if generation == 0 {
            for k in marks.indices { marks[k] = 0 }
            generation = 1
        }
    }

    private func nextCandidate(from: Int, _ first: [Int32]) -> Int? {
        var q = from
        while q < pieceEnd {
            let c = symbols[q]
            for k in first where program.sets[Int(k)].contains(c) { return q }
            q += 1
        }
        return nil
    }

    /// Follows the non-consuming instructions from `pc` at position `at` in priority order, adding the consuming
    /// ones (and `match`) to `next` or `current` unless an earlier, higher-priority thread already holds them.
    private mutating func addThread(toNext: Bool, pc: Int32, start: Int, at: Int) {
        stack.append(pc)
        while let p = stack.popLast() {
            let i = Int(p)
            if marks[i] == generation { continue }
            marks[i] = generation
            switch program.instructions[i] {
            case .jump(let a):
                stack.append(a)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .lookahead(let k):
                if lookahead(Int(k), at: at) { stack.append(p + 1) }
            case .end:
                if at == pieceEnd { stack.append(p + 1) }
            case .set, .match:
                if toNext { next.append((p, start)) } else { current.append((p, start)) }
            }
        }
    }

    private mutating func lookahead(_ k: Int, at p: Int) -> Bool {
        let la = program.lookaheads[k]
        if let single = la.single {
            return (p < pieceEnd && single.contains(symbols[p])) != la.negated
        }
        guard let body = la.body else { return false }
        if !lookaheadReady[k] {
            lookaheadTables[k] = Self.reachability(body, symbols, pieceStart, pieceEnd)
            lookaheadReady[k] = true
        }
        let holds = lookaheadTables[k][p - pieceStart] & 1 != 0
        return holds != la.negated
    }

    /// For each position of the piece, the body's instructions (bits) from which its `match` can be reached: a
    /// right-to-left pass, so evaluating the lookahead everywhere costs one sweep.
    static func reachability(_ body: RegexProgram, _ symbols: UnsafeBufferPointer<UInt32>, _ start: Int, _ end: Int) -> [UInt64] {
        let n = body.instructions.count
        var table = [UInt64](repeating: 0, count: end - start + 1)
        var p = end
        while p >= start {
            let after: UInt64 = p < end ? table[p + 1 - start] : 0
            var mask: UInt64 = 0
            var changed = true
            while changed {
                changed = false
                for pc in stride(from: n - 1, through: 0, by: -1) {
                    let bit = UInt64(1) << UInt64(pc)
                    if mask & bit != 0 { continue }
                    var ok = false
                    switch body.instructions[pc] {
                    case .set(let k):
                        ok = p < end && body.sets[Int(k)].contains(symbols[p]) && after & (bit << 1) != 0
                    case .split(let a, let b):
                        ok = mask & (UInt64(1) << UInt64(a)) != 0 || mask & (UInt64(1) << UInt64(b)) != 0
                    case .jump(let a):
                        ok = mask & (UInt64(1) << UInt64(a)) != 0
                    case .lookahead(let k):
                        let la = body.lookaheads[Int(k)]
                        let holds = (p < end && (la.single?.contains(symbols[p]) ?? false)) != la.negated
                        ok = holds && mask & (bit << 1) != 0
                    case .end:
                        ok = p == end && mask & (bit << 1) != 0
                    case .match:
                        ok = true
                    }
                    if ok {
                        mask |= bit
                        changed = true
                    }
                }
            }
            table[p - start] = mask
            p -= 1
        }
        return table
    }
}
