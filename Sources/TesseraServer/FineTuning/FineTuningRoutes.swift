import Foundation
import Hummingbird
import TesseraFormats

/// `/v1/fine_tuning/jobs` (OpenAI's shapes, so the official client works unchanged): create, list, retrieve,
/// cancel, events, checkpoints. Another tenant's job answers 404, as do its events and checkpoints.
struct FineTuningRoutes {
    let jobs: TrainingJobs
    let modelID: String
    var registry: Registry { jobs.registry }

    func create(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let body = try await RequestBody.collect(request, limit: 1 << 20, what: "request")
        let r = try FineTuningRequest(json: body)
        if r.model != modelID {
            guard ModelName.isValid(r.model), try registry.adapter(tenantID: tenant.id, name: r.model) != nil else {
                throw APIError(.notFound, "The model '\(r.model)' does not exist or you do not have access to it; fine-tune '\(modelID)' or one of your fine-tuned models",
                               param: "model", code: "model_not_found")
            }
        }
        let training = try file(r.trainingFile, tenant, param: "training_file")
        _ = try r.validationFile.map { try file($0, tenant, param: "validation_file") }
        guard training.purpose == "fine-tune" else { throw APIError.invalid("training_file '\(training.id)' is not a fine-tune file", param: "training_file") }
        let spec = try r.spec(examples: training.lines)
        let id = "ftjob-" + APIKey.randomID(length: 24)
        let metadata = try r.metadata.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
        let job = FineTuningJob(
            id: id, tenantID: tenant.id, model: r.model, trainingFile: training.id, validationFile: r.validationFile, suffix: r.suffix,
            seed: r.seed ?? Int.random(in: 0...2_147_483_647), metadata: metadata,
            spec: String(decoding: try JSONEncoder().encode(spec), as: UTF8.self), status: .validatingFiles, createdAt: Date(),
            resultFiles: "[]", attempts: 0)
        try registry.addJob(job)
        try registry.addEvent(jobID: id, level: "info", message: "Validating training file: \(training.id)" + (r.validationFile.map { " and validation file: \($0)" } ?? ""), type: "message", data: nil)
        let jobs = self.jobs
        Thread.detachNewThread { jobs.kick() }  // validation and start happen off the HTTP threads
        return try .json(JobObject(job, tenant: tenant))
    }

    private func file(_ id: String, _ tenant: Tenant, param: String) throws -> FileRecord {
        guard BlobStore.isValidID(id), let f = try registry.file(tenantID: tenant.id, id: id) else {
            throw APIError.invalid("\(param) '\(id)' does not exist or is not yours", param: param, code: "invalid_\(param)")
        }
        return f
    }

    func list(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let q = request.uri.queryParameters
        let limit = try FileRoutes.limit(q["limit"].map(String.init), default: 20, max: 100)
        let page = try registry.jobs(tenantID: tenant.id, after: q["after"].map(String.init), limit: limit + 1)
        return try .json(ListPage(page, limit: limit, id: \.id) { JobObject($0, tenant: tenant) })
    }

    func get(_ request: Request, _ context: ServerContext) async throws -> Response {
        let (job, tenant) = try self.job(context)
        return try .json(JobObject(job, tenant: tenant))
    }

    func cancel(_ request: Request, _ context: ServerContext) async throws -> Response {
        let (job, tenant) = try self.job(context)
        guard !job.status.isFinal else {
            throw APIError.invalid("the job has already ended (\(job.status.rawValue)) and cannot be cancelled", param: "fine_tuning_job_id")
        }
        let jobs = self.jobs
        guard let done = try await onWorkerThread({ try jobs.cancel(jobID: job.id, tenantID: tenant.id) }) else { throw Self.notFound(job.id) }
        return try .json(JobObject(done, tenant: tenant))
    }

    func events(_ request: Request, _ context: ServerContext) async throws -> Response {
        let (job, _) = try self.job(context)
        let q = request.uri.queryParameters
        let limit = try FileRoutes.limit(q["limit"].map(String.init), default: 20, max: 1000)
        let page = try registry.events(jobID: job.id, after: q["after"].map(String.init), limit: limit + 1)
        return try .json(ListPage(page, limit: limit, id: \.id, EventObject.init))
    }

    func checkpoints(_ request: Request, _ context: ServerContext) async throws -> Response {
        let (job, _) = try self.job(context)
        let q = request.uri.queryParameters
        let limit = try FileRoutes.limit(q["limit"].map(String.init), default: 10, max: 100)
        let page = try registry.checkpoints(jobID: job.id, after: q["after"].map(String.init), limit: limit + 1)
        return try .json(ListPage(page, limit: limit, id: \.id, CheckpointObject.init))
    }

    private func job(_ context: ServerContext) throws -> (FineTuningJob, Tenant) {
        let tenant = try context.requireTenant()
        let id = context.parameters.get("id") ?? ""
        guard BlobStore.isValidID(id), let job = try registry.job(tenantID: tenant.id, id: id) else { throw Self.notFound(id) }
        return (job, tenant)
    }

    static func notFound(_ id: String) -> APIError {
        APIError(.notFound, "Could not find fine tune: \(id)", param: "fine_tuning_job_id", code: "fine_tune_not_found")
    }
}
