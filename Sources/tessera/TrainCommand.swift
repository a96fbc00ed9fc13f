import ArgumentParser
import Foundation
import Synchronization
import TesseraKernels
import TesseraModel
import TesseraTokenizer
import TesseraTraining

/// `tessera train`: a PEFT adapter from a JSONL file, on the frozen quantized base (DESIGN 1, inside the trainer).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a PEFT adapter on the frozen quantized base.",
        discussion: """
            Defaults follow the PEFT/TRL LoRA recipe (rank 16, alpha 32, all linear projections, learning rate 2e-4, \
            cosine schedule with 3% warmup, AdamW, gradient clipping at 1.0), so `tessera train --method sft --data F \
            --output D` works as it is. With --json, stdout carries one JSON object per line: one per optimizer step \
            (step, loss, learning_rate, grad_norm, tokens, tokens_per_s), validation events and a final summary.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: """
        sft (chat or prompt/completion rows), pretrain ({"text"} rows), dpo (preference pairs), distill (chat rows and \
        a teacher), reward (preference pairs: a reward model, LoRA and a score head), rlhf (prompts and a reward) or \
        constitutional (prompts and a constitution).
        """)
    var method: String = "sft"
    @Option(help: "DPO's beta: how far the policy may move from the reference.") var beta: Double = 0.1
    @Option(help: "DPO's reference: base (the adapter off) or init (the --init-adapter, frozen).")
    var reference: String = "base"
    @Option(help: "Training data, JSONL.") var data: String
    @Option(help: "Validation data, JSONL (same format).") var validationData: String?
    @Option(help: "Where the PEFT adapter directory is written at the end (atomically).") var output: String
    @Option(help: "Start from this PEFT adapter; its config fixes kind, rank, alpha and targets.") var initAdapter: String?
    @Option(help: "lora, dora, prompt, p-tuning or prefix.") var adapterType: String = "lora"
    @Option(help: "Virtual tokens of prompt, P- and prefix tuning.") var numVirtualTokens: Int = 20
    @Option(help: "Hidden width of P-tuning's MLP encoder or prefix tuning's projection (default: PEFT's, the token width).")
    var encoderHiddenSize: Int?
    @Flag(help: "Prefix tuning through a two-layer projection (PEFT's prefix_projection).") var prefixProjection = false
    @Option(help: "Start prompt tuning from this text's token embeddings.") var promptInit: String?
    @Option(help: "Without --prompt-init: random (N(0,1), PEFT's default) or vocab (sampled token embeddings).")
    var promptInitMethod: String = "vocab"
    @Option(help: "LoRA rank.") var rank: Int = 16
    @Option(help: "LoRA alpha.") var alpha: Double = 32
    @Option(help: "Comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, or all-linear.")
    var targetModules: String = "all-linear"
    @Flag(help: "Scale by alpha/sqrt(rank) instead of alpha/rank.") var useRslora = false
    @Option(help: "LoRA dropout on the adapter's input.") var dropout: Double = 0
    @Option(help: "Number of epochs.") var epochs: Int = 3
    @Option(help: "Optimizer steps to take (instead of --epochs).") var maxSteps: Int?
    @Option(help: "Sequences per micro-batch.") var batchSize: Int = 8
    @Option(help: "Micro-batches per optimizer step.") var gradientAccumulationSteps: Int = 1
    @Option(help: "Peak learning rate.") var learningRate: Double = 2e-4
    @Option(help: "constant, linear or cosine.") var lrScheduler: String = "cosine"
    @Option(help: "Share of the steps spent warming up from 0.") var warmupRatio: Double = 0.03
    @Option(help: "Weight decay.") var weightDecay: Double = 0
    @Option(help: "adamw or sgd.") var optimizer: String = "adamw"
    @Option(help: "Clip the gradients' global norm to this (0: off).") var maxGradNorm: Double = 1
    @Option(help: "Longer rows are cut (split with --packing).") var maxLength: Int = 1024
    @Flag(help: "Join pretraining rows into sequences of --max-length.") var packing = false
    @Option(help: "Seed of shuffling and initialization.") var seed: UInt64 = 42
    @Option(help: "Validation loss every this many steps.") var evalSteps: Int = 50
    @Option(help: "A checkpoint every this many steps (0: none; Ctrl-C always writes one).") var checkpointEvery: Int = 0
    @Option(help: "Where checkpoints go (default: OUTPUT.checkpoints), as step-N directories.") var checkpointDir: String?
    @Option(help: "Continue from this checkpoint directory (same data and settings).") var resume: String?
    @Option(help: """
        Forward products with the base: auto (int16 activations against its quantized blocks at AVX-512, else fp32), \
        int16, or fp32 (dequantized tiles, the reference). Backward products, adapter, \
        gradients and optimizer are fp32 always.
        """)
    var precision: String = "auto"
    @Option(help: "auto (recompute layers in backward when a batch's activations would pass 4 GiB), on or off.")
    var gradientCheckpointing: String = "auto"
    @Option(help: "Compute threads (default: the machine's cores).") var threads: Int?
    @Flag(help: "One JSON object per line on stdout.") var json = false
    @Flag(help: "Run at the lowest CPU priority (SCHED_IDLE, else nice 19), as the server runs its fine-tuning jobs.")
    var idlePriority = false
    @Flag(help: "Exit when stdin closes (the server's end of the pipe: no trainer outlives its server).")
    var exitOnStdinEof = false
    @OptionGroup(title: "Distillation and generation") var distill: DistillOptions
    @OptionGroup(title: "RLHF") var rl: RLOptions
    @Option(help: "Constitutional AI: a JSON list of {\"critique\": ..., \"revision\": ...} requests.") var constitution: String?
    @Option(help: "Constitutional AI: what trains on the revisions, in order: sft, dpo or sft,dpo.") var stages: String = "sft,dpo"

    func validate() throws {
        guard TrainingData.Method(rawValue: method) != nil || ["dpo", "distill", "reward", "rlhf", "constitutional"].contains(method) else {
            throw ValidationError("--method must be sft, pretrain, dpo, distill, reward, rlhf or constitutional")
        }
        guard (method == "constitutional") == (constitution != nil) else {
            throw ValidationError("--constitution is what --method constitutional needs, and only it")
        }
        if method == "constitutional" {
            let parts = stages.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !parts.isEmpty, parts.allSatisfy({ ["sft", "dpo"].contains($0) }), Set(parts).count == parts.count else {
                throw ValidationError("--stages must be sft, dpo or sft,dpo")
            }
            guard resume == nil, validationData == nil else {
                throw ValidationError("--method constitutional generates its data: no --resume or --validation-data")
            }
        }
        try rl.validate(method: method)
        guard method != "reward" || ["lora", "dora"].contains(adapterType) else {
            throw ValidationError("--method reward trains a LoRA (or DoRA) with a score head: --adapter-type must be lora or dora")
        }
        try distill.validate(method: method)
        guard beta > 0, beta.isFinite else { throw ValidationError("--beta must be positive") }
        guard ["base", "init"].contains(reference) else { throw ValidationError("--reference must be base or init") }
        guard reference == "base" || (["dpo", "rlhf"].contains(method) && initAdapter != nil) else {
            throw ValidationError("--reference init needs --method dpo or rlhf and --init-adapter (the adapter to keep as the reference)")
        }
        guard !packing || method == "pretrain" else { throw ValidationError("--packing is for --method pretrain") }
        guard ["lora", "dora", "prompt", "p-tuning", "prefix"].contains(adapterType) else {
            throw ValidationError("--adapter-type must be lora, dora, prompt, p-tuning or prefix")
        }
        guard encoderHiddenSize.map({ (1...16384).contains($0) }) ?? true else {
            throw ValidationError("--encoder-hidden-size must be in 1...16384")
        }
        guard promptInit == nil || adapterType == "prompt" else { throw ValidationError("--prompt-init is for --adapter-type prompt") }
        guard !prefixProjection || adapterType == "prefix" else { throw ValidationError("--prefix-projection is for --adapter-type prefix") }
        guard adapterType != "dora" || dropout == 0 else {
            throw ValidationError("--dropout with DoRA is not supported yet (PEFT then recomputes the base output on the dropped input)")
        }
        guard ["random", "vocab"].contains(promptInitMethod) else { throw ValidationError("--prompt-init-method must be random or vocab") }
        guard (1...512).contains(numVirtualTokens) else { throw ValidationError("--num-virtual-tokens must be in 1...512") }
        guard Optimizer.Kind(rawValue: optimizer) != nil else { throw ValidationError("--optimizer must be adamw or sgd") }
        guard LearningRateSchedule.Kind(rawValue: lrScheduler) != nil else {
            throw ValidationError("--lr-scheduler must be constant, linear or cosine")
        }
        guard rank > 0, alpha > 0 else { throw ValidationError("--rank and --alpha must be positive") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be in [0, 1)") }
        guard initAdapter == nil || resume == nil || reference == "init" else {
            throw ValidationError("--init-adapter and --resume exclude each other (but for --reference init, where it is the reference)")
        }
        guard precision == "auto" || TrainingPrecision(rawValue: precision) != nil else {
            throw ValidationError(precision == "bf16"
                ? "--precision bf16 is not implemented: auto already runs the base's products on integer kernels with int16 activations (finer than bf16's 8-bit mantissa)"
                : "--precision must be auto, int16 or fp32")
        }
        guard precision != "int16" || CPULevel.selected != .generic else {
            throw ValidationError("--precision int16 needs the avx2 or avx512 kernels (TESSERA_CPU is generic here)")
        }
        guard ["auto", "on", "off"].contains(gradientCheckpointing) else {
            throw ValidationError("--gradient-checkpointing must be auto, on or off")
        }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must not be negative") }
        guard batchSize > 0, gradientAccumulationSteps > 0, epochs > 0, maxLength > 1, evalSteps > 0 else {
            throw ValidationError("--batch-size, --gradient-accumulation-steps, --epochs and --eval-steps must be positive, --max-length above 1")
        }
        guard maxSteps.map({ $0 > 0 }) ?? true else { throw ValidationError("--max-steps must be positive") }
        guard learningRate >= 0, weightDecay >= 0, maxGradNorm >= 0, (0...1).contains(warmupRatio) else {
            throw ValidationError("--learning-rate, --weight-decay and --max-grad-norm must not be negative, --warmup-ratio in 0...1")
        }
    }

    func targets() throws -> [Projection] {
        if targetModules == "all-linear" { return Projection.allCases }
        return try targetModules.split(separator: ",").map { name in
            let n = name.trimmingCharacters(in: .whitespaces)
            guard let p = Projection(peftName: n) else {
                throw ValidationError("--target-modules: '\(n)' is not one of \(Projection.allCases.map(\.description).joined(separator: ", ")) or all-linear")
            }
            return p
        }
    }

    func run() throws {
        if idlePriority { TrainerChild.lowerPriority() }
        if exitOnStdinEof { TrainerChild.exitWhenStdinCloses() }
        let gguf = try model.open()
        let (decoder, tokenizer) = try runOrExit { () throws -> (DecoderModel, Tokenizer) in
            (try ModelRegistry.load(gguf, repack: false), try Tokenizer(gguf: gguf))
        }
        let base = decoder.weights
        TrainingThreads.set(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let template = try model.template(for: tokenizer)
        let reader = try runOrExit { try TrainingData(tokenizer: tokenizer, template: template) }
        guard maxLength <= base.config.contextLength else {
            throw ValidationError("--max-length \(maxLength) is past the model's context of \(base.config.contextLength)")
        }
        let out = TrainingOutput(json: json)
        // Every file is read and checked before anything trains.
        var examples: [TrainingExample] = [], validation: [TrainingExample] = []
        var pairs: [PreferencePair] = [], validationPairs: [PreferencePair] = []
        var distillation: [DistillationRow] = [], validationDistillation: [DistillationRow] = []
        if let kind = TrainingData.Method(rawValue: method) {
            examples = try runOrExit { try reader.load(data, method: kind, maxLength: maxLength, packing: packing, skipped: out.skipped) }
            validation = try validationData.map { path in
                try runOrExit { try reader.load(path, method: kind, maxLength: maxLength, packing: packing, skipped: out.skipped) }
            } ?? []
        } else if ["rlhf", "constitutional"].contains(method) {
            // prompts: read where they are answered
        } else if method == "distill" {
            let (d, v) = try distillationRows(reader)
            distillation = d
            validationDistillation = v
        } else {
            pairs = try runOrExit { try reader.loadPreferences(data, maxLength: maxLength) }
            validationPairs = try validationData.map { path in try runOrExit { try reader.loadPreferences(path, maxLength: maxLength) } } ?? []
        }
        var lora: AdapterParameters
        let checkpoint = try resume.map { path in try runOrExit { try TrainingCheckpoint.read(path, config: base.config) } }
        if let checkpoint {
            lora = checkpoint.lora
        } else if let initAdapter {
            lora = try runOrExit { try PEFTDirectory.read(initAdapter, config: base.config) }
        } else if adapterType == "prompt" {
            let start: PromptInit = promptInit.map { .text($0) } ?? (promptInitMethod == "random" ? .random : .sampledVocabulary)
            lora = AdapterParameters(config: base.config,
                                     promptEmbeddings: start.embeddings(numVirtualTokens, base: base, tokenizer: tokenizer, seed: seed))
        } else if adapterType == "p-tuning" {
            lora = AdapterParameters(config: base.config, kind: .pTuning, virtualTokens: numVirtualTokens,
                                     encoderHidden: encoderHiddenSize ?? base.config.hidden, seed: seed)
        } else if adapterType == "prefix" {
            let keyWidth = base.config.kvHeads * base.config.headDim
            lora = AdapterParameters(config: base.config, kind: .prefix, virtualTokens: numVirtualTokens,
                                     encoderHidden: prefixProjection ? encoderHiddenSize ?? keyWidth : 0, seed: seed)
        } else {
            var options = LoRAOptions()
            options.rank = rank
            options.alpha = Float(alpha)
            options.rsLoRA = useRslora
            options.dropout = Float(dropout)
            options.dora = adapterType == "dora"
            options.targets = try targets().sorted { $0.rawValue < $1.rawValue }
            lora = AdapterParameters(config: base.config, options: options, seed: seed)
            lora.startMagnitudes(base: base)
        }
        if method == "rlhf", rl.rlAlgorithm == "ppo", !lora.hasValueHead {
            guard lora.kind == .lora else { throw CLIError("--rl-algorithm ppo puts a value head on the policy: the adapter must be a LoRA") }
            lora.addValueHead()
        }
        if method == "reward", checkpoint == nil, !lora.hasScoreHead {
            guard lora.kind == .lora else { throw CLIError("--method reward: the --init-adapter must be a LoRA") }
            lora.addScoreHead(seed: seed)
        }
        var settings = Trainer.Settings()
        settings.epochs = epochs
        settings.maxSteps = maxSteps
        settings.batchSize = batchSize
        settings.gradientAccumulation = gradientAccumulationSteps
        settings.learningRate = Float(learningRate)
        settings.schedule = LearningRateSchedule.Kind(rawValue: lrScheduler)!
        settings.warmupRatio = warmupRatio
        settings.optimizer = Optimizer.Kind(rawValue: optimizer)!
        settings.weightDecay = Float(weightDecay)
        settings.maxGradNorm = Float(maxGradNorm)
        settings.seed = seed
        settings.evaluateEvery = evalSteps
        settings.checkpointEvery = checkpointEvery
        settings.gradientCheckpointing = gradientCheckpointing == "auto" ? nil : gradientCheckpointing == "on"
        settings.precision = TrainingPrecision(rawValue: precision) ?? .auto
        settings.threads = threads
        var trainer = checkpoint.map { Trainer(base: base, resuming: $0, settings: settings) }
            ?? Trainer(base: base, lora: lora, settings: settings)
        if !["distill", "rlhf", "constitutional"].contains(method) {  // these generate first: they announce themselves
            out.start(trainer, examples + pairs.flatMap { [$0.chosen, $0.rejected] }, items: examples.count + pairs.count)
        }
        let stop = StopSignal()
        let started = Date()
        let baseName = base.config.name.isEmpty ? (model.path as NSString).lastPathComponent : base.config.name
        let checkpoints = checkpointDir ?? output + ".checkpoints"
        func save(_ t: Trainer) throws {
            let path = (checkpoints as NSString).appendingPathComponent("step-\(t.completedSteps)")
            try runOrExit {
                try TrainingCheckpoint(lora: t.lora, optimizer: t.optimizer, step: t.completedSteps).write(to: path, baseModel: baseName)
            }
            out.checkpoint(step: t.completedSteps, path: path)
        }
        let finished: Bool
        if method == "distill" {
            finished = try runOrExit {
                try trainDistillation(&trainer, decoder: decoder, tokenizer: tokenizer, reader: reader, rows: distillation,
                                      validation: validationDistillation, out: out, save: save, stop: stop)
            }
        } else if method == "constitutional" {
            finished = try runOrExit {
                try trainConstitutional(&trainer, decoder: decoder, tokenizer: tokenizer, reader: reader, out: out, save: save, stop: stop)
            }
        } else if method == "rlhf" {
            finished = try runOrExit {
                try trainRLHF(&trainer, decoder: decoder, tokenizer: tokenizer, reader: reader, out: out, save: save, stop: stop)
            }
        } else if method == "reward" {
            finished = try trainer.train(RewardObjective(), pairs, validation: validationPairs, events: out.event, checkpoint: save,
                                         shouldStop: stop.requested)
        } else if pairs.isEmpty {
            finished = try trainer.train(examples, validation: validation, events: out.event, checkpoint: save,
                                         shouldStop: stop.requested)
        } else {
            // The reference's log-likelihoods, once per pair: the base (adapter off) or the starting adapter.
            let frozen = try reference == "init" ? initAdapter.map { path in
                try runOrExit { try PEFTDirectory.read(path, config: base.config) }
            } : nil
            finished = try trainer.train(DPOObjective(beta: beta), trainer.referenced(pairs, reference: frozen),
                                         validation: trainer.referenced(validationPairs, reference: frozen),
                                         events: out.event, checkpoint: save, shouldStop: stop.requested)
        }
        if finished {
            // PPO's value head stays out of the policy's adapter (checkpoints keep it).
            try runOrExit { try PEFTDirectory.write(trainer.lora.withoutValueHead, to: output, baseModel: baseName) }
        } else {
            try save(trainer)  // stopped: the run so far, to --resume from; no adapter at --output
        }
        out.finish(steps: trainer.completedSteps, stopped: !finished, output: finished ? output : nil,
                   seconds: Date().timeIntervalSince(started))
    }
}

/// SIGINT and SIGTERM ask the loop to stop after the current step (a checkpoint of it is then written).
final class StopSignal: Sendable {
    private static let flag = Atomic<Bool>(false)

    init() {
        for s in [SIGINT, SIGTERM] { signal(s) { _ in StopSignal.flag.store(true, ordering: .relaxed) } }
    }

    func requested() -> Bool { Self.flag.load(ordering: .relaxed) }
}

/// Progress on the terminal, or JSON lines with --json.
struct TrainingOutput {
    let json: Bool
    /// Progress as a bar redrawn in place when stdout is a terminal, else a line per step.
    let terminal = isatty(STDOUT_FILENO) != 0

    private func line(_ object: [String: Any]) {
        // Unbuffered: the server reads these lines as they come (DESIGN 1, training flow).
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
    }

    /// The run's size: `items` (examples or pairs) made of `sequences`.
    func start(_ trainer: Trainer, _ sequences: [TrainingExample], items: Int) {
        start(examples: items, tokens: sequences.reduce(0) { $0 + $1.tokens.count },
              trained: sequences.reduce(0) { $0 + $1.trainedTokens }, parameters: trainer.lora.parameterCount,
              steps: trainer.totalSteps(examples: items))
    }

    func start(examples: Int, tokens: Int, trained: Int, parameters: Int, steps: Int) {
        if json {
            line(["event": "start", "examples": examples, "tokens": tokens, "trained_tokens": trained,
                  "trainable_parameters": parameters, "total_steps": steps])
        } else {
            print("\(examples) examples, \(tokens) tokens (\(trained) trained), \(parameters) trainable parameters, \(steps) steps")
        }
    }

    func event(_ e: Trainer.Event) {
        switch e {
        case let .step(step, total, loss, rate, norm, tokens, speed, metrics):
            if json {
                var fields: [String: Any] = ["event": "step", "step": step, "total_steps": total, "loss": loss,
                                             "learning_rate": Double(rate), "grad_norm": norm, "tokens": tokens,
                                             "tokens_per_s": speed]
                for (name, value) in metrics { fields[name] = value }
                line(fields)
            } else {
                let eta = Double(total - step) * Double(tokens) / max(speed, 1e-9)
                let extra = metrics.keys.sorted().map { String(format: "  %@ %.3f", $0, metrics[$0]!) }.joined()
                let text = String(format: "step %d/%d  loss %.4f  lr %.2e  grad norm %.3f%@  %.0f tok/s  ETA %.0f s",
                                  step, total, loss, rate, norm, extra, speed, eta)
                guard terminal else { return print(text) }
                // One line redrawn in place: a bar, then the step's figures.
                let filled = 30 * step / max(total, 1)
                let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: 30 - filled)
                FileHandle.standardOutput.write(Data("\r[\(bar)] \(text)\u{1B}[K\(step == total ? "\n" : "")".utf8))
            }
        case let .validation(step, loss, metrics):
            if json {
                var fields: [String: Any] = ["event": "validation", "step": step, "loss": loss]
                for (name, value) in metrics { fields[name] = value }
                line(fields)
            } else {
                let extra = metrics.keys.sorted().map { String(format: "  %@ %.3f", $0, metrics[$0]!) }.joined()
                print(String(format: "%@step %d  validation loss %.4f%@", terminal ? "\n" : "", step, loss, extra))
            }
        }
    }

    /// A row left out, on stderr (stdout stays one JSON object per line).
    func skipped(_ e: TrainingDataError) {
        FileHandle.standardError.write(Data("warning: \(e)\n".utf8))
    }

    func checkpoint(step: Int, path: String) {
        if json { line(["event": "checkpoint", "step": step, "path": path]) } else { print("step \(step)  checkpoint \(path)") }
    }

    func finish(steps: Int, stopped: Bool, output: String?, seconds: Double) {
        if json {
            line(["event": "done", "steps": steps, "stopped": stopped, "output": output ?? NSNull(), "seconds": seconds])
        } else if let output {
            print("done: \(steps) steps in \(Int(seconds)) s; adapter written to \(output)")
        } else {
            print("stopped after \(steps) steps (\(Int(seconds)) s); resume from the last checkpoint")
        }
    }
}
