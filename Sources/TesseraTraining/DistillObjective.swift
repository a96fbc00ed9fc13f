import Foundation
import Synchronization
import TesseraEngine
import TesseraModel

/// A distillation row: the student's context and the teacher's (which may hold what the student will not see: a
/// system prompt), the answer both read, and teacher distributions the data gave.
public struct DistillationRow: Sendable, Equatable {
    /// The student's rendered prompt, through the generation prompt.
    public var prompt: [Int32]
    /// The teacher's.
    public var teacherPrompt: [Int32]
    /// The answer's content and end-of-turn token; nil: to be generated (by the teacher, or with `--on-policy` by
    /// the student).
    public var answer: [Int32]?
    /// The teacher's distributions at the answer's tokens from the data (OpenAI's top logprobs), nil where it gave
    /// none; nil: the teacher model is run.
    public var given: [TeacherDistribution?]?

    public init(prompt: [Int32], teacherPrompt: [Int32], answer: [Int32]?, given: [TeacherDistribution?]? = nil) {
        self.prompt = prompt
        self.teacherPrompt = teacherPrompt
        self.answer = answer
        self.given = given
    }

    /// The student's sequence: the prompt untrained, the answer trained.
    public var student: TrainingExample { Self.sequence(prompt, answer ?? []) }

    /// The teacher's: its own prompt, the same answer.
    public var teacherSequence: TrainingExample { Self.sequence(teacherPrompt, answer ?? []) }

    static func sequence(_ prompt: [Int32], _ answer: [Int32]) -> TrainingExample {
        TrainingExample(tokens: prompt + answer, weights: [Float](repeating: 0, count: prompt.count) + [Float](repeating: 1, count: answer.count))
    }
}

/// A row taught: the student's sequence and the teacher's distribution at each of its trained positions.
public struct DistillationExample: Sendable, Equatable {
    public var row: DistillationRow
    /// One per trained position of `row.student`, in order; nil: trained on the data's token alone.
    public var teacher: [TeacherDistribution?]
    /// This row's share of distillation in its loss, in place of the loss's (an answer the teacher wrote is its
    /// sample too, and trains by cross-entropy as well: sequence-level distillation).
    public var ratio: Double?

    public init(row: DistillationRow, teacher: [TeacherDistribution?], ratio: Double? = nil) {
        self.row = row
        self.teacher = teacher
        self.ratio = ratio
    }
}

/// The teacher model: the base, with an adapter of its own or none, reading each row in its own context; its
/// distributions are kept as the top `topK` tokens and the rest's mass (`TeacherDistribution`).
public struct Teacher: Sendable {
    public let pass: AdapterPass
    public let topK: Int
    public let temperature: Double

    public init(pass: AdapterPass, topK: Int, temperature: Double) {
        self.pass = pass
        self.topK = topK
        self.temperature = temperature
    }

    /// `rows` with their answers taught: the data's distributions where it gave them, else the teacher's, computed
    /// in batches of `batchSize` rows.
    public func teach(_ rows: [DistillationRow], batchSize: Int, threads: Int) -> [DistillationExample] {
        var out = rows.map { DistillationExample(row: $0, teacher: $0.given ?? []) }
        let run = rows.indices.filter { rows[$0].given == nil }
        for start in stride(from: 0, to: run.count, by: max(1, batchSize)) {
            let part = Array(run[start..<min(start + max(1, batchSize), run.count)])
            let sequences = part.map { rows[$0].teacherSequence }
            let found = Mutex<[Int: [Int: TeacherDistribution]]>([:])
            let k = topK, temperature = temperature
            var none: [[Float]] = []
            _ = pass.lossAndGradients(sequences, normalizer: nil, into: &none, threads: threads) { p, logits, vocab, _ in
                let d = TeacherDistribution.top(k, logits: logits, vocab: vocab, temperature: temperature)
                found.withLock { $0[p.sequence, default: [:]][p.index] = d }
                return 0
            }
            found.withLock { f in
                for (j, r) in part.enumerated() {
                    let n = sequences[j].trainedTokens
                    out[r].teacher = (0..<n).map { f[j]?[$0] }
                }
            }
        }
        return out
    }
}

