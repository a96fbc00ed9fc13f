import Foundation
import PostgresNIO

/// Fine-tuning jobs, their events and checkpoints in the shared registry. A change to a job locks its row
/// (`SELECT ... FOR UPDATE`), so two replicas never both claim a queued job: the second sees it running and refuses.
extension PostgresRegistry {
    public func addJob(_ j: FineTuningJob) throws(RegistryError) {
        try pool.transaction("cannot record job '\(j.id)'") { c in
            try c.run("""
                INSERT INTO fine_tuning_job (id, tenant_id, model, training_file, validation_file, suffix, seed, metadata, spec,
                    status, created_at, started_at, finished_at, fine_tuned_model, trained_tokens, error_code, error_message,
                    error_param, estimated_finish, result_files, attempts, owner, heartbeat_at)
                VALUES (\(j.id), \(j.tenantID), \(j.model), \(j.trainingFile), \(j.validationFile), \(j.suffix), \(j.seed),
                    \(j.metadata), \(j.spec), \(j.status.rawValue), \(j.createdAt), \(j.startedAt), \(j.finishedAt),
                    \(j.fineTunedModel), \(j.trainedTokens), \(j.errorCode), \(j.errorMessage), \(j.errorParam),
                    \(j.estimatedFinish), \(j.resultFiles), \(j.attempts), \(j.owner), \(j.heartbeatAt))
                """)
            try c.notify(.job(id: j.id))
        }
    }

    public func job(tenantID: String, id: String) throws(RegistryError) -> FineTuningJob? {
        try pool.withConnection("registry read failed") { c in
            try c.run("SELECT * FROM fine_tuning_job WHERE id = \(id) AND tenant_id = \(tenantID)").first.map(FineTuningJob.init)
        }
    }

    public func job(id: String) throws(RegistryError) -> FineTuningJob? {
        try pool.withConnection("registry read failed") { c in try c.run("SELECT * FROM fine_tuning_job WHERE id = \(id)").first.map(FineTuningJob.init) }
    }

    public func jobs(tenantID: String, after: String?, limit: Int) throws(RegistryError) -> [FineTuningJob] {
        try pool.withConnection("registry read failed") { c in
            let cursor = try after.flatMap { after in
                try c.run("SELECT created_at, id FROM fine_tuning_job WHERE id = \(after) AND tenant_id = \(tenantID)").first?.decode((Date, String).self)
            }
            return try c.run("""
                SELECT * FROM fine_tuning_job WHERE tenant_id = \(tenantID)
                  AND (\(cursor?.0)::timestamptz IS NULL OR (created_at, id) < (\(cursor?.0), \(cursor?.1)))
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """).map(FineTuningJob.init)
        }
    }

    public func jobs(status statuses: [FineTuningJob.Status]) throws(RegistryError) -> [FineTuningJob] {
        try pool.withConnection("registry read failed") { c in
            try c.run("SELECT * FROM fine_tuning_job WHERE status = ANY(\(statuses.map(\.rawValue))) ORDER BY created_at, id").map(FineTuningJob.init)
        }
    }

    static func update(_ j: FineTuningJob, _ c: PostgresConnection) throws {
        try c.run("""
            UPDATE fine_tuning_job SET status = \(j.status.rawValue), started_at = \(j.startedAt), finished_at = \(j.finishedAt),
                fine_tuned_model = \(j.fineTunedModel), trained_tokens = \(j.trainedTokens), error_code = \(j.errorCode),
                error_message = \(j.errorMessage), error_param = \(j.errorParam), estimated_finish = \(j.estimatedFinish),
                result_files = \(j.resultFiles), attempts = \(j.attempts), owner = \(j.owner), heartbeat_at = \(j.heartbeatAt)
            WHERE id = \(j.id)
            """)
    }

    @discardableResult
    public func updateJob(id: String, event: (level: String, message: String)?, _ change: (inout FineTuningJob) -> Bool) throws(RegistryError) -> FineTuningJob? {
        try pool.transaction("cannot update job '\(id)'") { c -> FineTuningJob? in
            guard var job = try c.run("SELECT * FROM fine_tuning_job WHERE id = \(id) FOR UPDATE").first.map(FineTuningJob.init) else { return nil }
            let before = job.status
            guard change(&job) else { return job }
            try Self.update(job, c)
            if let event { try Self.insertEvent(c, jobID: id, level: event.level, message: event.message, type: "message", data: nil) }
            if job.status != before { try c.notify(.job(id: id)) }
            return job
        }
    }

