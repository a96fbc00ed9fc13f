import Foundation
import GRDB

/// Fine-tuning jobs, their events and checkpoints in the registry. Every change to a job is one transaction; a job
/// that succeeds gets its model's adapter row in the same transaction as its status, so the two never disagree.
extension SQLiteRegistry {
    public func addJob(_ job: FineTuningJob) throws(RegistryError) {
        do { try db.write { try job.insert($0) } } catch { throw RegistryError("cannot record job '\(job.id)': \(error)") }
    }

    /// The tenant's job `id`; other tenants' jobs do not exist here.
    public func job(tenantID: String, id: String) throws(RegistryError) -> FineTuningJob? {
        try read { try FineTuningJob.filter(Column("id") == id && Column("tenantID") == tenantID).fetchOne($0) }
    }

    public func job(id: String) throws(RegistryError) -> FineTuningJob? {
        try read { try FineTuningJob.fetchOne($0, key: id) }
    }

    /// The tenant's jobs, newest first; `after` is the id of the last job of the previous page.
    public func jobs(tenantID: String, after: String? = nil, limit: Int) throws(RegistryError) -> [FineTuningJob] {
        try read { db in
            var q = FineTuningJob.filter(Column("tenantID") == tenantID)
            if let after, let cursor = try FineTuningJob.filter(Column("id") == after && Column("tenantID") == tenantID).fetchOne(db) {
                q = q.filter(Column("createdAt") < cursor.createdAt || (Column("createdAt") == cursor.createdAt && Column("id") < cursor.id))
            }
            return try q.order(Column("createdAt").desc, Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    /// Every job in one of `statuses`, oldest first (the queue's order).
    public func jobs(status statuses: [FineTuningJob.Status]) throws(RegistryError) -> [FineTuningJob] {
        try read { try FineTuningJob.filter(statuses.map(\.rawValue).contains(Column("status"))).order(Column("createdAt"), Column("id")).fetchAll($0) }
    }

    /// Changes a job in one transaction, `change` seeing its current row; nil when there is no such job. `change`
    /// may refuse (return false) to leave the row as it is, as it does for a job already final.
    @discardableResult
    public func updateJob(id: String, event: (level: String, message: String)? = nil,
                          _ change: (inout FineTuningJob) -> Bool) throws(RegistryError) -> FineTuningJob? {
        do {
            return try db.write { db -> FineTuningJob? in
                guard var job = try FineTuningJob.fetchOne(db, key: id) else { return nil }
                guard change(&job) else { return job }
                try job.update(db)
                if let event { try Self.insertEvent(db, jobID: id, level: event.level, message: event.message, type: "message", data: nil) }
                return job
            }
        } catch {
            throw RegistryError("cannot update job '\(id)': \(error)")
        }
    }

    /// A job that succeeded: its model's adapter row and its final state, together.
    public func completeJob(id: String, model: AdapterRecord, resultFile: FileRecord?, trainedTokens: Int,
                            message: String) throws(RegistryError) -> Bool {
        do {
            return try db.write { db -> Bool in
                guard var job = try FineTuningJob.fetchOne(db, key: id), job.status == .running else { return false }
                try model.insert(db)
                if let resultFile { try resultFile.insert(db) }
                try job.succeed(model: model.name, resultFile: resultFile?.id, trainedTokens: trainedTokens)
                try job.update(db)
                try Self.insertEvent(db, jobID: id, level: "info", message: message, type: "message", data: nil)
                return true
            }
        } catch {
            throw RegistryError("cannot complete job '\(id)': \(error)")
        }
    }

    /// Jobs of the tenant holding a training slot (its `max_training_jobs` bounds these; the rest wait queued).
    public func activeJobCount(tenantID: String) throws(RegistryError) -> Int {
        try read { try FineTuningJob.filter(Column("tenantID") == tenantID && Column("status") == FineTuningJob.Status.running.rawValue).fetchCount($0) }
    }

    public func heartbeat(jobIDs: [String], owner: String) throws(RegistryError) {
        do {
            try db.write { db in
                for id in jobIDs {
                    try db.execute(sql: "UPDATE fine_tuning_job SET heartbeatAt = ? WHERE id = ? AND owner = ?", arguments: [Date(), id, owner])
                }
            }
        } catch {
            throw RegistryError("cannot record the jobs' heartbeat: \(error)")
        }
    }

    public func addEvent(jobID: String, level: String = "info", message: String, type: String = "message",
                         data: [String: Any]? = nil) throws(RegistryError) {
        let json = data.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }.map { String(decoding: $0, as: UTF8.self) }
        do { try db.write { try Self.insertEvent($0, jobID: jobID, level: level, message: message, type: type, data: json) } } catch {
            throw RegistryError("cannot record an event of job '\(jobID)': \(error)")
        }
    }

    static func insertEvent(_ db: Database, jobID: String, level: String, message: String, type: String, data: String?) throws {
        let e = JobEvent(seq: nil, id: "ftevent-" + APIKey.randomID(length: 24), jobID: jobID, createdAt: Date(), level: level,
                         message: message, type: type, data: data)
        try e.insert(db)
    }

    /// A job's events, newest first; `after` is the id of the last event of the previous page.
    public func events(jobID: String, after: String? = nil, limit: Int) throws(RegistryError) -> [JobEvent] {
        try read { db in
            var q = JobEvent.filter(Column("jobID") == jobID)
            if let after, let cursor = try JobEvent.filter(Column("id") == after && Column("jobID") == jobID).fetchOne(db), let seq = cursor.seq {
                q = q.filter(Column("seq") < seq)
            }
            return try q.order(Column("seq").desc).limit(limit).fetchAll(db)
        }
    }

    /// A checkpoint registered as a model: its adapter row and its checkpoint row together (the adapter's file is
    /// already in the store).
    public func addCheckpoint(_ checkpoint: JobCheckpoint, model: AdapterRecord) throws(RegistryError) {
        do {
            try db.write { db in
                try model.insert(db)
                try checkpoint.insert(db)
                try Self.insertEvent(db, jobID: checkpoint.jobID, level: "info", message: "Checkpoint created at step \(checkpoint.step)",
                                     type: "message", data: nil)
            }
        } catch {
            throw RegistryError("cannot record a checkpoint of job '\(checkpoint.jobID)': \(error)")
        }
    }

    /// A job's checkpoints, newest first; `after` is the id of the last checkpoint of the previous page.
    public func checkpoints(jobID: String, after: String? = nil, limit: Int = 1000) throws(RegistryError) -> [JobCheckpoint] {
        try read { db in
            var q = JobCheckpoint.filter(Column("jobID") == jobID)
            if let after, let cursor = try JobCheckpoint.filter(Column("id") == after && Column("jobID") == jobID).fetchOne(db) {
                q = q.filter(Column("step") < cursor.step)
            }
            return try q.order(Column("step").desc).limit(limit).fetchAll(db)
        }
    }

    /// Removes a checkpoint row (its model, an adapter, is deleted as adapters are).
    public func deleteCheckpoint(id: String) throws(RegistryError) {
        do { try db.write { _ = try JobCheckpoint.deleteOne($0, key: id) } } catch { throw RegistryError("cannot delete checkpoint '\(id)': \(error)") }
    }
}
