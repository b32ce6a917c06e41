import Foundation
import RktArchive

/// Media types of the OCI image spec and their Docker v2 schema 2 equivalents.
public enum OCIMediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// What we send as `Accept` for manifests: every kind we can read.
    public static let acceptedManifests = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }
    static func isManifest(_ type: String) -> Bool { type == ociManifest || type == dockerManifest }
}

/// `sha256:<64 hex>`, the only digest algorithm registries use in practice (and the one we verify).
public enum OCIDigest {
    public static func isValid(_ digest: String) -> Bool {
        guard digest.hasPrefix("sha256:") else { return false }
        let hex = digest.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    public static func hex(_ digest: String) -> String { String(digest.dropFirst(7)) }

    static func of(_ data: Data) -> String {
        var hasher = StreamingDigest(.sha256)
        hasher.update(data)
        return "sha256:" + hasher.finalizeHex()
    }
}

/// Decodes any JSON value and keeps nothing: the `{}` values of `ExposedPorts` and `Volumes`.
public struct IgnoredJSON: Codable, Sendable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode([String: String]())
    }
}

public struct OCIPlatform: Codable, Sendable, Equatable {
    public var architecture: String
    public var os: String
    public var variant: String?
}

public struct OCIDescriptor: Codable, Sendable, Equatable {
    public var mediaType: String?
    public var digest: String
    public var size: Int64
    public var platform: OCIPlatform?
    public var annotations: [String: String]?
}

/// An image manifest (OCI or Docker v2 schema 2: the same shape).
public struct OCIManifest: Codable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var config: OCIDescriptor
    public var layers: [OCIDescriptor]
}

/// An image index (OCI) or manifest list (Docker).
public struct OCIIndex: Codable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var manifests: [OCIDescriptor]
}

/// The parts of the image configuration that become the appc app.
public struct OCIImageConfig: Codable, Sendable {
    public struct Container: Codable, Sendable {
        public var User: String?
        public var ExposedPorts: [String: IgnoredJSON]?
        public var Env: [String]?
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var Volumes: [String: IgnoredJSON]?
        public var WorkingDir: String?
        public var Labels: [String: String]?
    }
    public struct RootFS: Codable, Sendable {
        public var type: String?
        public var diff_ids: [String]?
    }
    public var architecture: String?
    public var os: String?
    public var variant: String?
    public var config: Container?
    public var rootfs: RootFS?
}

/// A manifest document of unknown kind, classified by its `mediaType` field, else the HTTP
/// `Content-Type`, else its shape.
enum ManifestDocument {
    case manifest(OCIManifest)
    case index(OCIIndex)

    static func decode(_ data: Data, contentType: String?, what: String) throws(FetchError) -> ManifestDocument {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FetchError(.malformedResponse, "\(what): manifest is not a JSON object")
        }
        let declared = (object["mediaType"] as? String) ?? contentType.map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces) }
        if let declared, declared == OCIMediaType.dockerSchema1 || declared == OCIMediaType.dockerSchema1Signed || (object["schemaVersion"] as? Int) == 1 {
            throw FetchError(.malformedResponse, "\(what): Docker v2 schema 1 manifests are not supported (push the image again with a current Docker or skopeo)")
        }
        let isIndex = declared.map(OCIMediaType.isIndex) ?? (object["manifests"] != nil)
        do {
            if isIndex || (object["manifests"] != nil && object["layers"] == nil) {
                return .index(try JSONDecoder().decode(OCIIndex.self, from: data))
            }
            return .manifest(try JSONDecoder().decode(OCIManifest.self, from: data))
        } catch {
            throw FetchError(.malformedResponse, "\(what): invalid manifest: \(error)", underlying: error)
        }
    }
}

enum PlatformChoice {
    /// The host platform in OCI words.
    static var host: (os: String, architecture: String) {
        #if arch(x86_64)
        return ("linux", "amd64")
        #elseif arch(arm64)
        return ("linux", "arm64")
        #else
        return ("linux", "unknown")
        #endif
    }

    /// The index entry for the host platform (an entry without a platform counts as a match
    /// only when it is the sole entry).
    static func choose(from index: OCIIndex, what: String) throws(FetchError) -> OCIDescriptor {
        let wanted = host
        let candidates = index.manifests.filter { $0.mediaType.map(OCIMediaType.isManifest) ?? true }
        if let match = candidates.first(where: { $0.platform?.os == wanted.os && $0.platform?.architecture == wanted.architecture }) {
            return match
        }
        if candidates.count == 1, candidates[0].platform == nil { return candidates[0] }
        let offered = index.manifests.compactMap { $0.platform.map { "\($0.os)/\($0.architecture)" } }
        throw FetchError(.invalidArgument, "\(what): no image for \(wanted.os)/\(wanted.architecture) in the image index (it has: \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))")
    }
}
