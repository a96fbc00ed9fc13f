import ArgumentParser
import TesseraTraining

/// `tessera train --method distill`'s options: the teacher, the divergence, and generation for rows without answers.
struct DistillOptions: ParsableArguments {
    @Option(help: "Distill: the teacher's system prompt, which the student does not see (context distillation).")
    var teacherSystem: String?
    @Option(help: "Distill: the teacher is the base with this PEFT adapter (else the base itself); constitutional: the model that answers, critiques and revises.")
    var teacherAdapter: String?
    @Option(help: "Distill: forward (KL(teacher‖student)), reverse (KL(student‖teacher)) or jsd (generalized JSD).")
    var distillLoss: String = "forward"
    @Option(help: "Distill: the JSD's beta, the teacher's share of the mixture (0 is forward KL, 1 reverse).")
    var jsdBeta: Double = 0.5
    @Option(help: "Distill: softmax temperature of both distributions.") var temperature: Double = 1
    @Option(help: """
        Distill: share of the distillation loss; the rest is cross-entropy on the answer (default: 1 on answers from \
        the data, 0.5 on answers the teacher wrote, which are its samples too).
        """)
    var distillRatio: Double?
    @Option(help: "Distill: the teacher's distribution kept per position as its top k tokens and the rest's mass.")
    var teacherTopK: Int = 64
    @Flag(help: "Distill: every step's answers are sampled from the student as it trains, then taught (GKD).")
    var onPolicy = false
    @Option(help: "Longest generated answer (rows without one, --on-policy, rollouts).") var maxNewTokens: Int = 256
    @Option(help: """
        Sampling temperature of generated answers (default: 0, the most likely answer, for those a distillation \
        teacher writes, as sequence-level distillation takes them; 0.7 for the student's, rollouts and Constitutional AI).
        """)
    var generationTemperature: Double?

    /// The temperature answers are sampled at, where the method needs samples.
    var samplingTemperature: Float { Float(generationTemperature ?? 0.7) }

    func validate(method: String) throws {
        guard method == "distill" || (teacherSystem == nil && !onPolicy) else {
            throw ValidationError("--teacher-system and --on-policy are for --method distill")
        }
        guard ["distill", "constitutional"].contains(method) || teacherAdapter == nil else {
            throw ValidationError("--teacher-adapter is for --method distill and constitutional")
        }
        guard DistillationLoss.Divergence(rawValue: distillLoss) != nil else {
            throw ValidationError("--distill-loss must be forward, reverse or jsd")
        }
        guard (0...1).contains(jsdBeta) else { throw ValidationError("--jsd-beta must be in 0...1") }
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be positive") }
        guard distillRatio.map({ (0...1).contains($0) }) ?? true else { throw ValidationError("--distill-ratio must be in 0...1") }
        guard (1...4096).contains(teacherTopK) else { throw ValidationError("--teacher-top-k must be in 1...4096") }
        guard maxNewTokens > 0 else { throw ValidationError("--max-new-tokens must be positive") }
        guard generationTemperature.map({ $0 >= 0 && $0.isFinite }) ?? true else {
            throw ValidationError("--generation-temperature must not be negative")
        }
    }

    /// Distillation's share on an answer the teacher wrote, unless --distill-ratio says: half, the rest cross-entropy
    /// on it (sequence-level and token-level distillation together, Kim and Rush's best mix). With the teacher's
    /// greedy answers that measured a student 36% below the base on held-out teacher answers, where distillation
    /// alone gave 20% and the mix on answers sampled at 0.7 29% (tools/train/distill_check.py).
    var writtenRatio: Double { distillRatio ?? 0.5 }

    var loss: DistillationLoss {
        DistillationLoss(divergence: DistillationLoss.Divergence(rawValue: distillLoss)!, temperature: temperature,
                         jsdBeta: jsdBeta, ratio: distillRatio ?? 1)
    }
}
