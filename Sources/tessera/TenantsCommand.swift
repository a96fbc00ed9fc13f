import ArgumentParser
import Foundation
import TesseraServer

struct TenantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "Manage tenants and their API keys.",
        subcommands: [Create.self, List.self, Update.self, RotateKey.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant; prints its API key as the last word (shown once, stored hashed).")

        @Argument(help: "Tenant name: 1-64 letters, digits, '.', '_' or '-'.")
        var name: String

        @Option(name: .long, help: "Share of the engine relative to other tenants.")
        var weight = 1.0

        @OptionGroup var state: StateOptions

        func run() throws {
            let registry = try state.openRegistry()
            let (tenant, key) = try runOrExit { try registry.createTenant(name: name, weight: weight) }
            print("created tenant \(tenant.name) (weight \(tenant.weight)); API key: \(key)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")

        @OptionGroup var state: StateOptions

        func run() throws {
            let registry = try state.openRegistry()
            for t in try runOrExit({ try registry.tenants() }) {
                print("\(t.name)\tweight \(t.weight)\t\(t.revoked ? "revoked" : "active")")
            }
        }
    }

    /// What the admin API's PATCH /admin/tenants/NAME sets.
    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a tenant's weight and limits (0 clears a limit).")

        @Argument(help: "Tenant name.") var name: String
        @Option(name: .long, help: "Share of the engine relative to other tenants.") var weight: Double?
        @Option(name: .long, help: "Requests per minute.") var requestsPerMinute: Int?
        @Option(name: .long, help: "Prompt and completion tokens per minute.") var tokensPerMinute: Int?
        @Option(name: .long, help: "Requests at once.") var maxConcurrent: Int?
        @Option(name: .long, help: "Ceiling on a request's max_tokens.") var maxTokens: Int?
        @Option(name: .long, help: "Fine-tuning jobs training at once.") var maxTrainingJobs: Int?
        @OptionGroup var state: StateOptions

        func run() throws {
            let registry = try state.openRegistry()
            if let w = weight, !(w.isFinite && w > 0 && w <= 1000) { throw CLIError("--weight must be in (0, 1000]") }
            for v in [requestsPerMinute, tokensPerMinute, maxConcurrent, maxTokens, maxTrainingJobs] {
                if let v, v < 0 { throw CLIError("limits must be 0 (none) or more") }
            }
            func limit(_ v: Int?, _ old: Int?) -> Int? { v.map { $0 == 0 ? nil : $0 } ?? old }
            let updated = try runOrExit {
                try registry.updateTenant(named: name) { t in
                    t.weight = weight ?? t.weight
                    t.requestsPerMinute = limit(requestsPerMinute, t.requestsPerMinute)
                    t.tokensPerMinute = limit(tokensPerMinute, t.tokensPerMinute)
                    t.maxConcurrent = limit(maxConcurrent, t.maxConcurrent)
                    t.maxTokens = limit(maxTokens, t.maxTokens)
                    t.maxTrainingJobs = limit(maxTrainingJobs, t.maxTrainingJobs)
                }
            }
            guard let t = updated else { throw CLIError("no tenant '\(name)'") }
            func show(_ v: Int?) -> String { v.map(String.init) ?? "none" }
            print("\(t.name)\tweight \(t.weight)\trequests/min \(show(t.requestsPerMinute))\ttokens/min \(show(t.tokensPerMinute))\tconcurrent \(show(t.maxConcurrent))\tmax_tokens \(show(t.maxTokens))\ttraining jobs \(show(t.maxTrainingJobs))")
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-key", abstract: "A new API key for the tenant (the old one stops working); printed as the last word.")
        @Argument(help: "Tenant name.") var name: String
        @OptionGroup var state: StateOptions

        func run() throws {
            let registry = try state.openRegistry()
            guard let key = try runOrExit({ try registry.rotateKey(named: name) }) else { throw CLIError("no tenant '\(name)'") }
            print("new API key for \(name): \(key)")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke the tenant's key (rotate-key issues a new one).")
        @Argument(help: "Tenant name.") var name: String
        @OptionGroup var state: StateOptions

        func run() throws {
            let registry = try state.openRegistry()
            guard try runOrExit({ try registry.updateTenant(named: name) { $0.revoked = true } }) != nil else { throw CLIError("no tenant '\(name)'") }
            print("revoked \(name)")
        }
    }
}
