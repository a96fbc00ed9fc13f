import Testing
import TesseraEngine
import TesseraTestSupport

/// The scheduler on its own (DESIGN 3.6): steps are the clock, and a fake engine does what each step says.
@Suite struct SchedulerTests {
    typealias Request = Scheduler.Request

    /// Runs steps until idle (or `limit` steps), checking the per-step invariants; returns what each request got.
    struct Run {
        var generated: [Int: Int] = [:]
        var firstStep: [Int: Int] = [:]  // step of a request's first computed position
        var finishedStep: [Int: Int] = [:]
        var steps: [Scheduler.Step] = []
        var preempted = 0
    }

    @discardableResult
    func drive(_ s: inout Scheduler, _ requests: [Int: Request], run: inout Run, steps limit: Int = 100_000,
               before: (Int, inout Scheduler) -> Void = { _, _ in }) -> Run {
        var n = run.steps.count
        while n < limit {
            before(n, &s)
            if s.isIdle { break }
            let step = s.nextStep()
            #expect(step.tokens <= s.limits.tokenBudget, "step \(n) computes \(step.tokens) tokens")
            #expect(Set(step.work.map(\.id)).count == step.work.count && step.work.count <= s.limits.maxSequencesPerStep)
            #expect(Set(step.work.compactMap { requests[$0.id]?.adapter }).count <= s.limits.maxAdaptersPerStep)
            #expect(s.freeBlocks >= 0 && s.freeBlocks <= s.limits.totalBlocks)
            for w in step.work {
                if run.firstStep[w.id] == nil { run.firstStep[w.id] = n }
                switch w {
                case .decode(let id): run.generated[id, default: 0] += 1
                case .prefill(let id, _, _, let samples): if samples { run.generated[id, default: 0] += 1 }
                }
            }
            for id in step.finished { run.finishedStep[id] = n }
            run.preempted += step.preempted.count
            run.steps.append(step)
            n += 1
        }
        return run
    }

    func request(_ id: Int, tenant: String = "t", adapter: String? = nil, prompt: Int, new: Int) -> Request {
        Request(id: id, tenant: tenant, adapter: adapter, promptPositions: prompt, maxNewTokens: new)
    }

