import ArgumentParser
import Foundation
import RktFetch
import RktOS

/// `rkt trust [--prefix P | --root] [KEY...]`: add public keys to the local keystore
/// (`<local-config>/trustedkeys/{root.d,prefix.d/<prefix>}/<fingerprint>`).
struct Trust: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Trust a key for image verification",
        discussion: """
            KEY is a file or an https:// URL of an armored or binary OpenPGP public key. Without KEY, the \
            keys are found by appc meta discovery of the prefix (ac-discovery-pubkeys). The fingerprint is \
            shown and must be confirmed unless --skip-fingerprint-review.
            """)

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Option(help: "image name prefix the key is trusted for (example.com/app)")
    var prefix: String?

    @Flag(help: "trust the key for all images (root.d); needs an explicit key")
    var root = false

    @Flag(name: .customLong("skip-fingerprint-review"), help: "accept the key without showing its fingerprint for confirmation")
    var skipFingerprintReview = false

    @Flag(name: .customLong("insecure-allow-http"), help: "allow fetching keys and discovery pages over plain HTTP")
    var insecureAllowHTTP = false

    @Argument(help: "public key files or URLs")
    var keys: [String] = []

    func validate() throws {
        if root && prefix != nil { throw ValidationError("trust: --root and --prefix are mutually exclusive") }
        if root && keys.isEmpty { throw ValidationError("trust: --root requires a key file or URL") }
        if !root && prefix == nil { throw ValidationError("trust: --prefix required (or --root)") }
    }

    func run() throws {
        let keystore = Keystore(systemConfig: global.systemConfig, localConfig: global.localConfig)
        if let prefix { _ = try Keystore.escapedPrefix(prefix) }
        let allowHTTP = insecureAllowHTTP || global.insecureOptions.contains(.http)
        let http = HTTPClient(options: HTTPClientOptions(allowHTTP: allowHTTP, insecureTLS: global.insecureOptions.contains(.tls)),
                              logger: global.makeLogger("rkt.pubkey"))
        var locations = keys
        if locations.isEmpty, let prefix {
            let discovery = MetaDiscovery(http: http, allowHTTP: allowHTTP,
                                          port: ProcessInfo.processInfo.environment["RKT_DISCOVERY_PORT"].flatMap { Int($0) },
                                          logger: global.makeLogger("rkt.pubkey"))
            locations = try discovery.discoverPublicKeys(DiscoveryApp(name: prefix, labels: [:])).map(\.absoluteString)
            if locations.isEmpty { throw CommandError("no keys found by discovery for prefix \"\(prefix)\"") }
        }
        for location in locations {
            let data = try read(location, http: http)
            let key = try OpenPGPKey.parse(data, source: location)
            if let prefix { FileHandle.standardError.write(Data("Prefix: \"\(prefix)\"\n".utf8)) }
            FileHandle.standardError.write(Data("Key: \"\(location)\"\nGPG key fingerprint is: \(key.spacedFingerprint)\n".utf8))
            for userID in key.userIDs { FileHandle.standardError.write(Data("\t\(userID)\n".utf8)) }
            let subject = prefix.map { "for prefix \"\($0)\"" } ?? "as a root key (all images)"
            if skipFingerprintReview {
                FileHandle.standardError.write(Data("Trusting \"\(location)\" \(subject) without fingerprint review.\n".utf8))
            } else {
                FileHandle.standardError.write(Data("Are you sure you want to trust this key (yes/no)?\n".utf8))
                let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
                guard answer == "yes" || answer == "y" else {
                    throw CommandError("not trusting \"\(location)\": the fingerprint was not accepted")
                }
                FileHandle.standardError.write(Data("Trusting \"\(location)\" \(subject) after fingerprint review.\n".utf8))
            }
            let path = try keystore.store(key, prefix: prefix)
            let added = prefix.map { "Added key for prefix \"\($0)\" at \"\(path)\"\n" } ?? "Added root key at \"\(path)\"\n"
            FileHandle.standardError.write(Data(added.utf8))
        }
    }

    private func read(_ location: String, http: HTTPClient) throws -> Data {
        if location.hasPrefix("https://") || location.hasPrefix("http://") {
            guard let url = URL(string: location) else { throw CommandError("invalid key URL \(location)") }
            let (response, body) = try http.fetch(HTTPRequest(url: url), maxBodyBytes: 4 << 20)
            try response.ensureSuccess("key")
            return body
        }
        let path = location.hasPrefix("file://") ? String(location.dropFirst(7)) : location
        do { return try FileSystem.read(path) } catch { throw CommandError("reading key \(path): \(error)") }
    }
}
