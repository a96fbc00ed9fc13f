import Foundation
import Logging
import Synchronization
import TesseraFormats
import TesseraAdapters

/// The fine-tuning queue and its trainer children (DESIGN 1, training flow). Jobs wait in the registry; up to
/// `maxJobs` of them train at once, each as a `tessera train --json` child at the lowest CPU priority over the same
/// GGUF file; the child's JSON lines become the job's events and checkpoints, and its adapter becomes the tenant's
/// model `ft:<base>:<tenant>:<suffix>:<job>`. A server that stops (SIGTERM) stops its trainers with a checkpoint and
/// requeues their jobs; one that died finds them `running` at start and requeues them to resume from their last
/// checkpoint, so no job is left running with no trainer.
public final class TrainingJobs: Sendable {
    public struct Configuration: Sendable {
        /// The `tessera` executable the children run.
        public var trainer: URL
        /// The GGUF file (the children map the same file, so its pages are shared).
        public var modelPath: String
        /// The operator's `--chat-template` file, so jobs train in the format the server serves.
        public var chatTemplatePath: String?
        public var maxJobs = 1
        /// Compute threads of each child (default: the machine's cores; at idle priority it only takes idle ones).
        public var threads: Int?
        public var maxFileBytes = 64 << 20
        /// Bytes of files a tenant may keep.
        public var maxTenantFileBytes = 1 << 30
        /// Checkpoints of a job kept as models (older ones are deleted as newer ones come).
        public var checkpointsKept = 3
        /// A job is failed after this many starts (each restart of the server while it trains is one).
        public var maxAttempts = 3
        /// More trainer flags, after the job's own (tests shorten runs with them).
        public var extraArguments: [String] = []
        /// This replica's name in the registry: a job it starts is claimed in that name.
        public var replicaID = ProcessInfo.processInfo.hostName
        /// On a shared registry: how often a replica says its jobs still train (and looks for queued ones, and for
        /// its jobs cancelled on another replica), and how long a silent owner keeps its jobs before another
        /// replica queues them again.
        public var heartbeatSeconds = 10.0
        public var abandonedAfterSeconds = 60.0
        /// On a shared registry, start-up sweeps only remove unregistered directories older than this (another
        /// replica may be between writing one and recording it).
        public var sweepGraceSeconds = 600.0

        public init(trainer: URL, modelPath: String) {
            self.trainer = trainer
            self.modelPath = modelPath
        }
    }

    public let configuration: Configuration
    let registry: Registry
    /// Uploaded files (`FILE_ID.jsonl`).
    public let files: BlobStore
    /// One directory per job that has started: its checkpoints, output, trainer log.
    let jobsDirectory: URL
    /// The PEFT directories of fine-tuned models, by their adapter's store id (a later job may start from one, or
    /// use it as a teacher or reward model).
    let peftDirectory: URL
    let logger: Logger

    struct Run {
        var process: TrainerProcess?
        var started = Date()
        var finished = false
        /// Per step: step, train loss, learning rate, valid loss.
        var metrics: [(Int, Double, Double, Double?)] = []
    }

    struct State {
        var runs: [String: Run] = [:]
        var serving: ServingState?
        var shuttingDown = false
    }

    let state = Mutex(State())
    /// One pass of the queue at a time (new jobs and ended trainers both move it), so a slot is never given twice.
    private let queue = Mutex(())

    public init(registry: Registry, dataDirectory: URL, configuration: Configuration, logger: Logger = Logger(label: "tessera.jobs")) throws {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        files = try BlobStore(directory: dataDirectory.appendingPathComponent("files"), suffix: ".jsonl")
        jobsDirectory = dataDirectory.appendingPathComponent("jobs")
        peftDirectory = dataDirectory.appendingPathComponent("peft")
        for d in [jobsDirectory, peftDirectory] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
    }

