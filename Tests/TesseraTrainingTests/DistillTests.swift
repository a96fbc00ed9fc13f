import Foundation
import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// Distillation's losses: each divergence's gradient by the logits against finite differences, the sparse teacher
/// against the exact divergence when it lists every token, and the whole backward pass on the tiny model.
@Suite struct DistillTests {
    static let base = TinyBase()

    /// A row's loss with the gradient (scale 1) or without.
    static func apply(_ loss: DistillationLoss, _ logits: [Float], token: Int32, weight: Float = 1,
                      teacher: TeacherDistribution?) -> (Double, [Float]) {
        var row = logits
        let value = row.withUnsafeMutableBufferPointer {
            loss.apply($0.baseAddress!, vocab: logits.count, token: token, weight: weight, teacher: teacher, scale: 1)
        }
        return (value, row)
    }

    static func teacher(_ vocab: Int, k: Int, seed: UInt64) -> TeacherDistribution {
        var rng = SplitMix(seed)
        let logits = rng.floats(vocab).map { $0 * 3 }
        return logits.withUnsafeBufferPointer { TeacherDistribution.top(k, logits: $0.baseAddress!, vocab: vocab, temperature: 1) }
    }

    static let losses: [DistillationLoss] = DistillationLoss.Divergence.allCases.flatMap { d in
        [DistillationLoss(divergence: d), DistillationLoss(divergence: d, temperature: 2, jsdBeta: 0.3, ratio: 0.6)]
    }

    @Test(arguments: losses) func gradientByTheLogitsMatchesFiniteDifferences(_ loss: DistillationLoss) {
        let vocab = 40
        var rng = SplitMix(7)
        let logits = rng.floats(vocab).map { $0 * 2 }
        let teacher = Self.teacher(vocab, k: 6, seed: 11)
        let (_, gradient) = Self.apply(loss, logits, token: 3, weight: 0.7, teacher: teacher)
        for j in [0, 3, Int(teacher.ids[0]), Int(teacher.ids[5]), 39] {
            func at(_ eps: Float) -> Double {
                var x = logits
                x[j] += eps
                return Self.apply(loss, x, token: 3, weight: 0.7, teacher: teacher).0
            }
            let numeric = (at(1e-2) - at(-1e-2)) / 2e-2
            #expect(abs(Double(gradient[j]) - numeric) < 2e-4 + 1e-2 * abs(numeric), "\(loss.divergence) logit \(j): \(gradient[j]) vs \(numeric)")
        }
        #expect(abs(gradient.reduce(0, +)) < 1e-5, "a softmax's gradient sums to 0")
    }

