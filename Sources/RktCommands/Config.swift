import ArgumentParser
import Foundation

/// `rkt config`: the merged stage0 configuration as JSON.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Print configuration for each stage in JSON format")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Option(name: .customLong("pretty-print"), help: "apply indent to format the output")
    var prettyPrint: Bool = true

    func run() throws {
        let config = try global.loadConfiguration()
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if prettyPrint { options.insert(.prettyPrinted) }
        let data = try JSONSerialization.data(withJSONObject: config.stage0JSON(dataDir: global.resolvedDataDir(config: config)), options: options)
        Output.print(String(decoding: data, as: UTF8.self) + "\n")
    }
}

