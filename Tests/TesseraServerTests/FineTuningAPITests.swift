import Foundation
import Synchronization
import Hummingbird
import HummingbirdTesting
import Testing
import TesseraServer
import TesseraTestSupport

/// The files and fine-tuning jobs APIs in-process, with the built `tessera train` as the trainer child on tiny runs:
/// a job's whole life, cancel, a stop and a crash in the middle of one, what another tenant sees, bad files and
/// bad requests.
@Suite(.serialized) struct FineTuningAPITests {
    static let base = "smollm2-test"

    static func sums(_ n: Int, seed: Int = 1) -> Data {
        var rows = "", x = seed
        for _ in 0..<n {
            x = (x * 1103515245 + 12345) % 2147483648
            let a = 10 + x % 90, b = 10 + (x / 90) % 90
            rows += #"{"messages": [{"role": "user", "content": "What is \#(a) plus \#(b)?"}, {"role": "assistant", "content": "ANSWER: \#(a + b)"}]}"# + "\n"
        }
        return Data(rows.utf8)
    }

    static let preferences = Data((0..<4).map { i in
        #"{"input": {"messages": [{"role": "user", "content": "Say \#(i)"}]}, "preferred_output": [{"role": "assistant", "content": "[\#(i)]"}], "non_preferred_output": [{"role": "assistant", "content": "\#(i)"}]}"#
    }.joined(separator: "\n").utf8)

    /// Small and quick: a rank-4 LoRA on two projections, short rows.
    static func configure(_ c: inout TrainingJobs.Configuration) {
        c.extraArguments = ["--max-length", "64", "--max-new-tokens", "6"]
        c.maxFileBytes = 64 << 10
        c.maxTenantFileBytes = 256 << 10
    }

    static let adapter = #""adapter": {"type": "lora", "rank": 4, "target_modules": ["q_proj", "v_proj"]}"#

    static func uploadFile(_ h: ServerTests.Harness, _ data: Data, key: String? = nil) async throws -> String {
        let r = try await h.upload([("purpose", Data("fine-tune".utf8)), ("file", data)], key: key, to: "/v1/files")
        #expect(r.status == .ok, "\(String(buffer: r.body))")
        return ServerTests.json(r)["id"] as? String ?? ""
    }

    static func job(_ h: ServerTests.Harness, _ id: String, key: String? = nil) async throws -> [String: Any] {
        ServerTests.json(try await h.get("/v1/fine_tuning/jobs/\(id)", key: key))
    }

