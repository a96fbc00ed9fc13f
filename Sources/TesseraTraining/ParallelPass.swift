import COpenBLAS
import Dispatch
import Synchronization
import TesseraKernels

/// A batch's sequences in groups, one per thread, each group's pass on its own core with single-threaded products:
/// then every op runs in parallel (norms, attention and its softmax, SwiGLU's backward, the head's log-softmax), not
/// only the products, and no core waits for another inside a layer. The loss and gradients are sums over sequences,
/// so the groups' add up to the batch's. A batch of one sequence runs as one pass on all threads' products.
extension AdapterPass {
    /// The products of a pass that has a core to itself run inline.
    private static let inline = ComputePool(threads: 1)

    /// `lossAndGradients` over up to `threads` groups at once.
    public func lossAndGradients(_ batch: [TrainingExample], normalizer: Double, into gradients: inout [[Float]],
                                 threads: Int) -> Double {
        let groups = Self.groups(batch.map(\.tokens.count), count: threads)
        guard groups.count > 1 else { return lossAndGradients(batch, normalizer: normalizer, into: &gradients) }
        return summed(groups.count, into: &gradients) { g, pass, mine in
            pass.lossAndGradients(groups[g].map { batch[$0] }, normalizer: normalizer, into: &mine)
        }
    }

    /// `lossAndGradients(_:normalizer:into:positionLoss:)` over up to `threads` groups at once; `positionLoss` sees
    /// each position's sequence as its index in `batch`. Without a normalizer, the forward pass alone.
    public func lossAndGradients(_ batch: [TrainingExample], normalizer: Double?, into gradients: inout [[Float]],
                                 threads: Int, positionLoss: @escaping PositionLoss, valueLoss: ValueLoss? = nil) -> Double {
        let groups = Self.groups(batch.map(\.tokens.count), count: threads)
        @Sendable func run(_ pass: AdapterPass, _ members: [Int], _ into: inout [[Float]]) -> Double {
            let global: @Sendable (Position) -> Position = { p in
                var g = p
                g.sequence = members[p.sequence]
                return g
            }
            var values: ValueLoss?
            if let valueLoss { values = { p, value in valueLoss(global(p), value) } }
            return pass.lossAndGradients(members.map { batch[$0] }, normalizer: normalizer, into: &into,
                                         positionLoss: { p, logits, vocab, scale in positionLoss(global(p), logits, vocab, scale) },
                                         valueLoss: values)
        }
        guard groups.count > 1 else { return run(self, groups.first ?? [], &gradients) }
        if normalizer == nil {  // no gradients to sum; the losses in group order, the same sum every run
            let losses = Mutex<[Int: Double]>([:])
            sideBySide(groups.count) { g, pass in
                var none: [[Float]] = []
                let l = run(pass, groups[g], &none)
                losses.withLock { $0[g] = l }
            }
            return losses.withLock { l in (0..<groups.count).reduce(0) { $0 + l[$1]! } }
        }
        return summed(groups.count, into: &gradients) { g, pass, mine in run(pass, groups[g], &mine) }
    }

    /// `gradients(_:normalizer:into:reweigh:)` over units of sequences (DPO's pairs) that stay together in one
    /// group, up to `threads` groups at once: `reweigh` gets a unit's index and its sequences' NLLs and returns
    /// d(loss)/d(NLL) for each.
    public func gradients(units: [[TrainingExample]], normalizer: Double, into gradients: inout [[Float]], threads: Int,
                          reweigh: @Sendable @escaping (Int, [Double]) -> [Double]) {
        let groups = Self.groups(units.map { $0.reduce(0) { $0 + $1.tokens.count } }, count: threads)
        @Sendable func run(_ pass: AdapterPass, _ members: [Int], _ into: inout [[Float]]) {
            pass.gradients(members.flatMap { units[$0] }, normalizer: normalizer, into: &into) { nlls in
                var out: [Double] = [], at = 0
                for u in members {
                    out += reweigh(u, Array(nlls[at..<(at + units[u].count)]))
                    at += units[u].count
                }
                return out
            }
        }
        guard groups.count > 1 else { return run(self, groups.first ?? [], &gradients) }
        _ = summed(groups.count, into: &gradients) { g, pass, mine in
            run(pass, groups[g], &mine)
            return 0
        }
    }

