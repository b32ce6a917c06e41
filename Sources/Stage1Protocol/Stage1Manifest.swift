import Foundation

/// What a stage1 image's manifest annotations say about its entrypoints.
public struct Stage1Entrypoints: Sendable, Equatable {
    /// Entrypoint paths inside the stage1 rootfs (absolute, clean). `run` is always present.
    public var run: String?
    public var enter: String?
    public var gc: String?
    public var stop: String?
    /// `rkt.dev/stage1/describe`; when absent, `describe` requests go to `run`.
    public var describe: String?
    /// The JSON protocol versions the plugin speaks (`rkt.dev/stage1/protocol`); empty for a legacy
    /// stage1.
    public var protocolVersions: [String]
    /// rkt's argv interface version (`coreos.com/rkt/stage1/interface-version`): set for a legacy
    /// stage1 (missing annotation = 1), and for a protocol stage1 that also declares it.
    public var legacyInterfaceVersion: Int?

    public init(
        run: String? = nil, enter: String? = nil, gc: String? = nil, stop: String? = nil, describe: String? = nil,
        protocolVersions: [String] = [], legacyInterfaceVersion: Int? = nil
    ) {
        self.run = run
        self.enter = enter
        self.gc = gc
        self.stop = stop
        self.describe = describe
        self.protocolVersions = protocolVersions
        self.legacyInterfaceVersion = legacyInterfaceVersion
    }

    public enum Kind: Sendable, Equatable {
        /// Speaks this JSON protocol, in these versions.
        case jsonProtocol(versions: [String])
        /// A rkt 1.x stage1 driven through argv (`--net=…`, UUID last), of this interface version.
        case legacy(interfaceVersion: Int)
    }

    public var kind: Kind {
        protocolVersions.isEmpty ? .legacy(interfaceVersion: legacyInterfaceVersion ?? 1) : .jsonProtocol(versions: protocolVersions)
    }

    /// Whether this is a legacy (argv interface) stage1.
    public var isLegacy: Bool { protocolVersions.isEmpty }

    /// The entrypoint that serves `command`: `describe` falls back to `run`.
    public func entrypoint(for command: Stage1Command) -> String? {
        switch command {
        case .run: run
        case .enter: enter
        case .gc: gc
        case .stop: stop
        case .describe: describe ?? run
        }
    }

    /// The host path of the entrypoint for `command` in a pod whose stage1 rootfs is `stage1Rootfs`.
    public func hostPath(for command: Stage1Command, stage1Rootfs: String) -> String? {
        entrypoint(for: command).map { stage1Rootfs + $0 }
    }
}

/// Reading a stage1 image's annotations.
public enum Stage1Manifest {
    public static let runAnnotation = "coreos.com/rkt/stage1/run"
    public static let enterAnnotation = "coreos.com/rkt/stage1/enter"
    public static let gcAnnotation = "coreos.com/rkt/stage1/gc"
    public static let stopAnnotation = "coreos.com/rkt/stage1/stop"
    /// Optional entrypoint for `describe` (defaults to the `run` entrypoint).
    public static let describeAnnotation = "rkt.dev/stage1/describe"
    /// Comma-separated JSON protocol versions; its presence marks a protocol stage1.
    public static let protocolAnnotation = "rkt.dev/stage1/protocol"
    /// rkt's legacy argv interface version.
    public static let interfaceVersionAnnotation = "coreos.com/rkt/stage1/interface-version"

    /// Parses and validates the entrypoint annotations.
    ///
    /// - Throws: `Stage1Error` `.invalidPlugin` when `run` is missing, an entrypoint path is not
    ///   absolute, not clean or contains `..`, the protocol list is empty or malformed, or the
    ///   interface version is not a positive integer.
    public static func entrypoints(annotations: [String: String]) throws(Stage1Error) -> Stage1Entrypoints {
        var result = Stage1Entrypoints()
        let named: [(String, WritableKeyPath<Stage1Entrypoints, String?>)] = [
            (runAnnotation, \.run), (enterAnnotation, \.enter), (gcAnnotation, \.gc), (stopAnnotation, \.stop),
            (describeAnnotation, \.describe),
        ]
        for (annotation, keyPath) in named {
            guard let value = annotations[annotation] else { continue }
            try validateEntrypointPath(value, annotation: annotation)
            result[keyPath: keyPath] = value
        }
        if result.run == nil {
            throw Stage1Error(code: .invalidPlugin, msg: "the stage1 image has no \(runAnnotation) annotation")
        }
        if let list = annotations[protocolAnnotation] {
            result.protocolVersions = try parseProtocolVersions(list)
        }
        if let text = annotations[interfaceVersionAnnotation] {
            guard let version = Int(text.trimmingWhitespace(newlines: false)), version > 0 else {
                throw Stage1Error(
                    code: .invalidPlugin,
                    msg: "stage1 annotation \(interfaceVersionAnnotation) is \"\(text)\", not a positive integer")
            }
            result.legacyInterfaceVersion = version
        } else if result.protocolVersions.isEmpty {
            result.legacyInterfaceVersion = 1
        }
        return result
    }

    /// Parses the `annotations` array (`[{"name", "value"}]`) of an image manifest, then as
    /// `entrypoints(annotations:)`.
    public static func entrypoints(imageManifest data: Data) throws(Stage1Error) -> Stage1Entrypoints {
        struct Manifest: Decodable {
            var annotations: [NameValue]?
        }
        let manifest: Manifest
        do {
            manifest = try Stage1JSON.decoder().decode(Manifest.self, from: data)
        } catch {
            throw Stage1Error(code: .invalidPlugin, msg: "the stage1 image manifest cannot be parsed", details: Stage1JSON.describe(error))
        }
        var annotations: [String: String] = [:]
        for annotation in manifest.annotations ?? [] { annotations[annotation.name] = annotation.value }
        return try entrypoints(annotations: annotations)
    }

    /// Parses a `rkt.dev/stage1/protocol` value: comma-separated versions, spaces around commas
    /// allowed, duplicates dropped.
    public static func parseProtocolVersions(_ list: String) throws(Stage1Error) -> [String] {
        var versions: [String] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let version = part.trimmingWhitespace(newlines: false)
            guard Stage1Protocol.isValidVersion(version) else {
                throw Stage1Error(
                    code: .invalidPlugin,
                    msg: "stage1 annotation \(protocolAnnotation) is \"\(list)\": \"\(version)\" is not a protocol version (a positive integer)")
            }
            if !versions.contains(version) { versions.append(version) }
        }
        return versions
    }

    /// Checks that an entrypoint path is absolute and clean: starts with `/`, has no empty, `.` or
    /// `..` component and no trailing `/`, is not `/` itself, and contains no NUL.
    public static func validateEntrypointPath(_ path: String, annotation: String = "entrypoint") throws(Stage1Error) {
        func fail(_ why: String) -> Stage1Error {
            Stage1Error(code: .invalidPlugin, msg: "stage1 annotation \(annotation) is \"\(path)\": \(why)")
        }
        guard path.hasPrefix("/") else { throw fail("not an absolute path") }
        guard !path.contains("\0") else { throw fail("contains a NUL byte") }
        let components = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if components.contains("..") { throw fail("contains \"..\"") }
        guard path != "/", !components.contains(""), !components.contains(".") else {
            throw fail("not a clean path")
        }
    }
}
