import ArgumentParser
import Foundation

/// `rkt image export IMAGE OUTPUT.aci`: the stored ACI, whose bytes hash to the image ID.
struct ImageExport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export a stored image to an ACI file")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Flag(help: "overwrite output ACI")
    var overwrite = false

    @Argument(help: "image ID or name") var image: String
    @Argument(help: "output ACI file") var output: String

    func run() throws {
        let store = try global.openStore("image")
        let info = try store.resolve(image)
        try store.export(key: info.key, to: output, overwrite: overwrite)
    }
}