    /// With every token listed the bucket is empty and the loss is the exact divergence of the two softmaxes.
    @Test(arguments: DistillationLoss.Divergence.allCases) func aTeacherListingEveryTokenGivesTheExactDivergence(_ d: DistillationLoss.Divergence) {
        let vocab = 30
        var rng = SplitMix(13)
        let student = rng.floats(vocab).map { $0 * 2 }, teacherLogits = rng.floats(vocab).map { $0 * 2 }
        let teacher = teacherLogits.withUnsafeBufferPointer {
            TeacherDistribution.top(vocab, logits: $0.baseAddress!, vocab: vocab, temperature: 1.5)
        }
        #expect(teacher.rest == 0 && teacher.ids.count == vocab)
        func softmax(_ x: [Float], _ t: Double) -> [Double] {
            let e = x.map { exp(Double($0) / t) }, s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        let p = softmax(student, 1.5), q = softmax(teacherLogits, 1.5)
        func kl(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) } }
        let m = zip(q, p).map { 0.5 * $0 + 0.5 * $1 }
        let exact = d == .forward ? kl(q, p) : d == .reverse ? kl(p, q) : 0.5 * kl(q, m) + 0.5 * kl(p, m)
        let (value, _) = Self.apply(DistillationLoss(divergence: d, temperature: 1.5), student, token: 0, teacher: teacher)
        #expect(abs(value - exact) < 1e-5 * max(1, exact), "\(value) vs \(exact)")
    }

    /// TRL's JSD at β = 0 and 1 is forward and reverse KL.
    @Test func jsdEndsAreTheKLs() {
        var rng = SplitMix(17)
        let logits = rng.floats(20), teacher = Self.teacher(20, k: 4, seed: 19)
        for (beta, kl) in [(0.0, DistillationLoss.Divergence.forward), (1.0, .reverse)] {
            let jsd = Self.apply(DistillationLoss(divergence: .jsd, jsdBeta: beta), logits, token: 1, teacher: teacher).0
            #expect(abs(jsd - Self.apply(DistillationLoss(divergence: kl), logits, token: 1, teacher: teacher).0) < 1e-9)
        }
    }

    /// Top logprobs as OpenAI gives them: the rest is what they leave, and rounding past 1 is normalized away.
    @Test func logprobTeachers() {
        let t = TeacherDistribution.fromLogprobs([(5, log(0.5)), (7, log(0.3)), (5, log(0.5))])
        #expect(t.ids == [5, 7] && abs(t.rest - 0.2) < 1e-6)
        let over = TeacherDistribution.fromLogprobs([(1, log(0.7)), (2, log(0.4))])
        #expect(abs(over.probabilities.reduce(0, +) + over.rest - 1) < 1e-6 && over.rest > 0)
    }

    // MARK: - Through the model

    /// Rows whose teacher reads a longer context (a "system prompt" of its own) than the student.
    static func rows(_ count: Int = 3, seed: UInt64 = 23) -> [DistillationRow] {
        let c = base.config
        var rng = SplitMix(seed)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocab)) } }
        let system = tokens(4)
        return (0..<count).map { i in
            let prompt = tokens(2 + i)
            return DistillationRow(prompt: prompt, teacherPrompt: system + prompt, answer: tokens(3 + i % 2))
        }
    }

    static func examples(_ rows: [DistillationRow], k: Int, temperature: Double) -> [DistillationExample] {
        var settings = Trainer.Settings()
        settings.precision = .fp32
        let trainer = Trainer(base: base.weights, lora: AdapterParameters(config: base.config, options: LoRAOptions(), seed: 1), settings: settings)
        return trainer.teacher(nil, topK: k, temperature: temperature).teach(rows, batchSize: 2, threads: 2)
    }

    static func loss(_ lora: AdapterParameters, _ items: [DistillationExample], _ objective: DistillObjective) -> Double {
        let (sum, weight, _) = objective.evaluate(items, pass: AdapterPass(base: base.weights, lora: lora, precision: .fp32), threads: 2)
        return sum / weight
    }

    static func check(_ lora: AdapterParameters, _ loss: DistillationLoss) {
        let items = examples(rows(), k: 8, temperature: loss.temperature), objective = DistillObjective(loss: loss)
        #expect(items.allSatisfy { $0.teacher.count == $0.row.student.trainedTokens && $0.teacher.allSatisfy { $0 != nil } })
        var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        let pass = AdapterPass(base: base.weights, lora: lora, precision: .fp32)
        _ = objective.accumulate(items, pass: pass, normalizer: objective.normalizer(items), into: &gradients, threads: 2)
        var rng = SplitMix(31)
        let checked = FiniteDifferences.check(lora, gradients, rng: &rng, included: { lora.kind != .lora || $0.contains("layers.1.") }) {
            Self.loss($0, items, objective)
        }
        #expect(checked > 0)
    }

    @Test(arguments: DistillationLoss.Divergence.allCases) func loraGradientsMatchFiniteDifferences(_ d: DistillationLoss.Divergence) {
        var options = LoRAOptions()
        options.rank = 2
        options.alpha = 4
        var lora = AdapterParameters(config: Self.base.config, options: options, seed: 3)
        var rng = SplitMix(37)
        for i in lora.tensors.indices { lora.tensors[i] = rng.floats(lora.tensors[i].count).map { $0 * 0.5 } }
        Self.check(lora, DistillationLoss(divergence: d, temperature: 1.5, ratio: 0.8))
    }

    @Test func promptGradientsMatchFiniteDifferences() {
        var rng = SplitMix(41)
        Self.check(AdapterParameters(config: Self.base.config, promptEmbeddings: rng.floats(2 * Self.base.config.hidden)),
                   DistillationLoss(divergence: .jsd))
    }

    /// A row's own ratio replaces the loss's: at 0 the row trains on its answer's cross-entropy alone (the NLL).
    @Test func aRowsRatioReplacesTheLosss() {
        var items = Self.examples(Self.rows(), k: 8, temperature: 1)
        for i in items.indices { items[i].ratio = 0 }
        let pass = AdapterPass(base: Self.base.weights, lora: DPOTests.trainer(AdapterParameters(config: Self.base.config, options: LoRAOptions(), seed: 2)).lora,
                               precision: .fp32)
        let distilled = DistillObjective(loss: DistillationLoss(divergence: .reverse)).evaluate(items, pass: pass, threads: 2)
        let nll = NLLObjective().evaluate(items.map(\.row.student), pass: pass, threads: 2)
        #expect(abs(distilled.loss - nll.loss) < 1e-9 * max(1, nll.loss) && distilled.weight == nll.weight)
    }

    /// The student learns to answer without the context as the teacher does with it: the divergence falls.
    @Test func contextDistillationLearns() throws {
        var options = LoRAOptions()
        options.rank = 4
        var settings = Trainer.Settings()
        settings.precision = .fp32
        settings.batchSize = 4
        settings.maxSteps = 30
        settings.learningRate = 3e-2
        settings.schedule = .constant
        settings.warmupRatio = 0
        var trainer = Trainer(base: Self.base.weights, lora: AdapterParameters(config: Self.base.config, options: options, seed: 5),
                              settings: settings)
        let items = Self.examples(Self.rows(4), k: 16, temperature: 1)
        var losses: [Double] = []
        try trainer.train(DistillObjective(loss: DistillationLoss()), items, events: {
            if case let .step(_, _, loss, _, _, _, _, _) = $0 { losses.append(loss) }
        })
        #expect(losses.first! > 0.05 && losses.last! < 0.3 * losses.first!, "\(losses)")
    }
}
