import Foundation
import Testing
import TesseraTestSupport

/// Runs the built `tessera` executable as a user would.
@Suite struct CLITests {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var executable: URL { TestModel.executable }

    func run(_ arguments: [String], stdin: String? = nil) throws -> Output {
        let p = Process()
        p.executableURL = Self.executable
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["TESSERA_MODEL"] = TestModel.path
        p.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Two optimizer steps of a small LoRA on two chats: JSON lines with the documented fields, an adapter that
    /// `score` loads, and a bad row refused before training with the file, line and field named.
    @Test func trainWritesAnAdapterThatScoreLoads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("chats.jsonl")
        try [#"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}"#,
             #"{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}"#]
            .joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("adapter").path
        let r = try run(["train", "--data", data.path, "--output", output, "--max-steps", "2", "--batch-size", "2",
                         "--rank", "2", "--target-modules", "q_proj,v_proj", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let events = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let steps = events.filter { $0["event"] as? String == "step" }
        #expect(steps.count == 2)
        for key in ["step", "loss", "learning_rate", "grad_norm", "tokens", "tokens_per_s"] {
            #expect(steps.allSatisfy { $0[key] is NSNumber }, "\(key)")
        }
        #expect(events.last?["event"] as? String == "done")
        let scored = try run(["score", "--json", "--adapter", output, "--text", "Hello there"])
        #expect(scored.status == 0, "\(scored.stderr)")

        try #"{"messages": [{"role": "robot", "content": "x"}]}"#.write(to: data, atomically: true, encoding: .utf8)
        let bad = try run(["train", "--data", data.path, "--output", output + "-bad"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("chats.jsonl:1: 'messages[0].role'"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output + "-bad"))
    }

    /// Every other adapter kind trains from the command line and what it writes serves.
    @Test(arguments: [["--adapter-type", "dora", "--rank", "2", "--target-modules", "o_proj"],
                      ["--adapter-type", "prompt", "--num-virtual-tokens", "3"],
                      ["--adapter-type", "p-tuning", "--num-virtual-tokens", "2", "--encoder-hidden-size", "8"],
                      ["--adapter-type", "prefix", "--num-virtual-tokens", "2"],
                      ["--adapter-type", "prefix", "--num-virtual-tokens", "2", "--prefix-projection"]])
    func trainsEveryAdapterKind(flags: [String]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-kinds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("text.jsonl")
        try #"{"text": "The quick brown fox jumps over the lazy dog."}"#.write(to: data, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("adapter").path
        let r = try run(["train", "--method", "pretrain", "--data", data.path, "--output", output, "--max-steps", "1"] + flags)
        #expect(r.status == 0, "\(r.stderr)")
        let scored = try run(["score", "--json", "--adapter", output, "--text", "Hello there"])
        #expect(scored.status == 0, "\(scored.stderr)")
    }

    /// DPO from the command line: a fresh LoRA starts at ln 2 with the rewards in its step lines; a second run
    /// continues from that adapter as its own reference (`--reference init`), and a pair missing its rejected
    /// answer is refused by line and field.
    @Test func dpoTrainsFromPreferencePairs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-dpo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("pairs.jsonl")
        try [#"{"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}"#,
             #"{"input": {"messages": [{"role": "user", "content": "Hi"}]}, "preferred_output": [{"role": "assistant", "content": "Hello!"}], "non_preferred_output": [{"role": "assistant", "content": "Go away."}]}"#]
            .joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("adapter").path
        let common = ["--method", "dpo", "--data", data.path, "--max-steps", "2", "--batch-size", "2", "--rank", "2",
                      "--target-modules", "q_proj,v_proj", "--warmup-ratio", "0", "--learning-rate", "1e-3", "--json"]
        let r = try run(["train", "--output", output] + common)
        #expect(r.status == 0, "\(r.stderr)")
        let steps = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["event"] as? String == "step" }
        #expect(steps.count == 2)
        #expect(abs((steps.first?["loss"] as? Double ?? 0) - log(2)) < 1e-6)
        for key in ["rewards_chosen", "rewards_rejected", "rewards_margin", "rewards_accuracy"] {
            #expect(steps.allSatisfy { $0[key] is NSNumber }, "\(key)")
        }
        let again = try run(["train", "--output", output + "-2", "--init-adapter", output, "--reference", "init"] + common)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains(#""loss":0.69314718"#), "its reference is where it starts: ln 2 again")

        try #"{"prompt": "a", "chosen": "b"}"#.write(to: data, atomically: true, encoding: .utf8)
        let bad = try run(["train", "--output", output + "-bad"] + common)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("pairs.jsonl:1: 'rejected': missing"), "\(bad.stderr)")
    }

    /// RLHF with a reward program: GRPO, then RLOO and PPO with two optimizer steps on one batch of rollouts; the metrics
    /// of every step, the base's held-out reward at step 0; a program that answers nonsense stops the run clearly.
    @Test func rlhfTrainsFromARewardCommand() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-rlhf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("prompts.jsonl")
        try [#"{"messages": [{"role": "user", "content": "Say hello."}]}"#, #"{"prompt": "Cheer for a team:"}"#]
            .joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let reward = dir.appendingPathComponent("reward.py")
        try """
            import json, sys
            for line in sys.stdin:
                print(json.dumps({"reward": float(json.loads(line)["completion"].count("!"))}), flush=True)
            """.write(to: reward, atomically: true, encoding: .utf8)
        let common = ["--method", "rlhf", "--data", data.path, "--validation-data", data.path, "--batch-size", "2",
                      "--num-generations", "2", "--max-new-tokens", "8", "--rank", "2", "--target-modules", "q_proj,v_proj", "--json"]
        for (algorithm, steps) in [("grpo", "1"), ("rloo", "2"), ("ppo", "2")] {
            let r = try run(["train", "--output", dir.appendingPathComponent(algorithm).path, "--rl-algorithm", algorithm,
                             "--max-steps", steps, "--ppo-epochs", steps, "--kl-target", "1",
                             "--reward-command", "python3 \(reward.path)"] + common)
            #expect(r.status == 0, "\(r.stderr)")
            let lines = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let stepLines = lines.filter { $0["event"] as? String == "step" }
            #expect(stepLines.count == Int(steps)!)
            for key in ["reward", "kl", "entropy", "clip_fraction"] { #expect(stepLines.allSatisfy { $0[key] is NSNumber }, "\(key)") }
            #expect(lines.contains { $0["event"] as? String == "validation" && $0["step"] as? Int == 0 && $0["reward"] is NSNumber })
            if algorithm == "ppo" {
                #expect(stepLines.allSatisfy { $0["value_loss"] is NSNumber })
                let saved = try Data(contentsOf: dir.appendingPathComponent("ppo/adapter_model.safetensors"))
                #expect(saved.range(of: Data("v_head".utf8)) == nil, "the value head stays out of the policy's adapter")
            }
        }
        let bad = try run(["train", "--output", dir.appendingPathComponent("bad").path, "--max-steps", "1",
                           "--reward-command", "echo nonsense"] + common)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("answered 'nonsense'"), "\(bad.stderr)")
    }

    /// Constitutional AI: the dataset of first answers, critiques and revisions beside the output, then SFT and DPO
    /// stages into one adapter; a constitution without revisions is refused.
    @Test func constitutionalWritesItsDatasetAndAnAdapter() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-cai-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("prompts.jsonl"), constitution = dir.appendingPathComponent("constitution.json")
        try [#"{"messages": [{"role": "user", "content": "How do I boil an egg?"}]}"#, #"{"prompt": "Tell me a joke about cats."}"#]
            .joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        try #"[{"critique": "What is unhelpful in your answer?", "revision": "Rewrite it to be more helpful."}]"#
            .write(to: constitution, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("adapter").path
        let common = ["train", "--method", "constitutional", "--data", data.path, "--output", output, "--max-steps", "1",
                      "--batch-size", "2", "--max-new-tokens", "8", "--rank", "2", "--target-modules", "q_proj,v_proj", "--json"]
        let r = try run(common + ["--constitution", constitution.path])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try String(contentsOfFile: output + ".constitutional.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 2)
        for row in rows {
            let object = try JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any]
            #expect(["initial", "critique", "revision"].allSatisfy { object?[$0] is String }, "\(row)")
        }
        #expect(r.stdout.split(separator: "\n").filter { $0.contains(#""event":"start""#) }.count == 2, "two stages")
        #expect(r.stdout.contains("rewards_margin"), "the DPO stage ran")
        #expect(FileManager.default.fileExists(atPath: output + "/adapter_model.safetensors"))
        try #"[{"critique": "What is wrong?"}]"#.write(to: constitution, atomically: true, encoding: .utf8)
        let bad = try run(common + ["--constitution", constitution.path])
        #expect(bad.status == 1 && bad.stderr.contains("constitution.json:0: '[0].revision'"), "\(bad.stderr)")
    }

    /// A reward model from preference pairs, written as PEFT's SEQ_CLS adapter, scores a conversation.
    @Test func rewardModelTrainsAndScores() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-reward-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("pairs.jsonl")
        try [#"{"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}"#,
             #"{"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello!"}], "rejected": [{"role": "assistant", "content": "Go away."}]}"#]
            .joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let output = dir.appendingPathComponent("reward").path
        let r = try run(["train", "--method", "reward", "--data", data.path, "--validation-data", data.path, "--output", output,
                         "--max-steps", "2", "--batch-size", "2", "--rank", "2", "--target-modules", "q_proj,v_proj", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(#""event":"validation""#) && r.stdout.contains(#""accuracy":"#), "\(r.stdout)")
        let config = try String(contentsOfFile: output + "/adapter_config.json", encoding: .utf8)
        #expect(config.contains(#""task_type" : "SEQ_CLS""#))
        let messages = #"[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]"#
        let score = try run(["score", "--reward-model", output, "--messages", messages, "--json"])
        #expect(score.status == 0, "\(score.stderr)")
        let reward = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Double]
        #expect(reward?["reward"]?.isFinite == true, "\(score.stdout)")
        let notReward = try run(["score", "--reward-model", dir.path, "--text", "hi"])
        #expect(notReward.status == 1)
    }

    /// Context distillation (the teacher writes the answer a row lacks), then a LoRA teacher distilled into prompt
    /// tuning on-policy: both through the engine, both written as PEFT adapters.
    @Test func distillTrainsFromATeachersContextAndAdapter() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-distill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("rows.jsonl")
        try [#"{"messages": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Arr, a pear!"}]}"#,
             #"{"messages": [{"role": "user", "content": "Name a planet."}]}"#]
            .joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let lora = dir.appendingPathComponent("lora").path
        let common = ["--method", "distill", "--data", data.path, "--max-steps", "2", "--batch-size", "2", "--warmup-ratio", "0",
                      "--learning-rate", "1e-3", "--max-new-tokens", "6", "--json"]
        let r = try run(["train", "--output", lora, "--teacher-system", "You are a pirate.", "--rank", "2",
                         "--target-modules", "q_proj,v_proj", "--distill-loss", "jsd", "--temperature", "2"] + common)
        #expect(r.status == 0, "\(r.stderr)")
        let steps = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["event"] as? String == "step" }
        #expect(steps.count == 2 && steps.allSatisfy { ($0["loss"] as? Double ?? 0) > 0 })
        let prompt = dir.appendingPathComponent("prompt").path
        let onPolicy = try run(["train", "--output", prompt, "--teacher-adapter", lora, "--adapter-type", "prompt",
                                "--num-virtual-tokens", "2", "--on-policy", "--distill-ratio", "0.5"] + common)
        #expect(onPolicy.status == 0, "\(onPolicy.stderr)")
        #expect(FileManager.default.fileExists(atPath: prompt + "/adapter_model.safetensors"))

        let bad = try run(["train", "--output", dir.appendingPathComponent("bad").path] + common)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("rows.jsonl:1: the row has no teacher"), "\(bad.stderr)")
    }

    @Test func tokenizePrintsIds() throws {
        let r = try run(["tokenize", "--json", "Hello world<|im_end|>"])
        #expect(r.status == 0)
        #expect(r.stdout == "[19556,905,2]\n")
    }

    @Test func tokenizeReadsJSONLines() throws {
        let r = try run(["tokenize", "--jsonl"], stdin: "\"Hello\"\n\"  7\"\n")
        #expect(r.status == 0)
        #expect(r.stdout == "[19556]\n[256,39]\n")
    }

    /// Any GGUF's tokenizer, vocab-only files too (llama.cpp's suite, by scripts/fetch-vocab).
    @Test func tokenizeWorksOnVocabOnlyFiles() throws {
        let vocab = TestModel.repositoryRoot.appendingPathComponent("models/vocab/ggml-vocab-llama-bpe.gguf").path
        let r = try run(["tokenize", "--model", vocab, "--json", "--add-special", "Hello world<|eot_id|>"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "[128000,9906,1917,128009]\n")
        let plain = try run(["tokenize", "--model", vocab, "--json", "--no-parse-special", "<|eot_id|>"])
        #expect(plain.status == 0 && !plain.stdout.contains("128009"), "\(plain.stdout)")
        let bert = try run(["tokenize", "--model", TestModel.repositoryRoot.appendingPathComponent("models/vocab/ggml-vocab-bert-bge.gguf").path, "x"])
        #expect(bert.status == 1 && bert.stderr.contains("tokenizer model 'bert' is not supported"), "\(bert.stderr)")
    }

    @Test func templateRenderPrintsTheConversation() throws {
        let dir = TestModel.repositoryRoot.appendingPathComponent("models/vocab")
        let input = #"{"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true, "date_string": "01 Jan 2025"}"#
        let r = try run(["template", "render", "--model", dir.appendingPathComponent("ggml-vocab-llama-bpe.gguf").path,
                         "--template", dir.appendingPathComponent("templates/meta-llama-Llama-3.1-8B-Instruct.jinja").path, "--input", "-"],
                        stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            + "Today Date: 01 Jan 2025\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n")
        // The default model's own template when no --template is given.
        let own = try run(["template", "render", "--model", TestModel.path, "--input", #"{"messages": [{"role": "user", "content": "Hi"}]}"#])
        #expect(own.status == 0 && own.stdout.contains("<|im_start|>user\nHi<|im_end|>"), "\(own.stdout)\(own.stderr)")
    }

    /// A template the engine cannot run is refused when the model loads, naming what and where.
    @Test func unusableChatTemplateFailsAtLoad() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bad-\(UUID().uuidString).jinja")
        try "{% for m in messages %}{{ m.content | shout }}{% endfor %}".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try run(["generate", "--chat", "--chat-template", file.path, "--max-tokens", "1", "Hi"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot be used") && r.stderr.contains("shout"), "\(r.stderr)")
    }

    @Test func scorePrintsOneLogprobPerPredictedToken() throws {
        let r = try run(["score", "--json", "--text", "The capital of France is Paris."])
        #expect(r.status == 0, "\(r.stderr)")
        struct Score: Decodable { let tokens: [Int]; let logprobs: [Double]; let perplexity: Double }
        let s = try JSONDecoder().decode(Score.self, from: Data(r.stdout.utf8))
        #expect(s.logprobs.count == s.tokens.count - 1)
        #expect(s.logprobs.allSatisfy { $0 <= 0 })
        #expect(s.perplexity > 1)
    }

    /// `score --adapter` prints what the adapter parity test checks; a composed pair and a refused adapter too.
    @Test func scoreTakesAdapters() throws {
        let fixtures = TestModel.repositoryRoot.appendingPathComponent("Tests/TesseraAdaptersTests/Fixtures").path
        struct Score: Decodable { let logprobs: [Double] }
        func logprobs(_ extra: [String]) throws -> [Double] {
            let r = try run(["score", "--json", "--text", "The capital of France is Paris."] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try JSONDecoder().decode(Score.self, from: Data(r.stdout.utf8)).logprobs
        }
        let base = try logprobs([])
        let lora = try logprobs(["--adapter", fixtures + "/lora"])
        let prefix = try logprobs(["--adapter", fixtures + "/prefix_tuning"])
        let composed = try logprobs(["--adapter", fixtures + "/lora:0.5", "--adapter", fixtures + "/lora_patterns:0.5"])
        #expect(lora.count == base.count && prefix.count == base.count && composed.count == base.count)
        #expect(lora != base && prefix != base && composed != lora)
        let refused = try run(["score", "--text", "Hi there", "--adapter", fixtures + "/dora", "--adapter", fixtures + "/lora"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("only LoRA adapters compose"), "\(refused.stderr)")
        let missing = try run(["score", "--text", "Hi there", "--adapter", "/nonexistent"])
        #expect(missing.status == 1 && missing.stderr.contains("/nonexistent: no adapter_config.json"), "\(missing.stderr)")
    }

    @Test func chatAnswersSensibly() throws {
        let r = try run(["generate", "--chat", "--temperature", "0", "--max-tokens", "24", "What is the capital of France?"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Paris"), "\(r.stdout)")
    }

    @Test func seededSamplingIsReproducible() throws {
        let args = ["generate", "--temperature", "1.0", "--seed", "11", "--max-tokens", "12", "Once upon a time"]
        let a = try run(args), b = try run(args)
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout == b.stdout)
        #expect(!a.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    @Test func brokenModelFilesGiveOneLineAndExitOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Data(contentsOf: URL(fileURLWithPath: TestModel.path), options: .alwaysMapped)
        let cases: [(String, Data)] = [
            ("empty", Data()),
            ("text", Data("not a model".utf8)),
            ("header-only", original.prefix(24)),
            ("truncated-metadata", original.prefix(100_000)),
            ("truncated-tensors", original.prefix(original.count / 2)),
        ]
        for (name, bytes) in cases {
            let path = dir.appendingPathComponent("\(name).gguf").path
            try bytes.write(to: URL(fileURLWithPath: path))
            for command in [["tokenize", "x"], ["score", "--text", "a b"], ["generate", "--max-tokens", "1", "x"]] {
                let r = try run(command + ["--model", path])
                #expect(r.status == 1, "\(name) \(command[0]): status \(r.status)")
                let lines = r.stderr.split(separator: "\n")
                #expect(lines.count == 1, "\(name) \(command[0]): \(r.stderr)")
                #expect(r.stderr.contains(path) || r.stderr.contains("empty"), "\(r.stderr)")
            }
        }
        let missing = try run(["tokenize", "x", "--model", dir.appendingPathComponent("absent.gguf").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot open"))
    }
}
