import ArgumentParser
import Foundation
import Logging
import RktFetch
import RktStore

/// `rkt fetch IMAGE...`: get images into the store and print their IDs.
struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch image(s) and store them in the local store",
        discussion: """
            IMAGE is a file path or file:// URL, an http(s):// URL of an ACI, or an appc name found by meta \
            discovery (example.com/app:1.0, example.com/app,version=1.0,os=linux). Signatures (IMAGE.asc, or \
            --signature FILE, one per image in order) are checked against the keys added with `rkt trust` \
            unless --insecure-options=image.
            """)

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
        if signature.count > images.count { throw ValidationError("fetch: more --signature options than images") }
    }

    func run() throws {
        let store = try global.openStore("fetch")
        let logger = global.makeLogger("rkt.fetch")
        let resolver = ImageResolver(global: global, store: store, pullPolicy: pullPolicy, logger: logger, warnOnSkippedSignature: true)
        for (index, image) in images.enumerated() {
            let info = try resolver.resolve(image, signature: index < signature.count ? signature[index] : nil)
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

extension PullPolicy: ExpressibleByArgument {}

/// Turns what the user typed into a stored image, for fetch, run and prepare: local files, URLs
/// and appc names through RktFetch (signatures, caching, discovery), store IDs directly.
struct ImageResolver {
    let global: GlobalOptions
    let store: ImageStore
    let pullPolicy: PullPolicy
    let logger: Logger
    var warnOnSkippedSignature = false

    /// Set once per process: the warning is printed for the first image only.
    private static let warned = WarnOnce()

    func makeFetcher() -> ImageFetcher {
        let insecure = global.insecureOptions
        let environment = ProcessInfo.processInfo.environment
        let options = ImageFetchOptions(
            http: HTTPClientOptions(allowHTTP: insecure.contains(.http), insecureTLS: insecure.contains(.tls)),
            skipSignature: insecure.contains(.image),
            pullPolicy: pullPolicy,
            keystore: Keystore(systemConfig: global.systemConfig, localConfig: global.localConfig),
            // A test hook, as in appc's discovery library: discovery pages on a non-default port.
            discoveryPort: environment["RKT_DISCOVERY_PORT"].flatMap { Int($0) },
            trustKeysFromHTTPS: global.trustKeysFromHTTPS)
        return ImageFetcher(store: store, options: options, logger: global.makeLogger("rkt.image"))
    }

    func resolve(_ image: String, signature: String?) throws -> ImageInfo {
        let info = try resolveQuietly(image, signature: signature)
        // rkt's warning, after success only so that a failure stays a one-line error. `run` and
        // `prepare` log it at debug level: their stderr belongs to the pod.
        if global.insecureOptions.contains(.image) && Self.warned.first() {
            let logger = global.makeLogger("rkt.image")
            if warnOnSkippedSignature {
                logger.warning("image signature verification has been disabled")
            } else {
                logger.debug("image signature verification has been disabled")
            }
        }
        return info
    }

    private func resolveQuietly(_ image: String, signature: String?) throws -> ImageInfo {
        if let docker = try fetchDockerImage(image) { return docker }
        let fetcher = makeFetcher()
        switch try ImageSource.parse(image) {
        case .file(let path):
            return try fetcher.fetchFile(path, signatureFile: signature)
        case .url(let text):
            guard let url = URL(string: text) else { throw CommandError("invalid image URL \(text)") }
            return try fetcher.fetchURL(url, signature: signature.map { .file($0) })
        case .name(let name):
            if ImageKey.looksLikeID(name) { return try store.resolve(name) }
            return try fetcher.fetchName(name, signatureFile: signature)
        case .docker(let url):
            throw CommandError("image \(url): docker images are not supported yet")
        }
    }
}

final class WarnOnce: @unchecked Sendable {
    // @unchecked: a CLI process resolves images on one thread.
    private var done = false
    func first() -> Bool {
        defer { done = true }
        return !done
    }
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

extension ImageResolver {
    /// Docker and OCI images (`docker://`, `docker save` tarballs, OCI layouts): converted and
    /// stored by RktFetch's Docker support; nil when `image` is none of these.
    func fetchDockerImage(_ image: String) throws -> ImageInfo? {
        let credentials = try global.loadConfiguration().dockerAuth.compactMapValues { c in c.user.map { RegistryCredentials(user: $0, password: c.password ?? "") } }
        return try DockerImages.fetchIfDocker(image, store: store, pullPolicy: pullPolicy, allowUnsigned: global.insecureOptions.contains(.image),
                                              allowHTTP: global.insecureOptions.contains(.http),
                                              insecureTLS: global.insecureOptions.contains(.tls), credentials: credentials, logger: logger)
    }
}