    public func completeJob(id: String, model: AdapterRecord, resultFile: FileRecord?, trainedTokens: Int, message: String) throws(RegistryError) -> Bool {
        let done = try pool.transaction("cannot complete job '\(id)'") { c -> Bool in
            guard var job = try c.run("SELECT * FROM fine_tuning_job WHERE id = \(id) FOR UPDATE").first.map(FineTuningJob.init),
                  job.status == .running else { return false }
            try Self.insert(model, c)
            if let resultFile { try Self.insert(resultFile, c) }
            try job.succeed(model: model.name, resultFile: resultFile?.id, trainedTokens: trainedTokens)
            try Self.update(job, c)
            try Self.insertEvent(c, jobID: id, level: "info", message: message, type: "message", data: nil)
            try c.notify(.job(id: id))
            try c.notify(.adapter(tenantID: model.tenantID, name: model.name, removed: []))
            return true
        }
        if done { committed(.adapter(tenantID: model.tenantID, name: model.name, removed: [])) }
        return done
    }

    public func activeJobCount(tenantID: String) throws(RegistryError) -> Int {
        try pool.withConnection("registry read failed") { c in
            try c.run("SELECT count(*) FROM fine_tuning_job WHERE tenant_id = \(tenantID) AND status = 'running'").first?.decode(Int.self) ?? 0
        }
    }

    public func heartbeat(jobIDs: [String], owner: String) throws(RegistryError) {
        guard !jobIDs.isEmpty else { return }
        try pool.withConnection("cannot record the jobs' heartbeat") { c in
            try c.run("UPDATE fine_tuning_job SET heartbeat_at = \(Date()) WHERE id = ANY(\(jobIDs)) AND owner = \(owner)")
        }
    }

    public func addEvent(jobID: String, level: String, message: String, type: String, data: [String: Any]?) throws(RegistryError) {
        let json = data.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }.map { String(decoding: $0, as: UTF8.self) }
        try pool.withConnection("cannot record an event of job '\(jobID)'") { c in
            try Self.insertEvent(c, jobID: jobID, level: level, message: message, type: type, data: json)
        }
    }

    static func insertEvent(_ c: PostgresConnection, jobID: String, level: String, message: String, type: String, data: String?) throws {
        try c.run("""
            INSERT INTO job_event (id, job_id, created_at, level, message, type, data)
            VALUES (\("ftevent-" + APIKey.randomID(length: 24)), \(jobID), \(Date()), \(level), \(message), \(type), \(data))
            """)
    }

    public func events(jobID: String, after: String?, limit: Int) throws(RegistryError) -> [JobEvent] {
        try pool.withConnection("registry read failed") { c in
            let seq = try after.flatMap { after in
                try c.run("SELECT seq FROM job_event WHERE id = \(after) AND job_id = \(jobID)").first?.decode(Int64.self)
            }
            return try c.run("""
                SELECT * FROM job_event WHERE job_id = \(jobID) AND (\(seq)::bigint IS NULL OR seq < \(seq))
                ORDER BY seq DESC LIMIT \(limit)
                """).map(JobEvent.init)
        }
    }

    public func addCheckpoint(_ k: JobCheckpoint, model: AdapterRecord) throws(RegistryError) {
        try pool.transaction("cannot record a checkpoint of job '\(k.jobID)'") { c in
            try Self.insert(model, c)
            try c.run("""
                INSERT INTO job_checkpoint (id, job_id, step, model, metrics, created_at)
                VALUES (\(k.id), \(k.jobID), \(k.step), \(k.model), \(k.metrics), \(k.createdAt))
                """)
            try Self.insertEvent(c, jobID: k.jobID, level: "info", message: "Checkpoint created at step \(k.step)", type: "message", data: nil)
            try c.notify(.adapter(tenantID: model.tenantID, name: model.name, removed: []))
        }
        committed(.adapter(tenantID: model.tenantID, name: model.name, removed: []))
    }

    public func checkpoints(jobID: String, after: String?, limit: Int) throws(RegistryError) -> [JobCheckpoint] {
        try pool.withConnection("registry read failed") { c in
            let step = try after.flatMap { after in
                try c.run("SELECT step FROM job_checkpoint WHERE id = \(after) AND job_id = \(jobID)").first?.decode(Int.self)
            }
            return try c.run("""
                SELECT * FROM job_checkpoint WHERE job_id = \(jobID) AND (\(step)::bigint IS NULL OR step < \(step))
                ORDER BY step DESC LIMIT \(limit)
                """).map(JobCheckpoint.init)
        }
    }

    public func deleteCheckpoint(id: String) throws(RegistryError) {
        try pool.withConnection("cannot delete checkpoint '\(id)'") { c in try c.run("DELETE FROM job_checkpoint WHERE id = \(id)") }
    }
}