    /// Each sequence's weighted NLL, over up to `threads` groups at once (in the batch's order).
    public func sequenceNLLs(_ batch: [TrainingExample], threads: Int) -> [Double] {
        sequenceNLLs(units: batch.map { [$0] }, threads: threads).flatMap { $0 }
    }

    /// Each unit's sequences' weighted NLLs, units grouped whole as `gradients(units:...)` groups them: the same
    /// adapter then gives the same bits in both (DPO's reference and a policy that has not moved yet).
    public func sequenceNLLs(units: [[TrainingExample]], threads: Int) -> [[Double]] {
        let groups = Self.groups(units.map { $0.reduce(0) { $0 + $1.tokens.count } }, count: threads)
        let results = Mutex<[Int: [Double]]>([:])
        if groups.count > 1 {
            sideBySide(groups.count) { g, pass in
                let nlls = pass.sequenceNLLs(groups[g].flatMap { units[$0] })
                results.withLock { $0[g] = nlls }
            }
        } else {
            results.withLock { $0[0] = sequenceNLLs(units.flatMap { $0 }) }
        }
        var out = [[Double]](repeating: [], count: units.count)
        results.withLock { r in
            for (g, members) in groups.enumerated() {
                var at = 0
                for m in members {
                    out[m] = Array(r[g]![at..<(at + units[m].count)])
                    at += units[m].count
                }
            }
        }
        return out
    }

    /// `loss` over up to `threads` groups at once.
    public func loss(_ batch: [TrainingExample], threads: Int) -> Double {
        sequenceNLLs(batch, threads: threads).reduce(0, +)
    }

    /// Runs `body` for `count` groups side by side, each into gradients of its own, and adds them up in group order
    /// (the same sums every run); returns the sum of what the bodies return.
    private func summed(_ count: Int, into gradients: inout [[Float]],
                        _ body: @Sendable (Int, AdapterPass, inout [[Float]]) -> Double) -> Double {
        let results = Mutex<[Int: (Double, [[Float]])]>([:])
        let shape = gradients.map(\.count)
        sideBySide(count) { g, pass in
            var mine = shape.map { [Float](repeating: 0, count: $0) }
            let loss = body(g, pass, &mine)
            results.withLock { $0[g] = (loss, mine) }
        }
        return results.withLock { r in
            var loss = 0.0
            for g in 0..<count {
                let (l, part) = r[g]!
                loss += l
                for i in gradients.indices { for j in gradients[i].indices { gradients[i][j] += part[i][j] } }
            }
            return loss
        }
    }

    /// Runs `body` for each group on its own thread, with a copy of this pass whose products are single-threaded,
    /// whose dropout masks are the group's own and which holds its share of the activation budget.
    private func sideBySide(_ count: Int, _ body: @Sendable (Int, AdapterPass) -> Void) {
        let blasThreads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(blasThreads) }
        DispatchQueue.concurrentPerform(iterations: count) { g in
            let pass = AdapterPass(base: base, lora: lora, gradientCheckpointing: gradientCheckpointing,
                                   dropoutSeed: dropoutSeed.map { $0 &+ UInt64(g + 1) &* 0xD1B5_4A32_D192_ED03 },
                                   doraNorms: doraNorms, precision: precision, pool: Self.inline, budget: budget / count)
            body(g, pass)
        }
    }

    /// Up to `count` groups of about equal tokens (indices of `sizes`): largest first, each to the lightest group so
    /// far.
    static func groups(_ sizes: [Int], count: Int) -> [[Int]] {
        let n = min(max(count, 1), sizes.count)
        guard n > 1 else { return [Array(sizes.indices)] }
        var groups = [[Int]](repeating: [], count: n), load = [Int](repeating: 0, count: n)
        for i in sizes.indices.sorted(by: { (sizes[$0], $1) > (sizes[$1], $0) }) {
            let g = load.indices.min { load[$0] < load[$1] }!
            groups[g].append(i)
            load[g] += sizes[i]
        }
        return groups
    }
}
