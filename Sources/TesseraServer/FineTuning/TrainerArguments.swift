import Foundation

extension TrainingJobs {
    struct ArgumentError: Error, CustomStringConvertible { let description: String }

    /// `tessera train` flags for a job: its spec, its files by their store paths, its directory, and the models it
    /// names by their PEFT directories. Nothing the client sent becomes a path: ids were checked when the job was
    /// made, and every path here is built from server-made ids.
    func trainerArguments(_ job: FineTuningJob, directory jobDirectory: URL, resume: String?) throws -> [String] {
        let spec = try job.trainingSpec()
        var a = ["train", "--json", "--exit-on-stdin-eof", "--idle-priority", "--model", configuration.modelPath,
                 "--method", spec.trainerMethod, "--data", try files.url(job.trainingFile).path,
                 "--output", jobDirectory.appendingPathComponent("output").path,
                 "--checkpoint-dir", jobDirectory.appendingPathComponent("checkpoints").path,
                 "--epochs", "\(spec.nEpochs)", "--batch-size", "\(spec.batchSize)",
                 "--learning-rate", "\(spec.baseLearningRate * spec.learningRateMultiplier)", "--seed", "\(job.seed)"]
        if let t = configuration.chatTemplatePath { a += ["--chat-template", t] }
        if let v = job.validationFile { a += ["--validation-data", try files.url(v).path] }
        if let t = configuration.threads { a += ["--threads", "\(t)"] }
        // About one checkpoint an epoch (OpenAI keeps one per epoch), at least every 100 steps so a restart loses little.
        let rows = (try registry.file(tenantID: job.tenantID, id: job.trainingFile))?.lines ?? 1
        let stepsPerEpoch = max(1, (rows + spec.batchSize - 1) / spec.batchSize)
        let every = min(stepsPerEpoch, 100)
        a += ["--checkpoint-every", "\(every)", "--eval-steps", "\(every)"]
        let adapter = spec.adapter
        a += ["--adapter-type", adapter.trainerType]
        if let r = adapter.rank { a += ["--rank", "\(r)"] }
        if let alpha = adapter.alpha { a += ["--alpha", "\(alpha)"] }
        if let t = adapter.targetModules { a += ["--target-modules", t.joined(separator: ",")] }
        if let n = adapter.numVirtualTokens { a += ["--num-virtual-tokens", "\(n)"] }
        func directory(_ name: String) throws -> String? {
            switch peftDirectory(of: name, tenantID: job.tenantID) {
            case .base: return nil
            case .directory(let d): return d
            case .failure(let m): throw ArgumentError(description: m)
            }
        }
        let start = try directory(job.model)
        switch spec.method {
        case "dpo":
            a += ["--beta", "\(spec.beta ?? 0.1)"]
            // From a fine-tuned model, DPO's reference is that model (frozen), as OpenAI's DPO after SFT.
            if let start { a += ["--init-adapter", start, "--reference", "init"] }
        case "distill":
            if let t = spec.teacher, let d = try directory(t) { a += ["--teacher-adapter", d] }
            if let s = spec.teacherSystem { a += ["--teacher-system", s] }
            a += ["--distill-loss", spec.distillLoss ?? "forward", "--temperature", "\(spec.temperature ?? 1)"]
            if spec.onPolicy == true { a += ["--on-policy"] }
        case "rlhf":
            guard let r = spec.rewardModel, let d = try directory(r) else { throw ArgumentError(description: "RLHF needs a reward model") }
            a += ["--reward-model", d, "--rl-algorithm", spec.rlAlgorithm ?? "grpo", "--kl-coef", "\(spec.klCoef ?? 0.05)",
                  "--num-generations", "\(spec.numGenerations ?? 4)"]
            if let start { a += ["--init-adapter", start, "--reference", "init"] }
        case "constitutional":
            let file = jobDirectory.appendingPathComponent("constitution.json")
            try JSONEncoder().encode(spec.constitution ?? []).write(to: file, options: .atomic)
            a += ["--constitution", file.path, "--stages", (spec.stages ?? ["sft", "dpo"]).joined(separator: ",")]
        default:
            break
        }
        if let start, !["dpo", "rlhf"].contains(spec.method) {
            // --resume carries the adapter on; --init-adapter only starts it.
            if resume == nil { a += ["--init-adapter", start] }
        }
        if let resume { a += ["--resume", resume] }
        return a + configuration.extraArguments
    }
}
