import ArgumentParser
import Foundation
import TesseraServer

struct TenantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "Manage tenants and their API keys.",
        subcommands: [Create.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant; prints its API key as the last word (shown once, stored hashed).")

        @Argument(help: "Tenant name: 1-64 letters, digits, '.', '_' or '-'.")
        var name: String

        @Option(name: .long, help: "Share of the engine relative to other tenants.")
        var weight = 1.0

        @Option(name: .long, help: "Directory of the registry.")
        var dataDir = "./data"

        func run() throws {
            let registry = try runOrExit { try Registry(directory: URL(fileURLWithPath: dataDir)) }
            let (tenant, key) = try runOrExit { try registry.createTenant(name: name, weight: weight) }
            print("created tenant \(tenant.name) (weight \(tenant.weight)); API key: \(key)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")

        @Option(name: .long, help: "Directory of the registry.")
        var dataDir = "./data"

        func run() throws {
            let registry = try runOrExit { try Registry(directory: URL(fileURLWithPath: dataDir)) }
            for t in try runOrExit({ try registry.tenants() }) {
                print("\(t.name)\tweight \(t.weight)\t\(t.revoked ? "revoked" : "active")")
            }
        }
    }
}