    /// Polls until the job reaches one of `statuses` (or `until` holds of it); a few minutes at most.
    static func wait(_ h: ServerTests.Harness, _ id: String, for statuses: Set<String> = ["succeeded", "failed", "cancelled"],
                     until: (([String: Any]) -> Bool)? = nil) async throws -> [String: Any] {
        for _ in 0..<3000 {
            let j = try await job(h, id)
            if statuses.contains(j["status"] as? String ?? "") || (until?(j) ?? false) { return j }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("job \(id) never reached \(statuses)")
        return try await job(h, id)
    }

    static func events(_ h: ServerTests.Harness, _ id: String) async throws -> [[String: Any]] {
        ServerTests.json(try await h.get("/v1/fine_tuning/jobs/\(id)/events?limit=1000"))["data"] as? [[String: Any]] ?? []
    }

    static func modelIDs(_ h: ServerTests.Harness, key: String? = nil) async throws -> [String] {
        (ServerTests.json(try await h.get("/v1/models", key: key))["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    @Test func aJobTrainsAndItsModelServes() async throws {
        try await ServerTests.withServer(fineTuning: Self.configure) { h in
            let file = try await Self.uploadFile(h, Self.sums(4))
            let create = try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(file)", "suffix": "sums", "seed": 3, "metadata": {"team": "a"}, "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": "auto"}}}, \#(Self.adapter)}"#)
            let created = ServerTests.json(create)
            #expect(create.status == .ok && created["status"] as? String == "validating_files", "\(String(buffer: create.body))")
            #expect((created["hyperparameters"] as? [String: Any])?["n_epochs"] as? Int == 2 && (created["metadata"] as? [String: String]) == ["team": "a"])
            let id = created["id"] as? String ?? ""
            let done = try await Self.wait(h, id)
            let model = "ft:\(Self.base):acme:sums:\(id)"
            #expect(done["status"] as? String == "succeeded" && done["fine_tuned_model"] as? String == model, "\(done)")
            #expect((done["trained_tokens"] as? Int ?? 0) > 0 && (done["result_files"] as? [String])?.count == 1)
            let events = try await Self.events(h, id)
            let metrics = events.filter { $0["type"] as? String == "metrics" }
            #expect(metrics.count >= 4, "a metrics event per step: \(events.map { $0["message"] ?? "" })")
            #expect(((metrics.first?["data"] as? [String: Any])?["train_loss"] as? Double).map { $0.isFinite } == true)
            #expect(events.first?["message"] as? String == "New fine-tuned model created: \(model). The job has successfully completed")
            let checkpoints = ServerTests.json(try await h.get("/v1/fine_tuning/jobs/\(id)/checkpoints"))["data"] as? [[String: Any]] ?? []
            #expect(checkpoints.first?["fine_tuned_model_checkpoint"] as? String == model + ":ckpt-step-2", "\(checkpoints)")
            #expect(try await Self.modelIDs(h).contains(model))
            for name in [model, model + ":ckpt-step-2"] {
                let r = try await h.post("/v1/chat/completions", #"{"model": "\#(name)", "messages": [{"role": "user", "content": "What is 20 plus 22?"}], "max_tokens": 4}"#)
                #expect(r.status == .ok, "\(name): \(String(buffer: r.body))")
            }
            let results = try await h.get("/v1/files/\((done["result_files"] as? [String])?.first ?? "")/content")
            #expect(String(buffer: results.body).hasPrefix("step,train_loss,learning_rate,valid_loss\n1,"))
            // Another tenant: 404 for the job, its events, checkpoints, cancel, the file and the model; nothing listed.
            let o = h.otherKey
            for uri in ["/v1/fine_tuning/jobs/\(id)", "/v1/fine_tuning/jobs/\(id)/events", "/v1/fine_tuning/jobs/\(id)/checkpoints",
                        "/v1/files/\(file)", "/v1/files/\(file)/content", "/v1/models/\(model)"] {
                #expect(try await h.get(uri, key: o).status == .notFound, "\(uri)")
            }
            #expect(try await h.post("/v1/fine_tuning/jobs/\(id)/cancel", "", key: o).status == .notFound)
            #expect(try await h.delete("/v1/models/\(model)", key: o).status == .notFound)
            #expect(try await h.delete("/v1/files/\(file)", key: o).status == .notFound)
            #expect(try await h.post("/v1/completions", #"{"model": "\#(model)", "prompt": "hi"}"#, key: o).status == .notFound)
            #expect((ServerTests.json(try await h.get("/v1/fine_tuning/jobs", key: o))["data"] as? [Any])?.isEmpty == true)
            #expect((ServerTests.json(try await h.get("/v1/files", key: o))["data"] as? [Any])?.isEmpty == true)
            #expect(try await Self.modelIDs(h, key: o) == [Self.base])
            // The tenant lists its job, and deletes the model like any adapter.
            let list = ServerTests.json(try await h.get("/v1/fine_tuning/jobs?limit=1"))
            #expect((list["data"] as? [[String: Any]])?.first?["id"] as? String == id && list["has_more"] as? Bool == false)
            #expect(try await h.post("/v1/fine_tuning/jobs/\(id)/cancel", "").status == .badRequest, "an ended job cannot be cancelled")
            #expect(try await h.delete("/v1/models/\(model)").status == .ok)
            #expect(try await h.post("/v1/completions", #"{"model": "\#(model)", "prompt": "hi"}"#).status == .notFound)
        }
    }

    static func replica(_ id: String) -> (inout TrainingJobs.Configuration) -> Void {
        { c in
            configure(&c)
            c.replicaID = id
            c.heartbeatSeconds = 0.5
        }
    }

    /// Two replicas on one PostgreSQL registry and one store: a job created on one trains on exactly one of them
    /// (claimed in the registry), and its model serves on both.
    @Test func replicasShareAJobAndItsModel() async throws {
        let url = try TestPostgres.database()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-ft-replicas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try await ServerTests.withServer(fineTuning: Self.replica("a"), directory: dir, registry: { try PostgresRegistry(url: url) }) { a in
            try await ServerTests.withServer(fineTuning: Self.replica("b"), directory: dir, registry: { try PostgresRegistry(url: url) }) { b in
                let file = try await Self.uploadFile(a, Self.sums(4))
                let create = try await b.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(file)", "suffix": "shared", "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 2}}}, \#(Self.adapter)}"#)
                #expect(create.status == .ok, "\(String(buffer: create.body))")
                let id = ServerTests.json(create)["id"] as? String ?? ""
                let done = try await Self.wait(a, id)
                #expect(done["status"] as? String == "succeeded", "\(done)")
                let started = try await Self.events(b, id).filter { ($0["message"] as? String)?.hasPrefix("Fine-tuning job started") == true }
                #expect(started.count == 1)
                let model = "ft:\(Self.base):acme:shared:\(id)"
                for h in [a, b] {
                    let r = try await h.post("/v1/completions", #"{"model": "\#(model)", "prompt": "What is 12 plus 30?", "max_tokens": 2}"#)
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                }
            }
        }
    }

    @Test func dpoFromTheFineTunedModel() async throws {
        try await ServerTests.withServer(fineTuning: Self.configure) { h in
            let sft = try await Self.uploadFile(h, Self.sums(2))
            let first = ServerTests.json(try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(sft)", "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}, \#(Self.adapter)}"#))
            let model = try await Self.wait(h, first["id"] as? String ?? "")["fine_tuned_model"] as? String ?? ""
            let prefs = try await Self.uploadFile(h, Self.preferences)
            let r = try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(model)", "training_file": "\#(prefs)", "method": {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 2, "beta": 0.2}}}}"#)
            let dpo = try await Self.wait(h, ServerTests.json(r)["id"] as? String ?? "")
            #expect(dpo["status"] as? String == "succeeded", "\(dpo)")
            #expect(((dpo["method"] as? [String: Any])?["dpo"] as? [String: Any]).flatMap { ($0["hyperparameters"] as? [String: Any])?["beta"] as? Double } == 0.2)
        }
    }

    /// A reward job's model is listed and served (its LoRA; the head scores in RLHF), and an RLHF job learns against it.
    @Test func rewardThenRLHF() async throws {
        try await ServerTests.withServer(fineTuning: Self.configure) { h in
            let prefs = try await Self.uploadFile(h, Self.preferences)
            let r = try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(prefs)", "suffix": "rm", "method": {"type": "reward", "reward": {"hyperparameters": {"n_epochs": 1, "batch_size": 2}}}, \#(Self.adapter)}"#)
            let reward = try await Self.wait(h, ServerTests.json(r)["id"] as? String ?? "")
            let rewardModel = reward["fine_tuned_model"] as? String ?? ""
            #expect(reward["status"] as? String == "succeeded" && rewardModel.contains(":rm:"), "\(reward)")
            #expect(try await Self.modelIDs(h).contains(rewardModel))
            let prompts = try await Self.uploadFile(h, Data("{\"prompt\": \"Say 1\"}\n{\"prompt\": \"Say 2\"}\n".utf8))
            let q = try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(prompts)", "method": {"type": "rlhf", "rlhf": {"reward_model": "\#(rewardModel)", "hyperparameters": {"n_epochs": 1, "batch_size": 2, "num_generations": 2}}}, \#(Self.adapter)}"#)
            let rl = try await Self.wait(h, ServerTests.json(q)["id"] as? String ?? "")
            #expect(rl["status"] as? String == "succeeded", "\(rl)")
        }
    }

    @Test func cancelStopsTheTrainerAndLeavesNoModel() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-ft-cancel-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await ServerTests.withServer(fineTuning: Self.configure, directory: dir) { h in
            let file = try await Self.uploadFile(h, Self.sums(4))
            let r = try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(file)", "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50}}}, \#(Self.adapter)}"#)
            let id = ServerTests.json(r)["id"] as? String ?? ""
            // Past its first checkpoint (a model of its own), then cancelled.
            for _ in 0..<600 where ServerTests.json(try await h.get("/v1/fine_tuning/jobs/\(id)/checkpoints"))["data"].map({ ($0 as? [Any])?.isEmpty ?? true }) ?? true {
                try await Task.sleep(for: .milliseconds(100))
            }
            let cancelled = try await h.post("/v1/fine_tuning/jobs/\(id)/cancel", "")
            #expect(ServerTests.json(cancelled)["status"] as? String == "cancelled", "\(String(buffer: cancelled.body))")
            for _ in 0..<100 where FileManager.default.fileExists(atPath: dir.appendingPathComponent("jobs/\(id)").path) {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("jobs/\(id)").path), "the trainer is gone and its directory removed")
            let job = try await Self.job(h, id)
            #expect(job["status"] as? String == "cancelled" && job["fine_tuned_model"] is NSNull)
            #expect(try await Self.modelIDs(h) == [Self.base], "no model, no checkpoint of it stays")
        }
    }

    /// A stop (SIGTERM) in the middle of a job requeues it with a checkpoint; a crash (the row left `running`, no
    /// trainer) requeues it at the next start; either way it resumes and ends, never stuck.
    @Test func stopsAndCrashesResumeTheJob() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-ft-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let id = Mutex("")
        try await ServerTests.withServer(fineTuning: Self.configure, directory: dir) { h in
            let file = try await Self.uploadFile(h, Self.sums(4))
            let r = try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(file)", "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}, \#(Self.adapter)}"#)
            let jobID = ServerTests.json(r)["id"] as? String ?? ""
            id.withLock { $0 = jobID }
            _ = try await Self.wait(h, jobID, for: ["succeeded", "failed"]) { $0["trained_tokens"] as? Int ?? 0 > 0 }
        }  // the harness stops the queue as SIGTERM does
        let jobID = id.withLock { $0 }
        let registry = try SQLiteRegistry(directory: dir)
        let stopped = try registry.job(id: jobID)
        #expect(stopped?.status == .queued || stopped?.status == .succeeded, "\(String(describing: stopped?.status))")
        // As if the server had died mid-run: the row says running and no trainer is left.
        try registry.updateJob(id: jobID) { j in
            guard j.status == .queued else { return false }
            j.status = .running
            return true
        }
        try await ServerTests.withServer(fineTuning: Self.configure, directory: dir) { h in
            let done = try await Self.wait(h, jobID)
            #expect(done["status"] as? String == "succeeded", "\(done)")
            let messages = try await Self.events(h, jobID).compactMap { $0["message"] as? String }
            #expect(messages.contains { $0.hasPrefix("The server restarted while the job was training") } || stopped?.status == .succeeded, "\(messages)")
            #expect(try await Self.modelIDs(h).contains(done["fine_tuned_model"] as? String ?? "?"))
        }
    }

    @Test func badFilesAndRequestsAreRefused() async throws {
        try await ServerTests.withServer(fineTuning: Self.configure) { h in
            func upload(_ text: String) async throws -> TestResponse {
                try await h.upload([("purpose", Data("fine-tune".utf8)), ("file", Data(text.utf8))], to: "/v1/files")
            }
            for (text, line) in [("{\"text\": \"a\"}\n[1]\n", "line 2"), ("{\"messages\": []}\n", "line 1"), ("", "no rows"),
                                 ("{\"text\": \"a\"}\n{\"prompt\": \"p\", \"completion\": \"c\"}\n", "line 2"),
                                 ("{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}", "role"),
                                 ("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"x\"}]}]}", "content")] {
                let r = try await upload(text)
                #expect(r.status == .badRequest && (ServerTests.error(r)["message"] as? String)?.contains(line) == true, "\(text): \(String(buffer: r.body))")
            }
            #expect(try await upload(String(repeating: "{\"text\": \"aaaaaaaa\"}\n", count: 4000)).status == .contentTooLarge)
            let r = try await h.upload([("purpose", Data("assistants".utf8)), ("file", Self.sums(1))], to: "/v1/files")
            #expect(r.status == .badRequest)
            let file = try await Self.uploadFile(h, Self.sums(2))
            let other = try await Self.uploadFile(h, Self.sums(2), key: h.otherKey)
            for (body, param) in [
                (#"{"model": "\#(Self.base)", "training_file": "\#(other)"}"#, "training_file"),
                (#"{"model": "nope", "training_file": "\#(file)"}"#, "model"),
                (#"{"model": "\#(Self.base)", "training_file": "\#(file)", "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}}"#, "method.supervised.hyperparameters.n_epochs"),
                (#"{"model": "\#(Self.base)", "training_file": "\#(file)", "method": {"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.1}}}}"#, "method.supervised.hyperparameters.beta"),
                (#"{"model": "\#(Self.base)", "training_file": "\#(file)", "method": {"type": "magic"}}"#, "method.type"),
                (#"{"model": "\#(Self.base)", "training_file": "\#(file)", "suffix": "../x"}"#, "suffix"),
                (#"{"model": "\#(Self.base)", "training_file": "\#(file)", "adapter": {"type": "lora", "rank": 0}}"#, "adapter.rank"),
                (#"{"model": "\#(Self.base)", "training_file": "\#(file)", "learning_rate": 1}"#, "learning_rate"),
            ] {
                let r = try await h.post("/v1/fine_tuning/jobs", body)
                #expect([.badRequest, .notFound].contains(r.status) && ServerTests.error(r)["param"] as? String == param, "\(body): \(String(buffer: r.body))")
            }
            // A file of chat rows cannot train DPO: the job fails naming the file.
            let wrong = ServerTests.json(try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(file)", "method": {"type": "dpo"}}"#))
            let failed = try await Self.wait(h, wrong["id"] as? String ?? "")
            let error = failed["error"] as? [String: Any]
            #expect(failed["status"] as? String == "failed" && error?["param"] as? String == "training_file" && error?["code"] as? String == "invalid_training_file", "\(failed)")
            // A file the trainer refuses (here: a row with nothing to train on) fails naming the file, not a path.
            let untrained = try await Self.uploadFile(h, Self.sums(1) + Data(#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "weight": 0}]}"#.utf8))
            let refused = ServerTests.json(try await h.post("/v1/fine_tuning/jobs", #"{"model": "\#(Self.base)", "training_file": "\#(untrained)", \#(Self.adapter)}"#))
            let end = try await Self.wait(h, refused["id"] as? String ?? "")
            let endError = end["error"] as? [String: Any], message = endError?["message"] as? String ?? ""
            #expect(end["status"] as? String == "failed" && endError?["param"] as? String == "training_file", "\(end)")
            #expect(message.contains("\(untrained):2") || message.contains("line 2"), "\(message)")
            #expect(!message.contains("/"), "no server path in \(message)")
            #expect(try await h.delete("/v1/files/\(file)").status == .ok)
            #expect(try await h.get("/v1/files/\(file)").status == .notFound)
        }
    }

    @Test func fileFormatsAndAutoHyperparameters() throws {
        #expect(try TrainingFileFormat.check(Self.sums(3)) == (.chat, 3))
        #expect(try TrainingFileFormat.check(Self.preferences).format == .preference)
        #expect(try TrainingFileFormat.check(Data("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\r\n\n".utf8)) == (.preference, 1))
        #expect(try TrainingFileFormat.check(Data("{\"prompt\":\"a\"}\n{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}".utf8)).format == .prompt)
        #expect(throws: TrainingFileFormat.Problem.self) { try TrainingFileFormat.check(Data([0xff, 0xfe, 0x0a])) }
        // OpenAI's rule: about 3 epochs, at least ~100 examples seen, at most ~25,000; batches of ~0.2%.
        #expect(Hyperparameters.epochs(examples: 10) == 10 && Hyperparameters.epochs(examples: 50) == 3)
        #expect(Hyperparameters.epochs(examples: 20_000) == 1 && Hyperparameters.epochs(examples: 1) == 25)
        #expect(Hyperparameters.batchSize(examples: 30) == 1 && Hyperparameters.batchSize(examples: 5_000) == 10 && Hyperparameters.batchSize(examples: 1_000_000) == 256)
    }
}
