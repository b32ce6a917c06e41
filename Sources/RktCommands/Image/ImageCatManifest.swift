import ArgumentParser
import Foundation
import RktStore

/// `rkt image cat-manifest IMAGE`.
struct ImageCatManifest: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat-manifest", abstract: "Inspect and print the image manifest")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Option(name: .customLong("pretty-print"), help: "apply indent to format the output")
    var prettyPrint: Bool = true

    @Argument(help: "image ID or name") var image: String

    func run() throws {
        let store = try global.openStore("image")
        let info = try store.resolve(image)
        let manifest = try store.manifest(key: info.key)
        Output.print(String(decoding: try manifest.encoded(pretty: prettyPrint), as: UTF8.self) + "\n")
    }
}

/// `rkt image verify IMAGE...`: recompute the rendered tree's hash, render again on mismatch.
struct ImageVerify: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Verify one or more rendered images in the local store")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Argument(help: "image IDs or names") var images: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("verify: must provide at least one image ID or name") }
    }

    func run() throws {
        let store = try global.openStore("image")
        for image in images {
            let info = try store.resolve(image)
            switch try store.verifyTree(key: info.key) {
            case .intact(let tree): Output.print("successfully verified checksum for image: \"\(image)\" (\(tree.id))\n")
            case .repaired(let tree): Output.print("checksum mismatch for image: \"\(image)\"; rendered it again (\(tree.id))\n")
            case .rendered(let tree): Output.print("image: \"\(image)\" was not rendered; rendered it (\(tree.id))\n")
            }
        }
    }
}
