import ArgumentParser
import Foundation
import RktArchive
import RktOS
import RktStore

/// What `image extract` and `image render` share: the image, the output directory and its flags.
struct ImageOutputArguments: ParsableArguments {
    @Flag(name: .customLong("rootfs-only"), help: "write the rootfs only, not the manifest")
    var rootfsOnly = false

    @Flag(help: "overwrite the output directory")
    var overwrite = false

    @Argument(help: "image ID or name") var image: String
    @Argument(help: "output directory") var directory: String
}

/// `rkt image extract IMAGE DIR`: the ACI's own contents, dependencies not applied.
struct ImageExtract: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "extract", abstract: "Extract a stored image to a directory")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var output: ImageOutputArguments

    func run() throws {
        let store = try global.openStore("image")
        let info = try store.resolve(output.image)
        try OutputDirectory.fill(output.directory, overwrite: output.overwrite) { work in
            var options = ExtractOptions()
            options.rootfsOnly = output.rootfsOnly
            try ACIExtractor.extract(archivePath: store.blobPath(key: info.key), to: work, options: options)
        }
        try store.markUsed(key: info.key)
    }
}

/// `rkt image render IMAGE DIR`: the rootfs with every dependency applied.
struct ImageRender: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "render", abstract: "Render a stored image to a directory with all its dependencies")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var output: ImageOutputArguments

    func run() throws {
        let store = try global.openStore("image")
        let info = try store.resolve(output.image)
        try OutputDirectory.fill(output.directory, overwrite: output.overwrite) { work in
            try store.render(key: info.key, into: work, rootfsOnly: output.rootfsOnly)
        }
    }
}

/// Writes a directory as a whole: filled beside its final place, then renamed, so a failure
/// leaves no half-written output.
enum OutputDirectory {
    static func fill(_ directory: String, overwrite: Bool, _ body: (String) throws -> Void) throws {
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        if FileSystem.exists(target) {
            guard overwrite else { throw CommandError("output directory \(directory) already exists (use --overwrite)") }
        }
        let parent = (target as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(parent) else { throw CommandError("parent directory \(parent) does not exist") }
        let work = parent + "/.rkt-" + (target as NSString).lastPathComponent + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileSystem.makeDirectories(work, mode: 0o755)
        do {
            try body(work)
            if FileSystem.exists(target) { try FileSystem.removeTree(target) }
            try FileSystem.rename(work, to: target)
        } catch {
            try? FileSystem.removeTree(work)
            throw error
        }
    }
}
