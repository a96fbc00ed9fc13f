import Foundation
import Synchronization
import TesseraKernels
import TesseraModel

/// A model whose passes the test lets through one by one: the engine thread stops before a pass until the test
/// grants it, so "a request is still running" is a fact the test made, not a race against the machine's speed.
final class GatedModel: LanguageModel {
    let base: any LanguageModel
    /// Passes still allowed before the gate holds the engine (nil: open for good).
    private let allowed: Mutex<Int?>
    /// Passes that have been let through.
    private let passed = Atomic<Int>(0)

    init(_ base: any LanguageModel, allowing passes: Int) {
        self.base = base
        allowed = Mutex(passes)
    }

    var config: ModelConfig { base.config }
    var weightBytes: Int { base.weightBytes }
    var passes: Int { passed.load(ordering: .acquiring) }

    func check(adapters: [AppliedAdapter]) throws(ModelError) { try base.check(adapters: adapters) }
    func weight(layer: Int, _ projection: Projection) -> WeightMatrix { base.weight(layer: layer, projection) }

    /// Lets the engine run freely from now on (before `Engine.close`, which waits for the current pass).
    func open() { allowed.withLock { $0 = nil } }

    func forward(_ batch: [SequenceInput], logits: inout [Float]) throws(ModelError) {
        while !allowed.withLock({ left -> Bool in
            guard let n = left else { return true }
            guard n > 0 else { return false }
            left = n - 1
            return true
        }) {
            usleep(1000)
        }
        defer { passed.add(1, ordering: .releasing) }
        try base.forward(batch, logits: &logits)
    }
}
