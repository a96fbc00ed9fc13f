import Foundation

/// The fine-tuning API's objects as OpenAI writes them (nulls present, not omitted, where OpenAI sends them).
struct JobObject: Encodable {
    let job: FineTuningJob
    let tenant: Tenant

    init(_ job: FineTuningJob, tenant: Tenant) {
        self.job = job
        self.tenant = tenant
    }

    struct ErrorObject: Encodable {
        var code: String
        var message: String
        var param: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
            try c.encode(param, forKey: .param)
        }

        enum CodingKeys: String, CodingKey { case code, message, param }
    }

    enum CodingKeys: String, CodingKey {
        case id, object, model, created_at, finished_at, fine_tuned_model, organization_id, result_files, status, validation_file,
             training_file, hyperparameters, trained_tokens, error, user_provided_suffix, seed, estimated_finish, integrations,
             metadata, method, adapter
    }

    func encode(to encoder: any Encoder) throws {
        let spec = try job.trainingSpec()
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(job.id, forKey: .id)
        try c.encode("fine_tuning.job", forKey: .object)
        try c.encode(job.model, forKey: .model)
        try c.encode(Int(job.createdAt.timeIntervalSince1970), forKey: .created_at)
        try c.encode(job.finishedAt.map { Int($0.timeIntervalSince1970) }, forKey: .finished_at)
        try c.encode(job.fineTunedModel, forKey: .fine_tuned_model)
        try c.encode(tenant.name, forKey: .organization_id)
        try c.encode(job.resultFileIDs, forKey: .result_files)
        try c.encode(job.status.rawValue, forKey: .status)
        try c.encode(job.validationFile, forKey: .validation_file)
        try c.encode(job.trainingFile, forKey: .training_file)
        let hyper = Hyper(spec)
        try c.encode(hyper, forKey: .hyperparameters)
        try c.encode(job.trainedTokens, forKey: .trained_tokens)
        try c.encode(job.errorCode.map { ErrorObject(code: $0, message: job.errorMessage ?? "", param: job.errorParam) }, forKey: .error)
        try c.encode(job.suffix, forKey: .user_provided_suffix)
        try c.encode(job.seed, forKey: .seed)
        try c.encode(job.estimatedFinish.map { Int($0.timeIntervalSince1970) }, forKey: .estimated_finish)
        try c.encode([String](), forKey: .integrations)
        let metadata = job.metadata.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        try c.encode(metadata, forKey: .metadata)
        try c.encode(MethodObject(spec: spec, hyper: hyper), forKey: .method)
        try c.encode(AdapterObject(spec.adapter), forKey: .adapter)
    }

    /// Hyperparameters as numbers ("auto" already chosen from the data).
    struct Hyper: Encodable {
        var n_epochs: Int
        var batch_size: Int
        var learning_rate_multiplier: Double
        var beta: Double?
        var temperature: Double?
        var kl_coef: Double?
        var num_generations: Int?

        init(_ s: TrainingSpec) {
            n_epochs = s.nEpochs
            batch_size = s.batchSize
            learning_rate_multiplier = s.learningRateMultiplier
            beta = s.beta
            temperature = s.temperature
            kl_coef = s.klCoef
            num_generations = s.numGenerations
        }
    }

    /// `{"type": T, T: {"hyperparameters": {...}, ...the method's options}}`.
    struct MethodObject: Encodable {
        let spec: TrainingSpec
        let hyper: Hyper

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ s: String) { stringValue = s }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        struct Inner: Encodable {
            var hyperparameters: Hyper
            var teacher: String?
            var teacher_system: String?
            var distill_loss: String?
            var on_policy: Bool?
            var reward_model: String?
            var rl_algorithm: String?
            var constitution: [TrainingSpec.ConstitutionRule]?
            var stages: String?
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(spec.method, forKey: Key("type"))
            try c.encode(Inner(hyperparameters: hyper, teacher: spec.teacher, teacher_system: spec.teacherSystem, distill_loss: spec.distillLoss,
                               on_policy: spec.onPolicy, reward_model: spec.rewardModel, rl_algorithm: spec.rlAlgorithm,
                               constitution: spec.constitution, stages: spec.stages?.joined(separator: ",")), forKey: Key(spec.method))
        }
    }

    struct AdapterObject: Encodable {
        var type: String
        var rank: Int?
        var alpha: Double?
        var target_modules: [String]?
        var num_virtual_tokens: Int?

        init(_ a: AdapterSpec) {
            type = a.type
            rank = a.rank
            alpha = a.alpha
            target_modules = a.targetModules
            num_virtual_tokens = a.numVirtualTokens
        }
    }
}

