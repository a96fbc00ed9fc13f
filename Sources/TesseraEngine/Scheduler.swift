/// Decides what each engine step computes (DESIGN 3.5, 3.6): a pure state machine, no clock, no model. Each step gets a
/// token budget shared by decode tokens (one per running sequence) and prefill chunks, so a long prompt never stalls
/// its tenant's running decodes. Tenants are served in order of a virtual token counter (input tokens weigh 1, output tokens 2,
/// divided by the tenant's weight; a tenant becoming active starts at the lowest active counter). KV blocks are
/// taken as positions are computed; when none is left, sequences admitted later are preempted and later recomputed.
///
/// Fair shares of time, not only of tokens: a step's length is what every sequence in it waits for its next token,
/// and a step of n tokens costs about `stepFixedCost + n` (reading the weights once, then the compute per token). So a
/// step holding a tenant's work is capped at (total weight of active tenants / its weight) times what that work
/// would cost alone: a light tenant beside a flood at 1:1 gets its tokens at least half as fast as alone, and the
/// flood takes the rest. Tenants that all use their share are not limited by it.
public struct Scheduler: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Tokens computed per step, prefill and decode together.
        public var tokenBudget: Int
        public var maxSequencesPerStep: Int
        /// Distinct adapters per step (base rows need none).
        public var maxAdaptersPerStep: Int
        /// Requests waiting to start; beyond it `submit` refuses (the server answers 429).
        public var maxWaiting: Int
        public var blockTokens: Int
        public var totalBlocks: Int
        /// A step's cost beyond its tokens, in tokens (measured on 2 cores: a 1-token decode step takes about as long
        /// as 2 tokens' compute); nil turns the time-share cap off.
        public var stepFixedCost: Double?

        public init(tokenBudget: Int = 256, maxSequencesPerStep: Int = 64, maxAdaptersPerStep: Int = 16,
                    maxWaiting: Int = 256, blockTokens: Int = 16, totalBlocks: Int, stepFixedCost: Double? = 0.5) {
            self.tokenBudget = tokenBudget
            self.maxSequencesPerStep = maxSequencesPerStep
            self.maxAdaptersPerStep = maxAdaptersPerStep
            self.maxWaiting = maxWaiting
            self.blockTokens = blockTokens
            self.totalBlocks = totalBlocks
            self.stepFixedCost = stepFixedCost
        }
    }

    public struct Request: Sendable, Equatable {
        public let id: Int
        public let tenant: String
        /// Adapter key, nil for the base model.
        public let adapter: String?
        /// Positions before the first new token: prompt tokens plus an adapter's virtual tokens or prefix entries.
        public let promptPositions: Int
        public let maxNewTokens: Int
        /// Fewest positions the first chunk of a (re)computation may have: an adapter's virtual tokens or prefix
        /// entries enter on a sequence's first pass, together with at least one token.
        public let minFirstChunk: Int

        public init(id: Int, tenant: String, adapter: String?, promptPositions: Int, maxNewTokens: Int, minFirstChunk: Int = 1) {
            self.id = id
            self.tenant = tenant
            self.adapter = adapter
            self.promptPositions = promptPositions
            self.maxNewTokens = maxNewTokens
            self.minFirstChunk = minFirstChunk
        }
    }

    public enum Work: Sendable, Equatable {
        /// Compute positions start..<start+count of the sequence's prompt; `samples` when this chunk ends a prompt
        /// that has produced nothing yet, so its final row's logits give the first token (a recomputation after a
        /// preemption samples nothing: the next decode feeds the token it already has).
        case prefill(id: Int, start: Int, count: Int, samples: Bool)
        /// Compute the sequence's newest token and sample the next.
        case decode(id: Int)

        public var id: Int {
            switch self {
            case .prefill(let id, _, _, _), .decode(let id): id
            }
        }
    }

    public struct Step: Sendable, Equatable {
        public var work: [Work] = []
        /// Sequences whose KV was dropped to make room; they start over (prompt plus what they generated) later.
        public var preempted: [Int] = []
        /// Sequences that reach their token limit with this step's token; their blocks are freed.
        public var finished: [Int] = []
        /// Positions computed by this step.
        public var tokens: Int {
            work.reduce(0) { total, w in
                if case .prefill(_, _, let n, _) = w { return total + n }
                return total + 1
            }
        }
    }

    private struct Sequence {
        let request: Request
        /// Positions to compute before decoding: the prompt, plus tokens generated before a preemption.
        var target: Int
        var computed = 0
        var generated = 0
        var blocks = 0
        var admitted = 0  // admission order, for picking the newest to preempt
    }

    public let limits: Limits
    private var weights: [String: Double]
    private var waiting: [Sequence] = []
    private var running: [Sequence] = []
    private var counters: [String: Double] = [:]
    private var admissions = 0
    public private(set) var freeBlocks: Int

    public init(limits: Limits, tenantWeights: [String: Double] = [:]) {
        self.limits = limits
        weights = tenantWeights
        freeBlocks = limits.totalBlocks
    }

    public var waitingCount: Int { waiting.count }
    public var runningCount: Int { running.count }
    public var isIdle: Bool { waiting.isEmpty && running.isEmpty }
    /// Share of the KV blocks in use (the `vllm:kv_cache_usage_perc` metric).
    public var blockUsage: Double { Double(limits.totalBlocks - freeBlocks) / Double(max(1, limits.totalBlocks)) }
    public func counter(_ tenant: String) -> Double { counters[tenant, default: 0] }
    /// Adapter keys of running and of waiting requests (the `vllm:lora_requests_info` metric).
    public var adapters: (running: Set<String>, waiting: Set<String>) {
        (Set(running.compactMap(\.request.adapter)), Set(waiting.compactMap(\.request.adapter)))
    }

    public mutating func setWeight(_ weight: Double, tenant: String) {
        precondition(weight > 0, "tenant weights are positive")
        weights[tenant] = weight
    }

    public enum Admission: Sendable, Equatable {
        case queued
        /// The waiting queue is full; nothing is buffered beyond it (the server answers 429).
        case queueFull
        /// Prompt and output together need more KV blocks than the pool has.
        case tooLarge(blocksNeeded: Int)
    }

    public mutating func submit(_ r: Request) -> Admission {
        let needed = blocksFor(r.promptPositions + r.maxNewTokens)
        guard needed <= limits.totalBlocks, r.minFirstChunk <= limits.tokenBudget else { return .tooLarge(blocksNeeded: needed) }
        guard waiting.count < limits.maxWaiting else { return .queueFull }
        let active = Set((waiting + running).map(\.request.tenant))
        if !active.contains(r.tenant) {
            // A tenant becoming active starts level with the lowest active one: no credit for having been idle, and
            // no debt from service it had while others were idle.
            counters[r.tenant] = active.map { counters[$0, default: 0] }.min() ?? 0
        }
        waiting.append(Sequence(request: r, target: r.promptPositions))
        return .queued
    }

    /// Drops a request in any state; its blocks are free for the next step.
    public mutating func cancel(_ id: Int) {
        waiting.removeAll { $0.request.id == id }
        if let i = running.firstIndex(where: { $0.request.id == id }) { freeBlocks += running.remove(at: i).blocks }
    }

    /// Ends a sequence the engine stopped (end of text, a stop string).
    public mutating func finish(_ id: Int) { cancel(id) }

    private func blocksFor(_ positions: Int) -> Int { (positions + limits.blockTokens - 1) / limits.blockTokens }

    private func weight(_ tenant: String) -> Double { weights[tenant] ?? 1 }

    /// Plans the next step and updates the state as if it ran. Sequences get the step's slots (sequences, adapters)
    /// in counter order, waiting ones included, so a tenant below the others gets in at once; then work is handed out
    /// in that order, each prefill chunk leaving a token for each decode of its tenant after it.
    public mutating func nextStep() -> Step {
        var step = Step()
        var adapters = Set<String>()
        var chosen: [Int] = []
        let candidates = running + waiting
        var spareBlocks = freeBlocks  // a waiting sequence takes a slot only if blocks for its first chunk are free
        let byID = Dictionary(uniqueKeysWithValues: candidates.map { ($0.request.id, $0) })
        let ranked = order(candidates)
        // First one sequence of every tenant, so each is in every step (and the time-share cap protects it), then
        // the remaining slots in counter order.
        var tenantsIn = Set<String>()
        for firstOfEach in [true, false] {
            for id in ranked where chosen.count < limits.maxSequencesPerStep && !chosen.contains(id) {
                let s = byID[id]!
                if firstOfEach && tenantsIn.contains(s.request.tenant) { continue }
                if s.admitted == 0 {
                    let first = blocksFor(max(s.request.minFirstChunk, min(limits.tokenBudget, s.target)))
                    guard first <= spareBlocks else { continue }
                    spareBlocks -= first
                }
                if let a = s.request.adapter, !adapters.contains(a) {
                    guard adapters.count < limits.maxAdaptersPerStep else { continue }
                    adapters.insert(a)
                }
                chosen.append(id)
                tenantsIn.insert(s.request.tenant)
            }
        }
        let rank = Dictionary(uniqueKeysWithValues: ranked.enumerated().map { ($1, $0) })
        chosen.sort { rank[$0]! < rank[$1]! }
        var budget = budgetFor(chosen.map { byID[$0]! })
        // Decodes still to come, by tenant: a prefill chunk leaves room for its own tenant's (a long prompt never
        // stalls that tenant's decodes); a tenant further down the counter order waits its turn.
        var decodesLeft: [String: Int] = [:]
        for id in chosen where byID[id]!.computed >= byID[id]!.target { decodesLeft[byID[id]!.request.tenant, default: 0] += 1 }
        var served = Set<Int>()

        for id in chosen where budget > 0 && !step.preempted.contains(id) {
            if let i = running.firstIndex(where: { $0.request.id == id }), running[i].computed >= running[i].target {
                decodesLeft[running[i].request.tenant]! -= 1
                guard reserve(index: i, positions: running[i].computed + 1, step: &step, spare: served) else {
                    preempt(id, step: &step)  // nothing newer to take from: it gives way, so the older ones can finish
                    continue
                }
                let j = running.firstIndex { $0.request.id == id }!  // preemption removes others, so indices move
                running[j].computed += 1
                running[j].generated += 1
                charge(running[j].request.tenant, decode: 1)
                served.insert(id)
                step.work.append(.decode(id: id))
                budget -= 1
                if running[j].generated >= running[j].request.maxNewTokens { step.finished.append(id) }
                continue
            }
            // A prefill, admitting the sequence as it gets its first chunk.
            let w = waiting.firstIndex { $0.request.id == id }
            guard let s = w.map({ waiting[$0] }) ?? running.first(where: { $0.request.id == id }), s.computed < s.target else { continue }
            let reserved = min(decodesLeft[s.request.tenant, default: 0], budget - 1)
            let start = s.computed, count = min(budget - reserved, s.target - start)
            guard start > 0 || count >= s.request.minFirstChunk else { continue }  // a later step, with more budget
            if let w {
                var s = waiting.remove(at: w)
                admissions += 1
                s.admitted = admissions
                running.append(s)
            }
            let i = running.firstIndex { $0.request.id == id }!
            guard reserve(index: i, positions: start + count, step: &step, spare: served) else {  // (preempts nobody)
                preempt(id, step: &step)  // back to the queue, its blocks freed for older sequences
                continue
            }
            let i2 = running.firstIndex { $0.request.id == id }!  // preemption removes others, so indices move
            running[i2].computed += count
            charge(running[i2].request.tenant, prefill: count)
            served.insert(id)
            let samples = running[i2].computed == running[i2].target && running[i2].generated == 0
            step.work.append(.prefill(id: id, start: start, count: count, samples: samples))
            budget -= count
            if samples {
                running[i2].generated = 1
                if running[i2].request.maxNewTokens <= 1 { step.finished.append(id) }
            }
        }
        for id in step.finished { finish(id) }
        return step
    }

    /// The step's token budget: the configured one, capped so that no tenant's work in it costs more than its time
    /// share allows (see the type's comment). Each tenant's work is what it would compute in a step alone.
    private func budgetFor(_ sequences: [Sequence]) -> Int {
        guard let fixed = limits.stepFixedCost else { return limits.tokenBudget }
        var demand: [String: Int] = [:]
        for s in sequences {
            demand[s.request.tenant, default: 0] += s.computed >= s.target ? 1 : s.target - s.computed
        }
        let active = Set((running + waiting).map(\.request.tenant))
        let totalWeight = active.reduce(0) { $0 + weight($1) }
        var budget = limits.tokenBudget
        for (tenant, tokens) in demand {
            let alone = fixed + Double(min(tokens, limits.tokenBudget))
            budget = min(budget, Int((totalWeight / weight(tenant) * alone - fixed).rounded(.down)))
        }
        return max(1, budget)
    }

    /// Makes sure running[index] holds blocks for `positions`, preempting sequences admitted after it that have no work
    /// in this step yet (`spare` holds those that have), newest first; false (preempting nobody) when that cannot make
    /// room. The caller then preempts the sequence itself, so the oldest always goes on (a request never needs more
    /// than the pool) and the pool can neither deadlock nor livelock.
    private mutating func reserve(index: Int, positions: Int, step: inout Step, spare: Set<Int>) -> Bool {
        let me = running[index]
        let needed = blocksFor(positions) - me.blocks
        let victims = running.filter { $0.admitted > me.admitted && !spare.contains($0.request.id) }
            .sorted { $0.admitted > $1.admitted }
        guard needed <= freeBlocks + victims.reduce(0, { $0 + $1.blocks }) else { return false }  // preempt nobody in vain
        for victim in victims where needed > freeBlocks { preempt(victim.request.id, step: &step) }
        let i = running.firstIndex { $0.request.id == me.request.id }!
        if needed > 0 {
            freeBlocks -= needed
            running[i].blocks += needed
        }
        return true
    }

    private mutating func preempt(_ id: Int, step: inout Step) {
        guard let i = running.firstIndex(where: { $0.request.id == id }) else { return }
        var s = running.remove(at: i)
        freeBlocks += s.blocks
        if s.blocks > 0 { step.preempted.append(id) }  // (one admitted and turned back at once held nothing)
        // Recompute: what it generated becomes prompt, except the newest token, which the next decode computes.
        s.target = s.request.promptPositions + max(0, s.generated - 1)
        s.computed = 0
        s.blocks = 0
        s.admitted = 0
        waiting.insert(s, at: 0)
    }

    private mutating func charge(_ tenant: String, prefill: Int = 0, decode: Int = 0) {
        counters[tenant, default: 0] += Double(prefill + 2 * decode) / weight(tenant)
    }

    /// Ids by tenant counter (lowest first), then in the given order (running before waiting, by arrival).
    /// On equal counters (a tenant back from idle is lifted to the lowest), the tenant with fewer running sequences
    /// goes first, so a returning light tenant is not queued behind a flood's decodes.
    private func order(_ sequences: [Sequence]) -> [Int] {
        var load: [String: Int] = [:]
        for s in running { load[s.request.tenant, default: 0] += 1 }
        return sequences.enumerated().sorted { a, b in
            let ta = a.element.request.tenant, tb = b.element.request.tenant
            let ca = counters[ta, default: 0], cb = counters[tb, default: 0]
            if ca != cb { return ca < cb }
            let la = load[ta, default: 0], lb = load[tb, default: 0]
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element.request.id)
    }
}
