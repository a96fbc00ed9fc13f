import ArgumentParser
struct GenerateCommand: ParsableCommand { static let configuration = CommandConfiguration(commandName: "generate") }
