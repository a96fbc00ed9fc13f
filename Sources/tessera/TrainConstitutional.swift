import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModel
import TesseraTokenizer
import TesseraTraining

/// `tessera train --method constitutional`: prompts answered, critiqued and revised through the engine, the
/// dataset written beside the output, then SFT on the revisions and DPO preferring them to the first answers.
extension TrainCommand {
    /// Where the generated dataset goes.
    var constitutionalDataset: String { output + ".constitutional.jsonl" }

    func trainConstitutional(_ trainer: inout Trainer, decoder: DecoderModel, tokenizer: Tokenizer, reader: TrainingData,
                             out: TrainingOutput, save: (Trainer) throws -> Void, stop: StopSignal) throws -> Bool {
        let base = trainer.base
        let prompts = try reader.loadConversations(data)
        let constitution = try Constitution.load(constitution!)
        let teacher = try distill.teacherAdapter.map { try PEFTDirectory.read($0, config: base.config) }
        var sampling = SamplingParameters()
        sampling.temperature = distill.samplingTemperature
        sampling.maxTokens = distill.maxNewTokens
        sampling.seed = seed
        let pipeline = ConstitutionalPipeline(data: reader, generator: BatchGenerator(model: decoder, tokenizer: tokenizer, endOfTurn: reader.endOfTurn),
                                              adapter: teacher?.servingWeights(base: base), sampling: sampling, maxLength: maxLength)
        let generated = try pipeline.run(prompts, constitution: constitution, seed: seed)
        try writeDataset(generated)
        // A revision that came out empty or unchanged teaches nothing.
        let samples = generated.filter { !$0.revision.isEmpty && !$0.initial.isEmpty && $0.revision != $0.initial }
        guard !samples.isEmpty else { throw CLIError("constitutional: no prompt got a revision that differs from its first answer") }
        func cut(_ e: TrainingExample) -> TrainingExample {
            e.tokens.count > maxLength ? TrainingExample(tokens: Array(e.tokens.prefix(maxLength)), weights: Array(e.weights.prefix(maxLength))) : e
        }
        let revisions = try samples.map { cut(try reader.example($0.messages, answer: $0.revision)) }
        let pairs = try zip(samples, revisions).map { sample, revision in
            PreferencePair(chosen: revision, rejected: cut(try reader.example(sample.messages, answer: sample.initial)))
        }
        var finished = true
        let stages = stages.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var sftAdapter: AdapterParameters?
        for (i, stage) in stages.enumerated() {
            if i > 0 { trainer = Trainer(base: base, lora: trainer.lora, settings: trainer.settings) }  // a fresh optimizer
            if stage == "sft" {
                out.start(trainer, revisions, items: revisions.count)
                finished = try trainer.train(revisions, events: out.event, checkpoint: save, shouldStop: stop.requested)
                sftAdapter = trainer.lora
            } else {
                out.start(trainer, pairs.flatMap { [$0.chosen, $0.rejected] }, items: pairs.count)
                // The reference is where this stage starts: the SFT stage's adapter, or the base.
                finished = try trainer.train(DPOObjective(beta: beta), trainer.referenced(pairs, reference: sftAdapter),
                                             events: out.event, checkpoint: save, shouldStop: stop.requested)
            }
            if !finished { break }
        }
        return finished
    }

    /// The generated dataset as JSONL (one object per prompt: messages, principle, initial, critique, revision),
    /// written atomically.
    func writeDataset(_ samples: [ConstitutionalSample]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = Data()
        for s in samples { text += try encoder.encode(s) + Data("\n".utf8) }
        do { try text.write(to: URL(fileURLWithPath: constitutionalDataset), options: .atomic) } catch {
            throw CLIError("cannot write \(constitutionalDataset): \(error)")
        }
        FileHandle.standardError.write(Data("constitutional dataset (\(samples.count) prompts) written to \(constitutionalDataset)\n".utf8))
    }
}
