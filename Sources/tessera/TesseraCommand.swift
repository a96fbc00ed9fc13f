import ArgumentParser
import TesseraTraining

@main
struct TesseraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Multi-tenant adapter-serving inference server.",
        subcommands: [ServeCommand.self, TenantsCommand.self, AdaptersCommand.self, GenerateCommand.self, ScoreCommand.self, TokenizeCommand.self, TemplateCommand.self, BenchCommand.self, TrainCommand.self, LoadTestCommand.self]
    )

    static func main() async {
        BLASCores.restartIfUndetected()
        await main(nil)
    }
}
