import ArgumentParser
import TesseraTraining

/// `tessera train --method rlhf`'s options: the reward, the algorithm and its coefficients.
struct RLOptions: ParsableArguments {
    @Option(help: """
        RLHF: ppo (a value head, GAE, the KL in each token's reward), grpo (group-normalized advantages, the KL in the \
        loss) or rloo (a leave-one-out baseline, the KL in the reward).
        """)
    var rlAlgorithm: String = "grpo"
    @Option(help: "RLHF: the reward model scoring rollouts (`tessera train --method reward`).") var rewardModel: String?
    @Option(help: "RLHF: a program scoring rollouts: one JSON line in ({\"prompt\", \"completion\"}), one out ({\"reward\"}).")
    var rewardCommand: String?
    @Option(help: "RLHF: answers sampled per prompt.") var numGenerations: Int = 4
    @Option(help: "RLHF: the KL penalty's coefficient (β).") var klCoef: Double = 0.05
    @Option(help: "RLHF: adapt --kl-coef after each batch of rollouts toward this KL per answer (nats).") var klTarget: Double?
    @Option(help: "RLHF: PPO's clip range of the probability ratio.") var cliprange: Double = 0.2
    @Option(help: "RLHF: optimizer steps on each batch of rollouts (PPO's epochs).") var ppoEpochs: Int = 1

    func validate(method: String) throws {
        let used = rewardModel != nil || rewardCommand != nil
        guard method == "rlhf" || !used else { throw ValidationError("--reward-model and --reward-command are for --method rlhf") }
        guard method != "rlhf" || (rewardModel == nil) != (rewardCommand == nil) else {
            throw ValidationError("--method rlhf needs one of --reward-model or --reward-command")
        }
        guard let algorithm = RLObjective.Algorithm(rawValue: rlAlgorithm) else {
            throw ValidationError("--rl-algorithm must be ppo, grpo or rloo")
        }
        guard (1...64).contains(numGenerations), algorithm != .rloo || numGenerations > 1 else {
            throw ValidationError("--num-generations must be in 1...64 (at least 2 for rloo, whose baseline is the other answers)")
        }
        guard klTarget.map({ $0 > 0 && $0.isFinite }) ?? true, klTarget == nil || klCoef > 0 else {
            throw ValidationError("--kl-target must be positive, with a positive --kl-coef to adapt")
        }
        guard klCoef >= 0, klCoef.isFinite, cliprange > 0, cliprange < 1, (1...16).contains(ppoEpochs) else {
            throw ValidationError("--kl-coef must not be negative, --cliprange in (0, 1), --ppo-epochs in 1...16")
        }
    }
}