struct EventObject: Encodable {
    let event: JobEvent

    init(_ event: JobEvent) { self.event = event }

    enum CodingKeys: String, CodingKey { case id, object, created_at, level, message, type, data }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(event.id, forKey: .id)
        try c.encode("fine_tuning.job.event", forKey: .object)
        try c.encode(Int(event.createdAt.timeIntervalSince1970), forKey: .created_at)
        try c.encode(event.level, forKey: .level)
        try c.encode(event.message, forKey: .message)
        try c.encode(event.type, forKey: .type)
        try c.encode(RawJSON(text: event.data ?? "{}"), forKey: .data)
    }
}

struct CheckpointObject: Encodable {
    let checkpoint: JobCheckpoint

    init(_ checkpoint: JobCheckpoint) { self.checkpoint = checkpoint }

    enum CodingKeys: String, CodingKey { case id, object, created_at, fine_tuned_model_checkpoint, step_number, metrics, fine_tuning_job_id }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checkpoint.id, forKey: .id)
        try c.encode("fine_tuning.job.checkpoint", forKey: .object)
        try c.encode(Int(checkpoint.createdAt.timeIntervalSince1970), forKey: .created_at)
        try c.encode(checkpoint.model, forKey: .fine_tuned_model_checkpoint)
        try c.encode(checkpoint.step, forKey: .step_number)
        try c.encode(RawJSON(text: checkpoint.metrics), forKey: .metrics)
        try c.encode(checkpoint.jobID, forKey: .fine_tuning_job_id)
    }
}

/// A JSON object stored as text, encoded as the object it is (numbers stay numbers).
struct RawJSON: Encodable {
    let text: String

    func encode(to encoder: any Encoder) throws {
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        var c = encoder.singleValueContainer()
        try c.encode(object.mapValues(Scalar.init))
    }

    enum Scalar: Encodable {
        case number(Double), integer(Int), string(String), bool(Bool), null

        init(_ v: Any) {
            if let n = v as? NSNumber, FineTuningRequest.isBool(n) { self = .bool(n.boolValue) }
            else if let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15, String(cString: n.objCType) != "d" { self = .integer(n.intValue) }
            else if let n = v as? NSNumber { self = .number(n.doubleValue) }
            else if let s = v as? String { self = .string(s) }
            else { self = .null }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let d): if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
            case .integer(let i): try c.encode(i)
            case .string(let s): try c.encode(s)
            case .bool(let b): try c.encode(b)
            case .null: try c.encodeNil()
            }
        }
    }
}

/// A page of a list (OpenAI's cursor pagination): the first `limit` rows of `rows`, which the registry fetched one
/// longer so `has_more` needs no count.
struct ListPage<Item: Encodable>: Encodable {
    var object = "list"
    var data: [Item]
    var has_more: Bool
    var first_id: String?
    var last_id: String?

    init<Row>(_ rows: [Row], limit: Int, id: (Row) -> String, _ item: (Row) -> Item) {
        let shown = rows.prefix(limit)
        data = shown.map(item)
        has_more = rows.count > limit
        first_id = shown.first.map(id)
        last_id = shown.last.map(id)
    }
}
