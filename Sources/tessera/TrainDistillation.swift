import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModel
import TesseraTokenizer
import TesseraTraining

/// `tessera train --method distill`: its rows, their missing answers written by the teacher, the teacher's
/// distributions, and the loop.
extension TrainCommand {
    func distillationRows(_ reader: TrainingData) throws -> ([DistillationRow], [DistillationRow]) {
        func load(_ path: String) throws -> [DistillationRow] {
            try runOrExit {
                try reader.loadDistillation(path, maxLength: maxLength, teacherSystem: distill.teacherSystem,
                                            teacherModel: distill.teacherAdapter != nil)
            }
        }
        return (try load(data), try validationData.map(load) ?? [])
    }

    func trainDistillation(_ trainer: inout Trainer, decoder: DecoderModel, tokenizer: Tokenizer, reader: TrainingData,
                           rows: [DistillationRow], validation: [DistillationRow], out: TrainingOutput,
                           save: (Trainer) throws -> Void, stop: StopSignal) throws -> Bool {
        let base = trainer.base
        let teacherAdapter = try distill.teacherAdapter.map { path in try PEFTDirectory.read(path, config: base.config) }
        if distill.temperature != 1, rows.contains(where: { $0.given != nil }) {
            throw CLIError("--temperature \(distill.temperature): the logprobs in the data are the teacher's at temperature 1")
        }
        let teacher = trainer.teacher(teacherAdapter, topK: distill.teacherTopK, temperature: distill.temperature)
        let generator = distill.onPolicy || (rows + validation).contains(where: { $0.answer == nil })
            ? BatchGenerator(model: decoder, tokenizer: tokenizer, endOfTurn: reader.endOfTurn) : nil
        var sampling = SamplingParameters()
        sampling.temperature = distill.samplingTemperature
        sampling.maxTokens = distill.maxNewTokens
        sampling.seed = seed
        let onPolicy = generator.map {
            DistillObjective.OnPolicy(generator: $0, teacher: teacher, parameters: sampling, base: base, batchSize: batchSize,
                                      maxLength: maxLength)
        }
        // Rows without an answer get the teacher's, in its own context (sequence-level distillation: by default its
        // most likely one, see `DistillOptions.writtenRatio`); on-policy training rows get the student's at every
        // step instead.
        var teacherSampling = sampling
        teacherSampling.temperature = Float(distill.generationTemperature ?? 0)
        func answered(_ rows: [DistillationRow]) throws -> [DistillationRow] {
            let missing = rows.indices.filter { rows[$0].answer == nil }
            guard let generator, let onPolicy, !missing.isEmpty else { return rows }
            let answers = try generator.generate(missing.map { rows[$0].teacherPrompt }, adapter: teacherAdapter?.servingWeights(base: base),
                                                 parameters: onPolicy.sampling(missing.map { rows[$0] }, step: -1, teacherSampling))
            var out = rows
            for (i, a) in zip(missing, answers) { out[i].answer = a.tokens }
            return out
        }
        /// Taught, the answers the teacher wrote at their own ratio.
        func taught(_ rows: [DistillationRow]) throws -> [DistillationExample] {
            var out = teacher.teach(try answered(rows), batchSize: batchSize, threads: trainer.threads)
            for i in out.indices where rows[i].answer == nil { out[i].ratio = distill.writtenRatio }
            return out
        }
        let items = distill.onPolicy ? rows.map { DistillationExample(row: $0, teacher: []) } : try taught(rows)
        out.start(trainer, items.map(\.row.student), items: items.count)
        let held = try taught(validation)
        let objective = DistillObjective(loss: distill.loss, onPolicy: distill.onPolicy ? onPolicy : nil)
        return try trainer.train(objective, items, validation: held, events: out.event, checkpoint: save, shouldStop: stop.requested)
    }
}
