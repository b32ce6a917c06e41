import ArgumentParser
import Foundation
import RktStore

/// `rkt fetch IMAGE...`: import images into the store and print their IDs.
struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch image(s) and store them in the local store",
        discussion: "IMAGE is a file path or a file:// URL to an ACI (plain, gzip, bzip2, xz or zstd).")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Flag(help: "print the full image hash after fetching")
    var full = false

    @Option(name: .customLong("pull-policy"), help: "when to fetch an image: new, update or never (local files are always read)")
    var pullPolicy: PullPolicy = .update

    @Option(help: "local signature file to use in validating the preceding image")
    var signature: [String] = []

    @Argument(help: "images to fetch")
    var images: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("fetch: must provide at least one image") }
    }

    func run() throws {
        let store = try global.openStore("fetch")
        let logger = global.makeLogger("rkt.fetch")
        if !global.insecureOptions.contains(.image) {
            logger.warning("signature verification is not implemented yet: images are stored unverified")
        }
        for image in images {
            let source = try ImageSource.parse(image)
            guard case .file(let path) = source else {
                throw CommandError("fetching \(image): only local files and file:// URLs are supported so far")
            }
            let info = try store.importImage(path: path)
            // Rendering right away makes the first run fast (rkt renders on fetch too). A missing
            // dependency is not an error here: it may be fetched later.
            do throws(StoreError) {
                try store.renderTree(key: info.key)
            } catch {
                guard error.kind == .dependency else { throw error }
                logger.debug("not rendering yet: \(error)")
            }
            Output.print((full ? info.key : ImageKey.short(info.key, hexDigits: 32)) + "\n")
        }
    }
}

enum PullPolicy: String, ExpressibleByArgument, CaseIterable {
    case new, update, never
}

/// Where an image comes from, by the form of its name.
enum ImageSource: Equatable {
    case file(String)
    case url(String)
    case docker(String)
    case name(String)

    static func parse(_ text: String) throws -> ImageSource {
        if text.hasPrefix("file://") {
            guard let url = URL(string: text), !url.path.isEmpty else { throw CommandError("invalid file URL \(text)") }
            return .file(url.path)
        }
        if text.hasPrefix("http://") || text.hasPrefix("https://") { return .url(text) }
        if text.hasPrefix("docker://") { return .docker(text) }
        if text.hasPrefix("/") || text.hasPrefix("./") || text.hasPrefix("../") || text.hasSuffix(".aci") || FileManager.default.fileExists(atPath: text) {
            return .file(text)
        }
        return .name(text)
    }
}
