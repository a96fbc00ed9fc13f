import Foundation
import GRDB

/// A fine-tuning job (`/v1/fine_tuning/jobs`): what to train (`spec`, with "auto" already resolved from the data),
/// where it stands, and what it made.
public struct FineTuningJob: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "fine_tuning_job"

    public enum Status: String, Codable, Sendable, CaseIterable {
        case validatingFiles = "validating_files", queued, running, succeeded, failed, cancelled

        public var isFinal: Bool { [.succeeded, .failed, .cancelled].contains(self) }
    }

    /// `ftjob-` and 24 lowercase letters or digits.
    public var id: String
    public var tenantID: String
    /// The base model's id, or a fine-tuned model of the tenant's that training continues from.
    public var model: String
    public var trainingFile: String
    public var validationFile: String?
    public var suffix: String?
    public var seed: Int
    /// The client's metadata, a JSON object of strings.
    public var metadata: String?
    /// A `TrainingSpec` as JSON.
    public var spec: String
    public var status: Status
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var fineTunedModel: String?
    public var trainedTokens: Int?
    public var errorCode: String?
    public var errorMessage: String?
    public var errorParam: String?
    public var estimatedFinish: Date?
    /// File ids, as a JSON array.
    public var resultFiles: String
    /// Times the trainer was started (a restart of the server starts it again).
    public var attempts: Int
    /// The replica whose trainer runs the job (claimed when it starts), and when it last said it still does.
    public var owner: String?
    public var heartbeatAt: Date?

    public init(id: String, tenantID: String, model: String, trainingFile: String, validationFile: String? = nil, suffix: String? = nil,
                seed: Int, metadata: String? = nil, spec: String, status: Status, createdAt: Date, startedAt: Date? = nil,
                finishedAt: Date? = nil, fineTunedModel: String? = nil, trainedTokens: Int? = nil, errorCode: String? = nil,
                errorMessage: String? = nil, errorParam: String? = nil, estimatedFinish: Date? = nil, resultFiles: String,
                attempts: Int, owner: String? = nil, heartbeatAt: Date? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.model = model
        self.trainingFile = trainingFile
        self.validationFile = validationFile
        self.suffix = suffix
        self.seed = seed
        self.metadata = metadata
        self.spec = spec
        self.status = status
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.fineTunedModel = fineTunedModel
        self.trainedTokens = trainedTokens
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.errorParam = errorParam
        self.estimatedFinish = estimatedFinish
        self.resultFiles = resultFiles
        self.attempts = attempts
        self.owner = owner
        self.heartbeatAt = heartbeatAt
    }

    public func trainingSpec() throws -> TrainingSpec { try JSONDecoder().decode(TrainingSpec.self, from: Data(spec.utf8)) }

    public var resultFileIDs: [String] { (try? JSONDecoder().decode([String].self, from: Data(resultFiles.utf8))) ?? [] }

    /// The row of a job that succeeded (both registries write it in the transaction that records its model).
    mutating func succeed(model: String, resultFile: String?, trainedTokens: Int) throws {
        if let resultFile { resultFiles = String(decoding: try JSONEncoder().encode(resultFileIDs + [resultFile]), as: UTF8.self) }
        status = .succeeded
        fineTunedModel = model
        finishedAt = Date()
        estimatedFinish = nil
        self.trainedTokens = trainedTokens
    }
}

/// One line of a job's history: a message, or the trainer's metrics at a step (`type` "metrics", `data` a JSON
/// object).
public struct JobEvent: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job_event"

    /// Order of insertion, the table's row id (events are listed newest first).
    public var seq: Int64?
    /// `ftevent-` and 24 lowercase letters or digits.
    public var id: String
    public var jobID: String
    public var createdAt: Date
    /// info, warn or error.
    public var level: String
    public var message: String
    /// message or metrics.
    public var type: String
    public var data: String?
}

/// A checkpoint a job registered as a model (`...:ckpt-step-N`), with the metrics at its step.
public struct JobCheckpoint: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job_checkpoint"

    /// `ftckpt-` and 24 lowercase letters or digits.
    public var id: String
    public var jobID: String
    public var step: Int
    /// The checkpoint's model name (an adapter of the job's tenant).
    public var model: String
    /// A JSON object: step, train_loss, valid_loss, ...
    public var metrics: String
    public var createdAt: Date

    public init(id: String, jobID: String, step: Int, model: String, metrics: String, createdAt: Date) {
        self.id = id
        self.jobID = jobID
        self.step = step
        self.model = model
        self.metrics = metrics
        self.createdAt = createdAt
    }
}
