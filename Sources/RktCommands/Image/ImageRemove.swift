import ArgumentParser
import Foundation
import RktStore

/// `rkt image rm IMAGE...`: by ID prefix or by name (every image of that name).
struct ImageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more images with the given IDs or image names from the local store")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Argument(help: "image IDs or names")
    var images: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("rm: must provide at least one image ID or name") }
    }

    func run() throws {
        let store = try global.openStore("image")
        var removed = 0
        var failures: [String] = []
        for image in images {
            do {
                let keys: [String]
                if ImageKey.looksLikeID(image) {
                    keys = [try store.resolveKey(idPrefix: image)]
                } else {
                    keys = try store.findImages(try ImageReference.parse(image)).map(\.key)
                    if keys.isEmpty { throw StoreError(.notFound, "no image named \(image) in the store") }
                }
                for key in keys {
                    try store.remove(key: key)
                    FileHandle.standardError.write(Data("rm: successfully removed aci for image: \"\(key)\"\n".utf8))
                    removed += 1
                }
            } catch {
                failures.append("\(error)")
                FileHandle.standardError.write(Data("rm: \(error)\n".utf8))
            }
        }
        if removed > 0 { FileHandle.standardError.write(Data("rm: \(removed) image(s) successfully removed\n".utf8)) }
        if !failures.isEmpty { throw ExitCode(ExitCodes.failure) }
    }
}
