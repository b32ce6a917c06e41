import Foundation
import Logging
import RktOS
import RktStore
import Stage1Protocol

/// Finds the stage1 image for a pod, in rkt's order: a `--stage1-*` flag; else the `stage1.d`
/// configuration (name and version from the store, else its location); else the default image by
/// name from the store, else the default file in the stage1 images directory, else beside the
/// `rkt` binary. The stage1 is an ACI in the same store as the apps.
public struct Stage1Locator {
    /// The stage1 used when nothing else is configured: full container isolation.
    public static let defaultName = "rkt.dev/stage1-nspawn"
    public static let defaultFileName = "stage1-nspawn.aci"

    public struct Configured: Sendable {
        public var name: String?
        public var version: String?
        public var location: String?
        public var imagesDirectory: String
        public init(name: String? = nil, version: String? = nil, location: String? = nil, imagesDirectory: String) {
            self.name = name
            self.version = version
            self.location = location
            self.imagesDirectory = imagesDirectory
        }
    }

    let store: ImageStore
    let configured: Configured
    /// The directory of the running `rkt` binary (the last place rkt looks).
    let binaryDirectory: String
    let logger: Logger

    public init(store: ImageStore, configured: Configured, binaryDirectory: String, logger: Logger) {
        self.store = store
        self.configured = configured
        self.binaryDirectory = binaryDirectory
        self.logger = logger
    }

    /// The chosen stage1 image's store key.
    public func locate(_ selection: Stage1Selection) throws(PodError) -> String {
        let given: [(String, String)] = [("--stage1-name", selection.name), ("--stage1-hash", selection.hash), ("--stage1-path", selection.path),
                                         ("--stage1-url", selection.url), ("--stage1-from-dir", selection.fromDir)].compactMap { flag, value in value.map { (flag, $0) } }
        if given.count > 1 {
            throw PodError(.invalidArgument, "flags \(given[0].0) and \(given[1].0) are mutually exclusive")
        }
        do throws(StoreError) {
            if let name = selection.name {
                guard let match = try store.findImages(try ImageReference.parse(name)).first else {
                    throw StoreError(.notFound, "stage1 image \(name) is not in the store (fetch it first, or use --stage1-path)")
                }
                return match.key
            }
            if let hash = selection.hash { return try store.resolveKey(idPrefix: hash) }
            if let path = selection.path { return try importFile(path, what: "--stage1-path") }
            if let url = selection.url { return try importURL(url) }
            if let file = selection.fromDir {
                guard FilePathCheck.isSingleComponent(file) else {
                    throw StoreError(.invalidReference, "--stage1-from-dir takes a file name inside \(configured.imagesDirectory), not a path")
                }
                return try importFile(configured.imagesDirectory + "/" + file, what: "--stage1-from-dir")
            }
            if let name = configured.name, let version = configured.version {
                if let match = try store.findImages(ImageReference(name: name, labels: ["version": version])).first { return match.key }
                if let location = configured.location { return try importLocation(location) }
                throw StoreError(.notFound, "configured stage1 \(name):\(version) is not in the store and no location is configured")
            }
            if let location = configured.location { return try importLocation(location) }
            if let stored = try store.findImages(ImageReference(name: Self.defaultName)).first { return stored.key }
            for dir in [configured.imagesDirectory, binaryDirectory] {
                let candidate = dir + "/" + Self.defaultFileName
                if FileSystem.isRegularFile(candidate) { return try importFile(candidate, what: "default stage1") }
            }
            throw StoreError(.notFound, "no stage1 image: \(Self.defaultFileName) is neither in \(configured.imagesDirectory) nor beside the rkt binary in \(binaryDirectory); build it with images/stage1-nspawn/build.sh or pass --stage1-path")
        } catch {
            throw PodError(.notFound, "stage1: \(error.message)", cause: error)
        }
    }

    private func importLocation(_ location: String) throws(StoreError) -> String {
        if location.hasPrefix("/") { return try importFile(location, what: "configured stage1 location") }
        return try importURL(location)
    }

    private func importURL(_ url: String) throws(StoreError) -> String {
        guard url.hasPrefix("file://"), let path = URL(string: url)?.path, !path.isEmpty else {
            throw StoreError(.unsupported, "stage1 URL \(url): only file:// URLs are supported so far")
        }
        return try importFile(path, what: "--stage1-url")
    }

    private func importFile(_ path: String, what: String) throws(StoreError) -> String {
        guard FileSystem.isRegularFile(path) else { throw StoreError(.notFound, "\(what) \(path) does not exist") }
        logger.debug("importing stage1", metadata: ["path": "\(path)"])
        return try store.importImage(path: path).key
    }
}

enum FilePathCheck {
    static func isSingleComponent(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".." && !name.contains("\0")
    }
}
