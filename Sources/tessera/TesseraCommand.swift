import ArgumentParser

@main
struct TesseraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Multi-tenant adapter-serving inference server.",
        subcommands: [GenerateCommand.self, ScoreCommand.self, TokenizeCommand.self, BenchCommand.self]
    )
}