    /// The model has loaded: recover what a previous run left, then start the queue. On a shared registry, also
    /// follow the other replicas: a job created or ended there moves this queue, a job of this replica's cancelled
    /// there stops its trainer, and a heartbeat keeps this replica's claims (and takes over those of dead replicas).
    public func attach(_ serving: ServingState) {
        state.withLock { $0.serving = serving }
        do { try recover() } catch { logger.error("fine-tuning recovery failed: \(error)") }
        kick()
        guard registry.isShared else { return }
        registry.observe { [weak self] change in
            guard case .job(let id) = change, let self else { return }
            DispatchQueue.global().async {
                if self.state.withLock({ $0.runs[id] != nil }) { self.checkClaims() }
                self.kick()
            }
        }
        // A thread of its own: the beat blocks on the registry, which Swift's cooperative pool must not.
        let interval = configuration.heartbeatSeconds
        Thread.detachNewThread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: interval)
                guard let self, !self.state.withLock({ $0.shuttingDown }) else { return }
                self.beat()
            }
        }
    }

    /// The shared registry's heartbeat: this replica's jobs are alive, jobs of replicas that stopped beating go back
    /// to the queue (to resume from their last checkpoint, which is in the shared store), and the queue moves.
    func beat() {
        let mine = state.withLock { Array($0.runs.keys) }
        do {
            try registry.heartbeat(jobIDs: mine, owner: configuration.replicaID)
            checkClaims()
            try requeue { j in j.owner != configuration.replicaID && isSilent(j) }
        } catch {
            logger.warning("fine-tuning heartbeat: \(error)")
        }
        kick()
    }

    /// A trainer whose job is no longer this replica's to run (cancelled on another replica, or taken over after
    /// this one was silent too long) is stopped; its `exited` leaves the row alone.
    func checkClaims() {
        let runs = state.withLock { $0.runs.compactMap { id, run in run.process.map { (id, $0) } } }
        for (id, process) in runs {
            guard let job = try? registry.job(id: id) else { continue }
            if job.status != .running || job.owner != configuration.replicaID {
                logger.info("job \(id) is \(job.status.rawValue) on \(job.owner ?? "no replica"); stopping its trainer here")
                process.kill()
            }
        }
    }

    // MARK: - The queue

    /// Moves jobs along: validates new ones, starts queued ones while slots are free.
    public func kick() {
        queue.withLock { _ in moveQueue() }
    }

    private func moveQueue() {
        do {
            for job in try registry.jobs(status: [.validatingFiles]) { validate(job) }
            let queued = try registry.jobs(status: [.queued])
            for job in queued {
                let start: Bool = state.withLock { s in
                    guard !s.shuttingDown, s.serving != nil, s.runs[job.id] == nil, s.runs.count < configuration.maxJobs else { return false }
                    return true
                }
                guard start else { continue }
                if let limit = try registry.tenant(id: job.tenantID)?.maxTrainingJobs, try registry.activeJobCount(tenantID: job.tenantID) >= limit {
                    continue
                }
                launch(job)
            }
        } catch {
            logger.error("fine-tuning queue: \(error)")
        }
    }

    /// A new job's files against its method, and the models it names; then queued, or failed saying which.
    func validate(_ job: FineTuningJob) {
        do {
            let spec = try job.trainingSpec()
            let accepted = TrainingFileFormat.accepted(by: spec.method)
            for (param, id) in [("training_file", job.trainingFile), ("validation_file", job.validationFile)] {
                guard let id else { continue }
                guard let file = try registry.file(tenantID: job.tenantID, id: id), files.contains(id: id) else {
                    return fail(job.id, code: "invalid_\(param)", param: param, "\(param) '\(id)' does not exist")
                }
                guard let format = TrainingFileFormat(rawValue: file.format), accepted.contains(format) else {
                    return fail(job.id, code: "invalid_\(param)", param: param,
                                "\(param) '\(id)' holds \(file.format) rows; \(spec.method) trains on \(accepted.map(\.rawValue).sorted().joined(separator: " or ")) rows")
                }
            }
            for (param, name) in [("model", job.model), ("method.distill.teacher", spec.teacher), ("method.rlhf.reward_model", spec.rewardModel)] {
                guard let name else { continue }
                if case .failure(let message) = peftDirectory(of: name, tenantID: job.tenantID) {
                    return fail(job.id, code: "model_not_found", param: param, message)
                }
            }
            try registry.updateJob(id: job.id, event: ("info", "Files validated, moving job to queued state")) { j in
                guard j.status == .validatingFiles else { return false }
                j.status = .queued
                return true
            }
        } catch {
            fail(job.id, code: "server_error", param: nil, "cannot validate the job: \(error)")
        }
    }

    enum Resolved { case base, directory(String), failure(String) }

    /// What a model name in a job means: the base, or a fine-tuned model of the tenant's (its PEFT directory).
    func peftDirectory(of name: String, tenantID: String) -> Resolved {
        let base = state.withLock { $0.serving?.modelID }
        if name == base { return .base }
        guard ModelName.isValid(name), let record = try? registry.adapter(tenantID: tenantID, name: name) else {
            return .failure("the model '\(name)' does not exist or you do not have access to it")
        }
        let dir = peftDirectory.appendingPathComponent(record.storeID)
        guard BlobStore.isValidID(record.storeID), FileManager.default.fileExists(atPath: dir.appendingPathComponent("adapter_config.json").path) else {
            return .failure("'\(name)' was uploaded, not trained here: jobs start from, distill from or are rewarded by the base or a fine-tuned model")
        }
        return .directory(dir.path)
    }

    func jobDirectory(_ id: String) -> URL? {
        BlobStore.isValidID(id) ? jobsDirectory.appendingPathComponent(id) : nil
    }

    /// The newest checkpoint the job's trainer wrote (what a restart resumes from).
    func lastCheckpoint(_ id: String) -> (step: Int, path: String)? {
        guard let dir = jobDirectory(id)?.appendingPathComponent("checkpoints"),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return nil }
        let steps = names.compactMap { $0.hasPrefix("step-") ? Int($0.dropFirst(5)) : nil }
            .filter { FileManager.default.fileExists(atPath: dir.appendingPathComponent("step-\($0)/trainer_state.json").path) }
        return steps.max().map { ($0, dir.appendingPathComponent("step-\($0)").path) }
    }

    func launch(_ job: FineTuningJob) {
        guard let dir = jobDirectory(job.id) else { return }
        let resume = lastCheckpoint(job.id)
        let running: FineTuningJob?
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var started = false
            running = try registry.updateJob(id: job.id, event: ("info", resume.map { "Fine-tuning job resumed from step \($0.step)" } ?? "Fine-tuning job started")) { j in
                guard j.status == .queued else { return false }  // claimed by another replica, or cancelled
                j.status = .running
                j.owner = configuration.replicaID
                j.heartbeatAt = Date()
                j.startedAt = j.startedAt ?? Date()
                j.attempts += 1
                started = true
                return true
            }
            if !started { return }  // cancelled meanwhile
        } catch {
            return fail(job.id, code: "server_error", param: nil, "cannot start: \(error)")
        }
        guard let running else { return }
        guard running.attempts <= configuration.maxAttempts else {
            return fail(job.id, code: "interrupted", param: nil, "the job was interrupted \(configuration.maxAttempts) times (server restarts); start a new one")
        }
        let arguments: [String]
        do { arguments = try trainerArguments(running, directory: dir, resume: resume?.path) } catch {
            return fail(job.id, code: "server_error", param: nil, "\(error)")
        }
        state.withLock { $0.runs[job.id] = Run() }
        do {
            let id = job.id
            let process = try TrainerProcess(
                executable: configuration.trainer, arguments: arguments, log: dir.appendingPathComponent("trainer.log"),
                line: { [weak self] in self?.received($0, job: id) },
                exited: { [weak self] in self?.exited(id, status: $0) })
            state.withLock { $0.runs[job.id]?.process = process }
        } catch {
            state.withLock { _ = $0.runs.removeValue(forKey: job.id) }
            fail(job.id, code: "server_error", param: nil, "cannot start the trainer \(configuration.trainer.path): \(error)")
        }
    }

    // MARK: - The trainer's lines

    func received(_ line: String, job id: String) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let event = object["event"] as? String else {
            return
        }
        do {
            switch event {
            case "start":
                let total = object["total_steps"] as? Int ?? 0
                try registry.addEvent(jobID: id, level: "info", message: "Training on \(object["examples"] ?? 0) examples, \(object["trained_tokens"] ?? 0) trained tokens each epoch, \(object["trainable_parameters"] ?? 0) trainable parameters, \(total) steps", type: "message", data: nil)
            case "step":
                let step = object["step"] as? Int ?? 0, total = object["total_steps"] as? Int ?? 0
                let loss = object["loss"] as? Double ?? .nan, rate = object["learning_rate"] as? Double ?? 0
                let run = state.withLock { s -> Run? in
                    s.runs[id]?.metrics.append((step, loss, rate, nil))
                    return s.runs[id]
                }
                var data: [String: Any] = ["step": step, "total_steps": total, "train_loss": loss, "learning_rate": rate]
                for (k, v) in object where !["event", "step", "total_steps", "loss", "learning_rate", "tokens"].contains(k) { data[k] = v }
                try registry.addEvent(jobID: id, level: "info", message: String(format: "Step %d/%d: training loss=%.4f", step, total, loss), type: "metrics", data: data)
                if let run, step > 0 {
                    // Seconds per step so far in this run of the trainer (a resumed one counts from where it resumed).
                    let resumed = (run.metrics.first?.0 ?? 1) - 1
                    let perStep = Date().timeIntervalSince(run.started) / Double(max(1, step - resumed))
                    try registry.updateJob(id: id) { j in
                        guard j.status == .running else { return false }
                        j.estimatedFinish = Date().addingTimeInterval(perStep * Double(max(0, total - step)))
                        j.trainedTokens = (j.trainedTokens ?? 0) + (object["tokens"] as? Int ?? 0)
                        return true
                    }
                }
            case "validation":
                let step = object["step"] as? Int ?? 0, loss = object["loss"] as? Double ?? .nan
                state.withLock { s in
                    if let i = s.runs[id]?.metrics.lastIndex(where: { $0.0 == step }) { s.runs[id]?.metrics[i].3 = loss }
                }
                var data: [String: Any] = ["step": step, "valid_loss": loss]
                for (k, v) in object where !["event", "step", "loss"].contains(k) { data["valid_" + k] = v }
                try registry.addEvent(jobID: id, level: "info", message: String(format: "Step %d: validation loss=%.4f", step, loss), type: "metrics", data: data)
            case "checkpoint":
                if let step = object["step"] as? Int, let path = object["path"] as? String { try checkpoint(id, step: step, path: path) }
            case "done":
                let stopped = object["stopped"] as? Bool ?? true
                state.withLock { $0.runs[id]?.finished = !stopped }
            default:
                break
            }
        } catch {
            logger.error("job \(id): \(error)")
        }
    }

    /// A checkpoint the trainer wrote becomes a model of the tenant's (`...:ckpt-step-N`); the oldest beyond
    /// `checkpointsKept` go, and on disk only the newest stays (what a restart resumes from).
    func checkpoint(_ id: String, step: Int, path: String) throws {
        guard let job = try registry.job(id: id), job.status == .running, let serving = state.withLock({ $0.serving }),
              let tenant = try registry.tenant(id: job.tenantID) else { return }
        let name = ModelName.checkpoint(of: ModelName.fineTuned(base: serving.modelID, tenant: tenant.name, suffix: job.suffix, job: id), step: step)
        let record: AdapterRecord
        do { record = try store(path, serving: serving, tenantID: job.tenantID, name: name) } catch {
            try registry.addEvent(jobID: id, level: "warn", message: "Checkpoint at step \(step) cannot be served: \(error)", type: "message", data: nil)
            return
        }
        let metrics = state.withLock { s -> [String: Any] in
            guard let m = s.runs[id]?.metrics.last(where: { $0.0 <= step }) else { return ["step": step] }
            var out: [String: Any] = ["step": step, "train_loss": m.1]
            if let v = s.runs[id]?.metrics.last(where: { $0.0 <= step && $0.3 != nil })?.3 { out["valid_loss"] = v }
            return out
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: metrics, options: [.sortedKeys]), as: UTF8.self)
        try registry.addCheckpoint(JobCheckpoint(id: "ftckpt-" + APIKey.randomID(length: 24), jobID: id, step: step, model: name,
                                                 metrics: json, createdAt: Date()), model: record)
        for old in try registry.checkpoints(jobID: id).dropFirst(configuration.checkpointsKept) { try deleteCheckpoint(old, tenantID: job.tenantID, serving: serving) }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasPrefix("step-") && name != "step-\(step)" {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))
        }
    }

    func deleteCheckpoint(_ c: JobCheckpoint, tenantID: String, serving: ServingState) throws {
        try registry.deleteCheckpoint(id: c.id)
        for storeID in try registry.deleteAdapter(tenantID: tenantID, name: c.model) {
            try? serving.store.delete(id: storeID)
        }
    }

    /// A PEFT directory into the adapter store under a new id, and its row: files first (DESIGN 3.8).
    func store(_ path: String, serving: ServingState, tenantID: String, name: String) throws -> AdapterRecord {
        let loaded = try PEFTAdapter.load(directory: path, model: serving.model, precision: .f32)
        let storeID = AdapterRecord.newStoreID()
        let bytes = try serving.store.write(loaded, id: storeID)
        return AdapterRecord(storeID: storeID, tenantID: tenantID, name: name, version: 1, kind: loaded.kind.rawValue,
                             bytes: bytes, createdAt: Date())
    }

    // MARK: - The trainer's end

    func exited(_ id: String, status: Int32) {
        let (run, stopping) = state.withLock { ($0.runs[id], $0.shuttingDown) }
        // The run is dropped once its job's row says how it ended (shutdown waits for that), then the queue moves.
        defer {
            state.withLock { _ = $0.runs.removeValue(forKey: id) }
            kick()
        }
        guard let run, let job = try? registry.job(id: id) else { return }
        if job.status == .cancelled { return cleanUp(id) }  // cancel already said so and removed its models
        // Another replica holds the job now (this one was silent too long): its row and directory are that one's.
        if job.owner != configuration.replicaID { return }
        if stopping, !(status == 0 && run.finished) {
            let at = lastCheckpoint(id).map { " from step \($0.step)" } ?? ""
            _ = try? registry.updateJob(id: id, event: ("info", "The server is stopping; the job will resume\(at) when it starts again")) { j in
                guard j.status == .running else { return false }
                j.status = .queued
                return true
            }
            return
        }
        guard status == 0, run.finished else {
            let process = run.process
            let message = process?.lastError() ?? "the trainer exited with status \(status)"
            let (code, param) = classify(message, job: job)
            fail(id, code: code, param: param, readable(message, job: job))
            return cleanUp(id)
        }
        do {
            try complete(job, run: run)
        } catch {
            fail(id, code: "server_error", param: nil, "the trained adapter could not be registered: \(error)")
            cleanUp(id)
        }
    }

    /// The finished adapter becomes the tenant's model, with a results file of its metrics.
    func complete(_ job: FineTuningJob, run: Run) throws {
        guard let serving = state.withLock({ $0.serving }), let dir = jobDirectory(job.id),
              let tenant = try registry.tenant(id: job.tenantID) else { throw RegistryError("the job's tenant is gone") }
        let name = ModelName.fineTuned(base: serving.modelID, tenant: tenant.name, suffix: job.suffix, job: job.id)
        let output = dir.appendingPathComponent("output")
        let record = try store(output.path, serving: serving, tenantID: job.tenantID, name: name)
        // The PEFT directory stays, under the model's store id, for jobs that start from or learn from it.
        let kept = peftDirectory.appendingPathComponent(record.storeID)
        try FileManager.default.moveItem(at: output, to: kept)
        var csv = "step,train_loss,learning_rate,valid_loss\n"
        for (step, loss, rate, valid) in run.metrics {
            csv += "\(step),\(loss),\(rate),\(valid.map { "\($0)" } ?? "")\n"
        }
        let resultID = "file-" + APIKey.randomID(length: 24)
        try files.write(Data(csv.utf8), id: resultID)
        let result = FileRecord(id: resultID, tenantID: job.tenantID, filename: "step_metrics.csv", purpose: "fine-tune-results",
                                bytes: csv.utf8.count, lines: run.metrics.count, format: "results", createdAt: Date())
        // The row counts every attempt's steps (a resumed job's too).
        let trained = try registry.job(id: job.id)?.trainedTokens ?? 0
        guard try registry.completeJob(id: job.id, model: record, resultFile: result, trainedTokens: trained,
                                       message: "New fine-tuned model created: \(name). The job has successfully completed") else {
            // Cancelled while it was being registered: nothing of it stays.
            try? serving.store.delete(id: record.storeID)
            try? FileManager.default.removeItem(at: kept)
            try? files.delete(id: resultID)
            return cleanUp(job.id)
        }
        cleanUp(job.id)
    }

    /// The trainer's error as the job's: a file it could not read is the file's fault, named by its id.
    func classify(_ message: String, job: FineTuningJob) -> (code: String, param: String?) {
        if let v = job.validationFile, message.contains(v) { return ("invalid_validation_file", "validation_file") }
        if message.contains(job.trainingFile) { return ("invalid_training_file", "training_file") }
        return ("training_failed", nil)
    }

    /// Paths of the data dir never reach the client: a file's path becomes its id.
    func readable(_ message: String, job: FineTuningJob) -> String {
        var m = message
        for id in [job.trainingFile] + (job.validationFile.map { [$0] } ?? []) {
            if let url = try? files.url(id) {
                m = m.replacingOccurrences(of: url.path, with: id).replacingOccurrences(of: url.lastPathComponent, with: id)
            }
        }
        return m.replacingOccurrences(of: jobsDirectory.path + "/", with: "").replacingOccurrences(of: peftDirectory.path + "/", with: "")
    }

    func fail(_ id: String, code: String, param: String?, _ message: String) {
        _ = try? registry.updateJob(id: id, event: ("error", "The job failed: \(message)")) { j in
            guard !j.status.isFinal else { return false }
            j.status = .failed
            j.errorCode = code
            j.errorMessage = message
            j.errorParam = param
            j.finishedAt = Date()
            j.estimatedFinish = nil
            return true
        }
        if state.withLock({ $0.runs[id] == nil }) { cleanUp(id) }
    }

    func cleanUp(_ id: String) {
        if let dir = jobDirectory(id) { try? FileManager.default.removeItem(at: dir) }
    }

    // MARK: - Cancel, recovery, shutdown

    /// Cancels a job that has not ended: its trainer is killed, its checkpoints' models removed; nothing of it stays.
    public func cancel(jobID: String, tenantID: String) throws -> FineTuningJob? {
        let updated = try registry.updateJob(id: jobID, event: ("info", "The job was cancelled")) { j in
            guard j.tenantID == tenantID, !j.status.isFinal else { return false }
            j.status = .cancelled
            j.finishedAt = Date()
            j.estimatedFinish = nil
            return true
        }
        guard let job = updated, job.tenantID == tenantID else { return nil }
        guard job.status == .cancelled else { return job }
        let process = state.withLock { $0.runs[jobID]?.process }
        process?.kill()
        if let serving = state.withLock({ $0.serving }) {
            for c in try registry.checkpoints(jobID: jobID) { try deleteCheckpoint(c, tenantID: tenantID, serving: serving) }
        }
        if process == nil { cleanUp(jobID) }
        return job
    }

    /// After a crash or kill: jobs still `running` have no trainer; they go back to the queue (resuming from their
    /// last checkpoint when they start). Directories of jobs that ended, and PEFT directories of models that are gone,
    /// are removed (stored files are `DataRecovery`'s). On a shared registry only this replica's jobs are its to
    /// requeue at start (and those of replicas that went silent); the rest train elsewhere.
    func recover() throws {
        let shared = registry.isShared
        try requeue { j in
            !shared || j.owner == nil || j.owner == configuration.replicaID
                || isSilent(j)
        }
        let live = Set(try registry.jobs(status: [.validatingFiles, .queued, .running]).map(\.id))
        sweep(jobsDirectory) { !live.contains($0) }
        let adapters = try registry.allStoreIDs()
        // A model's PEFT directory is written before its row, so on a shared store a fresh one may be another
        // replica's job completing.
        sweep(peftDirectory, grace: shared ? configuration.sweepGraceSeconds : 0) { !adapters.contains($0) }
    }

    /// A running job whose owner has not beaten for `abandonedAfterSeconds` (or never did).
    private func isSilent(_ j: FineTuningJob) -> Bool {
        j.heartbeatAt.map { -$0.timeIntervalSinceNow > configuration.abandonedAfterSeconds } ?? true
    }

    /// Running jobs with no trainer here that `abandoned` picks go back to the queue.
    private func requeue(_ abandoned: (FineTuningJob) -> Bool) throws {
        let here = state.withLock { Set($0.runs.keys) }
        for job in try registry.jobs(status: [.running]) where !here.contains(job.id) && abandoned(job) {
            let at = lastCheckpoint(job.id).map { " and will resume from step \($0.step)" } ?? " and will start again"
            let why = job.owner == configuration.replicaID || job.owner == nil
                ? "The server restarted while the job was training" : "The replica training the job (\(job.owner ?? "")) stopped answering"
            try registry.updateJob(id: job.id, event: ("warn", "\(why); it is queued again\(at)")) { j in
                guard j.status == .running, j.owner == job.owner, j.heartbeatAt == job.heartbeatAt else { return false }
                j.status = .queued
                return true
            }
        }
    }

    private func sweep(_ directory: URL, grace: TimeInterval = 0, remove: (String) -> Bool) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where remove(name) {
            let url = directory.appendingPathComponent(name)
            if grace > 0, let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate,
               -modified.timeIntervalSinceNow < grace { continue }
            try? FileManager.default.removeItem(at: url)
        }
    }

    /// SIGTERM: no new trainer starts; running ones stop after their step with a checkpoint, and their jobs are
    /// queued again, to resume when the server is back. Trainers still running after `timeout` are killed (they
    /// resume from their previous checkpoint).
    public func shutdown(timeout: Duration) async {
        let processes = state.withLock { s -> [TrainerProcess] in
            s.shuttingDown = true
            return s.runs.values.compactMap(\.process)
        }
        for p in processes { p.stop() }
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ !$0.runs.isEmpty }), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for p in state.withLock({ $0.runs.values.compactMap(\.process) }) { p.kill() }
        while state.withLock({ !$0.runs.isEmpty }), ContinuousClock.now < deadline + .seconds(2) { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// The deleted model's PEFT directory goes with it.
    func forget(storeIDs: [String]) {
        for id in storeIDs where BlobStore.isValidID(id) { try? FileManager.default.removeItem(at: peftDirectory.appendingPathComponent(id)) }
    }
}