/// Knowledge distillation (`DistillationLoss` at every trained position), mean over the step's trained tokens.
/// On-policy, each step's answers are first sampled from the student as it is, then taught.
public struct DistillObjective: TrainingObjective {
    public let loss: DistillationLoss

    /// What on-policy distillation needs to write and teach a step's answers.
    public struct OnPolicy: Sendable {
        public let generator: BatchGenerator
        public let teacher: Teacher
        public let parameters: SamplingParameters
        public let base: DecoderWeights
        public let batchSize: Int
        /// Answers stop where the longer of the two contexts and the answer reach this.
        public let maxLength: Int

        public init(generator: BatchGenerator, teacher: Teacher, parameters: SamplingParameters, base: DecoderWeights, batchSize: Int,
                    maxLength: Int) {
            self.generator = generator
            self.teacher = teacher
            self.parameters = parameters
            self.base = base
            self.batchSize = batchSize
            self.maxLength = maxLength
        }

        /// The sampling parameters of each row's answer at `step`, `parameters` unless given.
        public func sampling(_ rows: [DistillationRow], step: Int, _ given: SamplingParameters? = nil) -> [SamplingParameters] {
            BatchGenerator.parameters(given ?? parameters, contexts: rows.map { max($0.prompt.count, $0.teacherPrompt.count) },
                                      maxLength: maxLength, salt: step)
        }
    }

    public let onPolicy: OnPolicy?

    public init(loss: DistillationLoss, onPolicy: OnPolicy? = nil) {
        self.loss = loss
        self.onPolicy = onPolicy
    }

    public func prepare(_ step: [DistillationExample], lora: AdapterParameters, step index: Int) throws -> [DistillationExample] {
        guard let onPolicy else { return step }
        let answers: [BatchGenerator.Answer]
        do {
            answers = try onPolicy.generator.generate(step.map(\.row.prompt), adapter: lora.servingWeights(base: onPolicy.base),
                                                      parameters: onPolicy.sampling(step.map(\.row), step: index))
        } catch {
            throw TrainingFailure("on-policy generation at step \(index + 1): \(error)")
        }
        let rows = zip(step, answers).map { e, a in
            DistillationRow(prompt: e.row.prompt, teacherPrompt: e.row.teacherPrompt, answer: a.tokens)
        }
        return onPolicy.teacher.teach(rows, batchSize: onPolicy.batchSize, threads: onPolicy.teacher.pass.pool.threads)
    }

    public func normalizer(_ step: [DistillationExample]) -> Double { step.reduce(0) { $0 + $1.row.student.trainedWeight } }

    public func tokens(_ item: DistillationExample) -> Int { item.row.prompt.count + (item.row.answer?.count ?? 0) }

    private func positionLoss(_ micro: [DistillationExample]) -> AdapterPass.PositionLoss {
        let loss = loss
        return { p, logits, vocab, scale in
            let item = micro[p.sequence], taught = item.teacher
            var own = loss
            if let ratio = item.ratio { own.ratio = ratio }
            return own.apply(logits, vocab: vocab, token: p.token, weight: p.weight,
                             teacher: p.index < taught.count ? taught[p.index] : nil, scale: scale)
        }
    }

    public func accumulate(_ micro: [DistillationExample], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                           threads: Int) -> (loss: Double, metrics: [String: Double]) {
        (pass.lossAndGradients(micro.map(\.row.student), normalizer: normalizer, into: &gradients, threads: threads,
                               positionLoss: positionLoss(micro)), [:])
    }

    public func evaluate(_ items: [DistillationExample], pass: AdapterPass, threads: Int) -> (loss: Double, weight: Double, metrics: [String: Double]) {
        var none: [[Float]] = []
        let l = pass.lossAndGradients(items.map(\.row.student), normalizer: nil, into: &none, threads: threads,
                                      positionLoss: positionLoss(items))
        return (l, normalizer(items), [:])
    }
}

/// A method could not go on (generation failed, a reward program misbehaved): the message says where.
public struct TrainingFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
