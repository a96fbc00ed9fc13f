import Foundation
import PostgresNIO

/// Records from the shared registry's rows (columns by name, so a `SELECT *` after a later migration still reads).
extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, _: T.Type = T.self) throws -> T { try self[column].decode(T.self) }
}

extension Tenant {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(id: try r.value("id"), name: try r.value("name"), weight: try r.value("weight"), keyHash: try r.value("key_hash"),
                  createdAt: try r.value("created_at"), revoked: try r.value("revoked"),
                  requestsPerMinute: try r.value("requests_per_minute"), tokensPerMinute: try r.value("tokens_per_minute"),
                  maxConcurrent: try r.value("max_concurrent"), maxTokens: try r.value("max_tokens"),
                  maxTrainingJobs: try r.value("max_training_jobs"))
    }
}

extension AdapterRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(storeID: try r.value("store_id"), tenantID: try r.value("tenant_id"), name: try r.value("name"),
                  version: try r.value("version"), kind: try r.value("kind"), bytes: try r.value("bytes"), createdAt: try r.value("created_at"))
    }
}

extension FileRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(id: try r.value("id"), tenantID: try r.value("tenant_id"), filename: try r.value("filename"),
                  purpose: try r.value("purpose"), bytes: try r.value("bytes"), lines: try r.value("lines"),
                  format: try r.value("format"), createdAt: try r.value("created_at"))
    }
}

extension FineTuningJob {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        let status: String = try r.value("status")
        guard let s = Status(rawValue: status) else { throw RegistryError("job \(try r.value("id", String.self)) has an unknown status '\(status)'") }
        self.init(id: try r.value("id"), tenantID: try r.value("tenant_id"), model: try r.value("model"),
                  trainingFile: try r.value("training_file"), validationFile: try r.value("validation_file"),
                  suffix: try r.value("suffix"), seed: try r.value("seed"), metadata: try r.value("metadata"),
                  spec: try r.value("spec"), status: s, createdAt: try r.value("created_at"),
                  startedAt: try r.value("started_at"), finishedAt: try r.value("finished_at"),
                  fineTunedModel: try r.value("fine_tuned_model"), trainedTokens: try r.value("trained_tokens"),
                  errorCode: try r.value("error_code"), errorMessage: try r.value("error_message"),
                  errorParam: try r.value("error_param"), estimatedFinish: try r.value("estimated_finish"),
                  resultFiles: try r.value("result_files"), attempts: try r.value("attempts"),
                  owner: try r.value("owner"), heartbeatAt: try r.value("heartbeat_at"))
    }
}

extension JobEvent {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(seq: try r.value("seq"), id: try r.value("id"), jobID: try r.value("job_id"), createdAt: try r.value("created_at"),
                  level: try r.value("level"), message: try r.value("message"), type: try r.value("type"), data: try r.value("data"))
    }
}

extension JobCheckpoint {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(id: try r.value("id"), jobID: try r.value("job_id"), step: try r.value("step"), model: try r.value("model"),
                  metrics: try r.value("metrics"), createdAt: try r.value("created_at"))
    }
}
