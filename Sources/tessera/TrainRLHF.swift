import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModel
import TesseraTokenizer
import TesseraTraining

/// `tessera train --method rlhf`: prompts answered by the policy through the engine, scored, and learned from.
extension TrainCommand {
    func trainRLHF(_ trainer: inout Trainer, decoder: DecoderModel, tokenizer: Tokenizer, reader: TrainingData,
                   out: TrainingOutput, save: (Trainer) throws -> Void, stop: StopSignal) throws -> Bool {
        let base = trainer.base
        let prompts = try reader.loadPrompts(data, maxLength: maxLength).map { RLItem(prompt: $0) }
        let held = try validationData.map { try reader.loadPrompts($0, maxLength: maxLength).map { RLItem(prompt: $0) } } ?? []
        let reward: any RewardFunction
        if let path = rl.rewardModel {
            let model = try PEFTDirectory.read(path, config: base.config)
            guard model.hasScoreHead else { throw CLIError("--reward-model \(path): not a reward model (no score head)") }
            reward = RewardModel(pass: AdapterPass(base: base, lora: model, precision: trainer.settings.precision), threads: trainer.threads)
        } else {
            reward = try RewardCommand(rl.rewardCommand!, tokenizer: tokenizer)
        }
        let frozen = try reference == "init" ? initAdapter.map { try PEFTDirectory.read($0, config: base.config) } : nil
        var settings = RLObjective.Settings()
        settings.algorithm = RLObjective.Algorithm(rawValue: rl.rlAlgorithm)!
        settings.generations = rl.numGenerations
        settings.klCoefficient = rl.klCoef
        settings.klTarget = rl.klTarget
        settings.clip = rl.cliprange
        settings.iterations = rl.ppoEpochs
        settings.sampling.temperature = distill.samplingTemperature
        settings.sampling.maxTokens = distill.maxNewTokens
        settings.sampling.seed = seed
        settings.maxLength = maxLength
        let objective = RLObjective(settings: settings, generator: BatchGenerator(model: decoder, tokenizer: tokenizer, endOfTurn: reader.endOfTurn),
                                    reference: trainer.referencePass(frozen), reward: reward, base: base)
        out.start(trainer, prompts.map { TrainingExample(tokens: $0.prompt, weights: [Float](repeating: 0, count: $0.prompt.count)) },
                  items: prompts.count)
        if !held.isEmpty, trainer.completedSteps == 0 {  // where the policy starts: the base's held-out reward and KL
            let (loss, metrics) = try trainer.evaluation(objective, held)
            out.event(.validation(step: 0, loss: loss, metrics: metrics))
        }
        return try trainer.train(objective, prompts, validation: held, events: out.event, checkpoint: save, shouldStop: stop.requested)
    }
}