    @Test func everyRequestGetsExactlyItsTokensWithinTheLimits() {
        var rng = SplitMix(42)
        let limits = Scheduler.Limits(tokenBudget: 128, maxSequencesPerStep: 12, maxAdaptersPerStep: 3, maxWaiting: 100,
                                      blockTokens: 16, totalBlocks: 120)
        var s = Scheduler(limits: limits)
        var requests: [Int: Request] = [:]
        for id in 0..<60 {
            let r = request(id, tenant: "t\(id % 4)", adapter: id % 5 == 0 ? nil : "a\(rng.next() % 9)",
                            prompt: 1 + Int(rng.next() % 400), new: 1 + Int(rng.next() % 40))
            requests[id] = r
            #expect(s.submit(r) == .queued)
        }
        var run = Run()
        drive(&s, requests, run: &run)
        #expect(s.isIdle && s.freeBlocks == limits.totalBlocks)
        for (id, r) in requests { #expect(run.generated[id] == r.maxNewTokens, "request \(id)") }
    }

    /// Small pools, tight limits, random loads: every request still finishes with its tokens (no deadlock, no
    /// livelock, no starvation).
    @Test(arguments: 0..<24)
    func randomLoadsAlwaysDrain(seed: Int) {
        var rng = SplitMix(UInt64(seed) &* 7919)
        let limits = Scheduler.Limits(
            tokenBudget: 8 + Int(rng.next() % 120), maxSequencesPerStep: 1 + Int(rng.next() % 10),
            maxAdaptersPerStep: 1 + Int(rng.next() % 4), maxWaiting: 1000, blockTokens: 1 + Int(rng.next() % 16),
            totalBlocks: 0)
        var big = limits
        big.totalBlocks = 40 + Int(rng.next() % 200)
        var s = Scheduler(limits: big, tenantWeights: ["t0": 1, "t1": 2, "t2": 0.5])
        var requests: [Int: Request] = [:]
        for id in 0..<40 {
            let r = request(id, tenant: "t\(rng.next() % 3)", adapter: rng.next() % 3 == 0 ? nil : "a\(rng.next() % 6)",
                            prompt: 1 + Int(rng.next() % 300), new: 1 + Int(rng.next() % 50))
            if case .queued = s.submit(r) { requests[id] = r }
        }
        var run = Run()
        drive(&s, requests, run: &run, steps: 200_000)
        #expect(s.isIdle && s.freeBlocks == big.totalBlocks, "seed \(seed): \(s.waitingCount) waiting, \(s.runningCount) running")
        for (id, r) in requests { #expect(run.generated[id] == r.maxNewTokens, "seed \(seed) request \(id)") }
    }

    @Test func aLongPromptNeverStallsRunningDecodes() {
        var s = Scheduler(limits: .init(tokenBudget: 64, totalBlocks: 1000))
        var requests: [Int: Request] = [:]
        for id in 0..<3 {
            requests[id] = request(id, prompt: 8, new: 200)
            _ = s.submit(requests[id]!)
        }
        var run = Run()
        drive(&s, requests, run: &run, steps: 5)
        requests[9] = request(9, prompt: 2000, new: 4)
        _ = s.submit(requests[9]!)
        drive(&s, requests, run: &run, steps: 60)
        // While the long prompt is prefilled in chunks, every step still decodes the three running sequences.
        for step in run.steps[5...] where step.work.contains(where: { $0.id == 9 }) {
            #expect(Set(step.work.compactMap { if case .decode(let id) = $0 { id } else { nil } }).isSuperset(of: [0, 1, 2]))
        }
        #expect(run.steps[5...].filter { $0.work.contains { $0.id == 9 } }.count >= 2000 / 64)
    }

    /// An adapter's virtual tokens enter on a sequence's first pass with at least one token: a first chunk never
    /// stops short of that, even when the budget left over after decodes is smaller (it waits for a roomier step).
    @Test func aFirstChunkHoldsTheAdapterPositionsAndAToken() {
        var s = Scheduler(limits: .init(tokenBudget: 16, totalBlocks: 1000))
        for id in 0..<10 { _ = s.submit(request(id, prompt: 2, new: 3)) }
        _ = s.submit(Request(id: 99, tenant: "t", adapter: "p", promptPositions: 20, maxNewTokens: 2, minFirstChunk: 12))
        var firstChunk: Int?
        for _ in 0..<40 where firstChunk == nil {
            for w in s.nextStep().work {
                if case .prefill(99, 0, let count, _) = w { firstChunk = count }
            }
        }
        #expect(firstChunk.map { $0 >= 12 } == true)
        #expect(s.submit(Request(id: 100, tenant: "t", adapter: "p", promptPositions: 40, maxNewTokens: 2, minFirstChunk: 17))
                == .tooLarge(blocksNeeded: 3), "a first chunk larger than any step's budget")
    }

    /// Time in the scheduler's cost model: a step of n tokens takes stepFixedCost + n.
    func cost(_ step: Scheduler.Step, _ s: Scheduler) -> Double { (s.limits.stepFixedCost ?? 0) + Double(step.tokens) }

    /// With two tenants at 1:1, a light one beside a flood gets its tokens at least half as fast as alone: every
    /// light request starts at once and ends within twice the time it takes alone (plus the step under way when it
    /// arrives), while the flood keeps the rest of the machine.
    @Test func aLightTenantKeepsItsLatencyBesideAFlood() {
        var s = Scheduler(limits: .init(tokenBudget: 128, maxSequencesPerStep: 64, maxWaiting: 1000, totalBlocks: 100_000))
        var requests: [Int: Request] = [:]
        for id in 0..<300 {
            requests[id] = request(id, tenant: "flood", prompt: 100, new: 50)
            _ = s.submit(requests[id]!)
        }
        var run = Run()
        var submittedAt: [Int: Int] = [:]
        drive(&s, requests, run: &run, steps: 600) { n, s in
            guard n % 40 == 0, n > 0 else { return }
            let id = 1000 + n
            requests[id] = request(id, tenant: "light", prompt: 40, new: 10)
            submittedAt[id] = n
            _ = s.submit(requests[id]!)
        }
        // Alone: one step of 40 prompt tokens (sampling the first token), then 9 decode steps of one token.
        let alone = (s.limits.stepFixedCost! + 40) + 9 * (s.limits.stepFixedCost! + 1)
        #expect(submittedAt.count >= 10)
        for (id, at) in submittedAt {
            guard let start = run.firstStep[id], let end = run.finishedStep[id] else { Issue.record("request \(id) never ran"); continue }
            #expect(start == at, "request \(id) waited \(start - at) steps")
            let took = run.steps[at...end].reduce(0) { $0 + cost($1, s) }
            #expect(took <= 2 * alone, "request \(id) took \(took), alone \(alone)")
        }
        // The flood is not starved: it gets most of the tokens.
        let floodTokens = run.steps.reduce(0) { $0 + $1.work.filter { $0.id < 1000 }.count }
        #expect(floodTokens > run.steps.count)
    }

    @Test func tenantWeightsShareTheSteps() {
        var s = Scheduler(limits: .init(tokenBudget: 32, maxSequencesPerStep: 4, maxWaiting: 1000, totalBlocks: 10_000),
                          tenantWeights: ["a": 2, "b": 1])
        var requests: [Int: Request] = [:]
        for id in 0..<400 {
            requests[id] = request(id, tenant: id % 2 == 0 ? "a" : "b", prompt: 16, new: 8)
            _ = s.submit(requests[id]!)
        }
        var run = Run()
        drive(&s, requests, run: &run, steps: 300)
        var served: [String: Int] = [:]
        for step in run.steps {
            for w in step.work {
                let t = requests[w.id]!.tenant
                if case .prefill(_, _, let n, _) = w { served[t, default: 0] += n } else { served[t, default: 0] += 2 }
            }
        }
        let ratio = Double(served["a"]!) / Double(served["b"]!)
        #expect(abs(ratio - 2) < 0.2, "weighted service a:b = \(ratio)")
        #expect(abs(s.counter("a") - s.counter("b")) <= 2 * 32 + 16, "counters stay within a step's worth of each other")
    }

    @Test func blocksRunningOutPreemptsTheNewestAndItResumes() {
        let limits = Scheduler.Limits(tokenBudget: 64, maxSequencesPerStep: 8, blockTokens: 4, totalBlocks: 40)
        var s = Scheduler(limits: limits)
        var requests: [Int: Request] = [:]
        for id in 0..<6 {
            requests[id] = request(id, prompt: 10, new: 60)
            _ = s.submit(requests[id]!)
        }
        var run = Run()
        drive(&s, requests, run: &run)
        #expect(run.preempted > 0, "the pool is too small for all six: something must be preempted")
        for (id, r) in requests { #expect(run.generated[id] == r.maxNewTokens, "request \(id)") }
        // A recomputation samples nothing: the token it would give is the one the sequence already has.
        let recomputed = run.steps.flatMap(\.work).filter {
            if case .prefill(_, 0, _, false) = $0 { return true } else { return false }
        }
        #expect(!recomputed.isEmpty)
        #expect(s.freeBlocks == limits.totalBlocks)
    }

    /// Long prompts that together outgrow the pool while no sequence decodes: the older one preempts the newer.
    @Test func prefillsThatOutgrowThePoolDoNotDeadlock() {
        let limits = Scheduler.Limits(tokenBudget: 48, maxSequencesPerStep: 4, blockTokens: 4, totalBlocks: 30)
        var s = Scheduler(limits: limits)
        var requests: [Int: Request] = [:]
        for id in 0..<3 {
            requests[id] = request(id, prompt: 100, new: 8)
            _ = s.submit(requests[id]!)
        }
        var run = Run()
        drive(&s, requests, run: &run, steps: 10_000)
        #expect(s.isIdle, "every request finishes")
        for (id, r) in requests { #expect(run.generated[id] == r.maxNewTokens, "request \(id)") }
    }

    @Test func cancellingInAnyStateFreesEverything() {
        let limits = Scheduler.Limits(tokenBudget: 16, maxSequencesPerStep: 4, blockTokens: 4, totalBlocks: 24)
        var s = Scheduler(limits: limits)
        var requests: [Int: Request] = [:]
        for id in 0..<6 {
            requests[id] = request(id, prompt: 30, new: 30)
            _ = s.submit(requests[id]!)
        }
        var run = Run()
        drive(&s, requests, run: &run, steps: 1)   // 0 is mid-prefill, the others wait
        s.cancel(5)                                 // waiting
        s.cancel(0)                                 // prefilling
        drive(&s, requests, run: &run, steps: 12)
        let decoding = run.steps.last!.work.first { if case .decode = $0 { true } else { false } }!.id
        s.cancel(decoding)                          // decoding
        drive(&s, requests, run: &run, steps: 40)
        if let p = run.steps.flatMap(\.preempted).first { s.cancel(p) }  // preempted (if the pool forced one)
        s.cancel(12345)                             // unknown: no effect
        drive(&s, requests, run: &run)
        #expect(s.isIdle && s.freeBlocks == limits.totalBlocks)
        let after = run.steps.count
        #expect(run.steps[..<after].allSatisfy { step in !step.work.contains { $0.id == 5 } })
    }

    @Test func theQueueIsBoundedAndOversizedRequestsAreRefused() {
        var s = Scheduler(limits: .init(maxWaiting: 3, blockTokens: 16, totalBlocks: 10))
        for id in 0..<3 { #expect(s.submit(request(id, prompt: 10, new: 10)) == .queued) }
        #expect(s.submit(request(3, prompt: 10, new: 10)) == .queueFull)
        #expect(s.submit(request(4, prompt: 150, new: 20)) == .tooLarge(blocksNeeded: 11))
    }
}

