import Foundation

/// The stage1 plugin protocol: how `rkt` (stage0) hands a pod to a stage1 plugin. JSON in (a request
/// file), JSON out (stdout), JSON errors with a non-zero exit. The specification is
/// `Documentation/stage1-protocol.md`; this module is its reference implementation and imports
/// Foundation only, so a plugin written in Swift can depend on it alone.
public enum Stage1Protocol {
    /// The protocol version this library speaks best.
    public static let version = "1"
    /// Every protocol version this library can encode and decode, lowest first.
    public static let supportedVersions: [String] = ["1"]

    /// Environment variable holding the path of the request file (always set by stage0).
    public static let requestEnvironmentVariable = "RKT_STAGE1_REQUEST"
    /// Environment variable holding a file descriptor the request can also be read from (optional).
    public static let requestFDEnvironmentVariable = "RKT_STAGE1_REQUEST_FD"
    /// Environment variable holding the pod lock's file descriptor (`run` only), as in rkt.
    public static let lockFDEnvironmentVariable = "RKT_LOCK_FD"
    /// The single argument stage0 passes after the entrypoint path: `--stage1-protocol=<version>`.
    public static let argumentPrefix = "--stage1-protocol="

    /// Exit status of an exec'd entrypoint (`run`, `enter`) that fails before it starts anything,
    /// after printing the error object on stderr. rkt's own status for a failed command.
    public static let execFailureExitStatus: Int32 = 254
    /// Exit status the library uses when a child entrypoint (`gc`, `stop`, `describe`) fails. The
    /// spec only requires it to be non-zero.
    public static let childFailureExitStatus: Int32 = 1

    /// The argv stage0 passes: `[entrypoint, "--stage1-protocol=<version>"]`.
    public static func arguments(entrypoint: String, version: String = Stage1Protocol.version) -> [String] {
        [entrypoint, argumentPrefix + version]
    }

    /// The protocol version named by `--stage1-protocol=` in `arguments` (usually
    /// `CommandLine.arguments`), or nil if the program was not started with it (a legacy
    /// invocation).
    public static func requestedVersion(arguments: [String] = CommandLine.arguments) -> String? {
        for argument in arguments.dropFirst() where argument.hasPrefix(argumentPrefix) {
            return String(argument.dropFirst(argumentPrefix.count))
        }
        return nil
    }

    /// The environment stage0 adds for an entrypoint: the request path, and when given the request
    /// fd and the pod lock fd.
    public static func environment(requestPath: String, requestFD: Int32? = nil, lockFD: Int32? = nil) -> [String: String] {
        var env = [requestEnvironmentVariable: requestPath]
        if let requestFD { env[requestFDEnvironmentVariable] = String(requestFD) }
        if let lockFD { env[lockFDEnvironmentVariable] = String(lockFD) }
        return env
    }

    /// Whether `version` is well formed: a positive decimal integer without leading zeros.
    public static func isValidVersion(_ version: String) -> Bool {
        guard let first = version.utf8.first, first != UInt8(ascii: "0"), version.utf8.count <= 9 else { return false }
        return version.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    // MARK: Negotiation (stage0 side)

    /// Picks the protocol version to speak: the highest version present in both lists.
    ///
    /// - Parameters:
    ///   - requested: the versions the caller (stage0) can send, e.g. `supportedVersions`.
    ///   - supported: the versions the plugin declares (the `rkt.dev/stage1/protocol` annotation or
    ///     `DescribeResponse.protocolVersions`).
    /// - Throws: `Stage1Error` with code `.incompatibleVersion`, naming both lists, when there is
    ///   no common version. Malformed entries are ignored.
    public static func negotiate(requested: [String], supported: [String]) throws(Stage1Error) -> String {
        let mine = Set(requested.filter(isValidVersion))
        let common = supported.filter { isValidVersion($0) && mine.contains($0) }
        if let best = common.max(by: { Int($0)! < Int($1)! }) { return best }
        let theirs = supported.isEmpty ? "none" : supported.joined(separator: ", ")
        throw Stage1Error(
            code: .incompatibleVersion,
            msg: "no common stage1 protocol version: rkt speaks \(requested.joined(separator: ", ")), the stage1 speaks \(theirs)")
    }

    /// Checks that a plugin lists every feature in `requested`.
    ///
    /// - Throws: `Stage1Error` with code `.unsupported` naming each missing feature and why the
    ///   request needs it; `details` lists what the plugin offers.
    public static func negotiate(requested: [FeatureRequirement], supported: DescribeResponse) throws(Stage1Error) {
        let offered = Set(supported.features)
        var missing: [Stage1Feature] = []
        var reasons: [Stage1Feature: [String]] = [:]
        for requirement in requested where !offered.contains(requirement.feature) {
            if reasons[requirement.feature] == nil { missing.append(requirement.feature) }
            if !(reasons[requirement.feature] ?? []).contains(requirement.reason) {
                reasons[requirement.feature, default: []].append(requirement.reason)
            }
        }
        guard !missing.isEmpty else { return }
        let list = missing.map { feature in
            let why = reasons[feature, default: []].filter { !$0.isEmpty }
            return why.isEmpty ? feature.rawValue : "\(feature.rawValue) (\(why.joined(separator: "; ")))"
        }
        let offeredList = supported.features.isEmpty ? "none" : supported.features.map(\.rawValue).joined(separator: ", ")
        throw Stage1Error(
            code: .unsupported,
            msg: "stage1 \(supported.name) \(supported.version) does not support \(missing.count == 1 ? "a feature" : "features") this pod needs: \(list.joined(separator: ", "))",
            details: "the stage1 lists: \(offeredList)")
    }

    /// Checks a request against a plugin's `describe` answer: its protocol version must be one the
    /// plugin speaks (else `.incompatibleVersion`) and the plugin must list every feature in
    /// `request.requiredFeatures` plus `additional` (else `.unsupported`).
    public static func negotiate(
        requested request: Stage1Request, supported: DescribeResponse, additional: [FeatureRequirement] = []
    ) throws(Stage1Error) {
        guard supported.protocolVersions.contains(request.protocolVersion) else {
            throw Stage1Error(
                code: .incompatibleVersion,
                msg: "stage1 \(supported.name) \(supported.version) does not speak protocol version \(request.protocolVersion)",
                details: "it speaks: \(supported.protocolVersions.isEmpty ? "none" : supported.protocolVersions.joined(separator: ", "))")
        }
        try negotiate(requested: request.requiredFeatures + additional, supported: supported)
    }
}

/// A feature a request needs, and the request field that needs it (for error messages).
public struct FeatureRequirement: Sendable, Hashable, CustomStringConvertible {
    public var feature: Stage1Feature
    public var reason: String

    public init(_ feature: Stage1Feature, reason: String = "") {
        self.feature = feature
        self.reason = reason
    }

    public var description: String { reason.isEmpty ? feature.rawValue : "\(feature.rawValue) (\(reason))" }
}
