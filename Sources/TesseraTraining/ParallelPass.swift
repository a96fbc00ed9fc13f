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
        let groups = Self.groups(batch, count: threads)
        guard groups.count > 1 else { return lossAndGradients(batch, normalizer: normalizer, into: &gradients) }
        let results = Mutex<[Int: (Double, [[Float]])]>([:])
        let shape = gradients.map(\.count)
        sideBySide(groups.count) { g, pass in
            var mine = shape.map { [Float](repeating: 0, count: $0) }
            let loss = pass.lossAndGradients(groups[g], normalizer: normalizer, into: &mine)
            results.withLock { $0[g] = (loss, mine) }
        }
        return results.withLock { r in
            var loss = 0.0
            for g in groups.indices {  // in group order: the same sums every run
                let (l, part) = r[g]!
                loss += l
                for i in gradients.indices { for j in gradients[i].indices { gradients[i][j] += part[i][j] } }
            }
            return loss
        }
    }

    /// `loss` over up to `threads` groups at once.
    public func loss(_ batch: [TrainingExample], threads: Int) -> Double {
        let groups = Self.groups(batch, count: threads)
        guard groups.count > 1 else { return loss(batch) }
        let results = Mutex<[Int: Double]>([:])
        sideBySide(groups.count) { g, pass in
            let l = pass.loss(groups[g])
            results.withLock { $0[g] = l }
        }
        return results.withLock { r in groups.indices.reduce(0) { $0 + r[$1]! } }
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

    /// Up to `count` groups of about equal tokens: longest sequences first, each to the lightest group so far.
    static func groups(_ batch: [TrainingExample], count: Int) -> [[TrainingExample]] {
        let n = min(max(count, 1), batch.count)
        guard n > 1 else { return [batch] }
        var groups = [[TrainingExample]](repeating: [], count: n), load = [Int](repeating: 0, count: n)
        for e in batch.enumerated().sorted(by: { ($0.element.tokens.count, $1.offset) > ($1.element.tokens.count, $0.offset) }).map(\.element) {
            let g = load.indices.min { load[$0] < load[$1] }!
            groups[g].append(e)
            load[g] += e.tokens.count
        }
        return groups
    }
}
